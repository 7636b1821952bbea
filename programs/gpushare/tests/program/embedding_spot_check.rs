//! Spot-checked embedding jobs (issue 28), played against the program: an honest provider stages
//! each sample's witness in a proof buffer and is paid with one replica; each cheat — a skipped
//! layer hollowed out, other weights, one layer's wrong weights, another text's activations, a collapse
//! to one token's forward pass after a cheap cell — proves a sample
//! the program recomputes differently and is slashed for fraud, the client refunded; a cheater that
//! withholds its proofs is slashed for the miss; bad witnesses and buffer writes are refused by
//! name. On the SBPF build the runtime meters every step (the figures of `compute_budget`).
use anchor_lang::solana_program::instruction::Instruction;
use gpushare::errors::GpuShareError;
use gpushare::events::{ReplicaProven, SpotCheckFailed};
use gpushare::state::*;
use gpushare_client::ix as client_ix;
use gpushare_client::pda;
use gpushare_core::embedding::check::cheats::{
    TamperedAccumulators, collapsed_after_first_attention,
};
use gpushare_core::embedding::check::prover::{Prover, SequenceTrace, shard_output};
use gpushare_core::embedding::check::{
    CheckContext, CheckError, Operation, Sample, Verdict, check_sample,
};
use gpushare_core::embedding::check::{EMBEDDING_SAMPLES, MAX_CHECKED_TOKENS};
use gpushare_core::embedding::forward::{SequenceRun, run_sequence, run_sequence_with};
use gpushare_core::embedding::layout::TokenBatch;
use gpushare_core::embedding::model::{LinearKind, Model, Shape, seeded_model};
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::harness::*;

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;
/// Witness bytes per write, as the worker sends them.
const WRITE_BYTES: usize = 800;

const SMALL: Shape = Shape::TWO_LAYERS;

/// A spot-checked embedding job of `batch` through `model`, one shard and one replica.
fn embedding_job(
    env: &mut Env,
    client: &Wallet,
    model: &Model,
    batch: &TokenBatch,
    samples: u8,
) -> JobHandle {
    let id = env.next_job_id();
    let mut args = seeded_job(id, 1, 1, 2, PRICE, env.now() + 86_400);
    args.kernel = KernelSpec::Embedding {
        model: model.identity(),
        batch: batch.tree().root(),
        dims: model.shape.hidden,
        sequences: batch.len() as u32,
        tokens: batch.tokens() as u32,
    };
    args.input = JobInput::Data {
        uri: "https://example.org/batch".into(),
        sha256: gpushare_core::sha256(&[&batch.to_bytes()]),
    };
    args.mode = VerificationMode::SpotCheck { samples };
    env.job_with(client, args)
}

/// A provider's committed shard: its output and every sequence's trace, computed by `run`.
struct Committed {
    output: Vec<u8>,
    traces: Vec<SequenceTrace>,
}

impl Committed {
    fn new(
        model: &Model,
        batch: &TokenBatch,
        job: &JobHandle,
        run: impl Fn(&[u32]) -> SequenceRun,
    ) -> Self {
        let (output, traces) = shard_output(
            model,
            batch,
            0..batch.len() as u32,
            &job.job.to_bytes(),
            |ids| Ok(run(ids)),
        )
        .unwrap();
        Self { output, traces }
    }
}

/// Claims, commits to the shard root, waits and reveals; returns the challenge.
fn commit_and_reveal(
    env: &mut Env,
    p: &ProviderHandle,
    job: &JobHandle,
    root: [u8; 32],
) -> [u8; 32] {
    env.claim(p, job, 0, 0);
    env.commit(p, job, 0, 0, root);
    env.warp(2);
    env.reveal(p, job, 0, 0, root);
    let assignment: Assignment = env.fetch(&assignment_address(&shard_address(&job.job, 0), 0));
    assignment.challenge.expect("challenge fixed at reveal")
}

/// Stages `witness` in sample `sample`'s buffer (opened with the first piece), as the worker does.
fn stage(env: &mut Env, p: &ProviderHandle, job: &JobHandle, sample: u8, witness: &[u8]) {
    let (authority, slot) = (p.wallet.pubkey(), slot(job, 0, 0));
    for (i, piece) in witness.chunks(WRITE_BYTES).enumerate() {
        let write = client_ix::write_proof_buffer(
            &authority,
            &slot,
            sample,
            (i * WRITE_BYTES) as u32,
            piece.to_vec(),
        );
        let ixs = match i {
            0 => vec![
                client_ix::open_proof_buffer(&authority, &slot, sample),
                write,
            ],
            _ => vec![write],
        };
        env.send(&ixs, &[&p.wallet.key])
            .expect("stage a witness piece");
    }
}

fn prove_ix(p: &ProviderHandle, job: &JobHandle, sample: u8) -> Instruction {
    client_ix::prove_embedding(&p.wallet.pubkey(), &slot(job, 0, 0), sample)
}

/// What the check makes of a witness.
type Checked = Result<Verdict, CheckError>;

/// A job's shard, committed by a provider who ran each sequence as `run`, with the check's context.
struct World {
    env: Env,
    client: Wallet,
    p: ProviderHandle,
    job: JobHandle,
    batch: TokenBatch,
    committed: Committed,
    challenge: [u8; 32],
}

impl World {
    fn new(
        model: &Model,
        batch: TokenBatch,
        samples: u8,
        salt: u8,
        run: impl Fn(&[u32]) -> SequenceRun,
    ) -> Self {
        let mut env = Env::new();
        env.slot_salt = [salt; 32];
        let client = env.wallet(WALLET_TOKENS);
        let p = env.provider(STAKE);
        let job = embedding_job(&mut env, &client, model, &batch, samples);
        let committed = Committed::new(model, &batch, &job, run);
        let root = Prover::new(model, &batch, &committed.output).roots()[2];
        let challenge = commit_and_reveal(&mut env, &p, &job, root);
        Self {
            env,
            client,
            p,
            job,
            batch,
            committed,
            challenge,
        }
    }

    /// Stages `witness` for `sample` and sends its proof.
    fn prove(&mut self, sample: u8, witness: &[u8]) -> Result<(), Refusal> {
        let (p, job) = (&self.p, self.job);
        stage(&mut self.env, p, &job, sample, witness);
        let prove = prove_ix(p, &job, sample);
        self.env.send(&[prove], &[&p.wallet.key])
    }

    /// Closes the shard and, a day later, the job: the client takes back what was not paid.
    fn close(&mut self) {
        let (job, client) = (self.job, &self.client);
        self.env.close_shard(client, &job, 0);
        self.env.warp(86_400);
        self.env.close_job(client, &job);
    }

    /// The witness of `sample` against the job's model `model`, and what the check makes of it.
    fn witness(&self, model: &Model, sample: u8) -> (Vec<u8>, Checked, Sample) {
        self.witnesses(model, sample..sample + 1).remove(0)
    }

    /// [`World::witness`] of each of `samples`, from one prover.
    fn witnesses(
        &self,
        model: &Model,
        samples: std::ops::Range<u8>,
    ) -> Vec<(Vec<u8>, Checked, Sample)> {
        let prover = Prover::new(model, &self.batch, &self.committed.output);
        let [identity, batch, root] = prover.roots();
        let job = self.job.job.to_bytes();
        let context = CheckContext {
            job: &job,
            model: &identity,
            batch: &batch,
            batch_sequences: self.batch.len() as u32,
            batch_tokens: self.batch.tokens() as u32,
            dims: model.shape.hidden,
            shard_sequences: 0..self.batch.len() as u32,
            shard_root: &root,
            challenge: &self.challenge,
        };
        samples
            .map(|sample| {
                let drawn = prover.sample(&context, sample);
                let witness = prover
                    .witness(
                        &context,
                        sample,
                        &self.committed.traces[drawn.sequence as usize],
                    )
                    .unwrap();
                let verdict = check_sample(&context, sample, &witness);
                (witness, verdict, drawn)
            })
            .collect()
    }
}

fn honest(model: &Model) -> impl Fn(&[u32]) -> SequenceRun + '_ {
    move |ids| run_sequence(model, ids).unwrap()
}

/// Three sequences of `lengths` tokens, ids drawn below `vocab`.
fn batch_of(lengths: &[usize], vocab: u32) -> TokenBatch {
    let mut draw = gpushare_core::rng::SplitMix64::new(28);
    TokenBatch::new(
        &lengths
            .iter()
            .map(|n| {
                (0..*n)
                    .map(|_| (draw.next_u64() % u64::from(vocab)) as u32)
                    .collect()
            })
            .collect::<Vec<Vec<u32>>>(),
    )
}

#[test]
fn an_honest_provider_is_paid_with_one_replica_at_all_minilm_l6_v2s_shape() {
    let model = seeded_model(Shape::MINILM_L6, 28);
    let batch = batch_of(&[7, 64, 20], model.shape.vocab);
    let mut world = World::new(&model, batch, EMBEDDING_SAMPLES, 1, honest(&model));
    let rent_before = world.env.lamports(&world.p.wallet.pubkey());
    for (sample, (witness, verdict, _)) in (0..).zip(world.witnesses(&model, 0..EMBEDDING_SAMPLES))
    {
        assert_eq!(verdict, Ok(Verdict::Matches));
        world
            .prove(sample, &witness)
            .expect("prove an honest sample");
        let buffer = pda::proof_buffer(&slot(&world.job, 0, 0).assignment(), sample);
        assert!(
            !world.env.exists(&buffer),
            "the buffer is closed by its proof"
        );
    }
    assert_eq!(world.env.events::<ReplicaProven>().len(), 1);
    // Every buffer's rent came back; the provider paid only fees.
    assert!(world.env.lamports(&world.p.wallet.pubkey()) + 5_000 * 2_500 >= rent_before);
    let (job, p) = (world.job, &world.p);
    world.env.settle_shard(&job, 0);
    world.env.settle_assignment(p, &job, 0, 0);
    assert_eq!(
        world.env.balance(&p.wallet.token),
        WALLET_TOKENS - STAKE + PRICE
    );
    let state: Provider = world.env.fetch(&p.provider);
    assert_eq!((state.completed, state.failed, state.slashed), (1, 0, 0));
}

#[test]
fn the_heaviest_cells_prove_within_their_figure_and_the_default_heap() {
    // Attention over the longest sequence a check allows (at layer 0, whose favourite's row is
    // re-derived from the model, and at a later layer), the FFN output (GELU over the 1,536-wide
    // row) and the last output LayerNorm (its sum's steering column through that GELU, and the
    // output's pieces): the most compute units and heap a sample takes (the meter's table). The
    // last LayerNorm is drawn 0.12 % of the time: up to 256 challenges are played to find it.
    let model = seeded_model(Shape::MINILM_L6, 28);
    let batch = batch_of(&[7, MAX_CHECKED_TOKENS as usize, 20], model.shape.vocab);
    let last = model.shape.layers - 1;
    let heaviest = |drawn: &Sample| {
        (drawn.operation == Operation::Attention && drawn.sequence == 1)
            || drawn.operation == Operation::Linear(LinearKind::Output)
            || (drawn.operation == Operation::OutputNorm && drawn.layer == last)
    };
    // The attention cell at layer 0 (its favourite's row re-derived from the model) and at a later
    // layer (from the previous output sum) are told apart.
    let kind = |drawn: &Sample| {
        (
            drawn.operation,
            drawn.operation == Operation::Attention && drawn.layer == 0,
        )
    };
    let mut proven = Vec::new();
    for salt in 0..=u8::MAX {
        let mut world = World::new(
            &model,
            batch.clone(),
            EMBEDDING_SAMPLES,
            salt,
            honest(&model),
        );
        for (sample, (witness, verdict, drawn)) in
            (0..).zip(world.witnesses(&model, 0..EMBEDDING_SAMPLES))
        {
            if !heaviest(&drawn) || proven.contains(&kind(&drawn)) {
                continue;
            }
            assert_eq!(verdict, Ok(Verdict::Matches));
            world
                .prove(sample, &witness)
                .expect("the heaviest cells prove within the figure");
            proven.push(kind(&drawn));
        }
        if proven.len() == 4 {
            return;
        }
    }
    panic!("the challenges drew {proven:?} only");
}

/// Plays a cheating provider that proves its samples in order until the program finds one
/// wrong: it is slashed the fraud share, and the client gets its escrow back. A challenge whose 64
/// samples all miss the cheat (as they may, with the chance docs/verification.md gives) is not
/// played: the next one is, up to eight.
fn cheat_is_slashed_for_fraud(name: &str, run: impl Fn(&Model, &[u32]) -> SequenceRun) {
    let model = seeded_model(SMALL, 28);
    // Four sequences of eight tokens, no id repeated between them: a copy is wrong at every token.
    let batch = TokenBatch::new(
        &(0..4u32)
            .map(|s| (0..8u32).map(|t| (s * 8 + t) % SMALL.vocab).collect())
            .collect::<Vec<Vec<u32>>>(),
    );
    let caught = (7..15).find_map(|salt| {
        let world = World::new(&model, batch.clone(), EMBEDDING_SAMPLES, salt, |ids| {
            run(&model, ids)
        });
        let witnesses = world.witnesses(&model, 0..EMBEDDING_SAMPLES);
        let first_wrong = witnesses
            .iter()
            .position(|(_, verdict, _)| *verdict == Ok(Verdict::Differs))?;
        Some((world, witnesses, first_wrong))
    });
    let (mut world, witnesses, first_wrong) =
        caught.unwrap_or_else(|| panic!("{name}: no challenge caught it"));
    for (sample, (witness, _, _)) in (0..).zip(&witnesses[..=first_wrong]) {
        world.prove(sample, witness).expect("a valid witness lands");
    }
    let (sample, operation) = (first_wrong as u8, witnesses[first_wrong].2.operation);
    let failed = world.env.events::<SpotCheckFailed>();
    assert_eq!(failed.len(), 1, "{name}");
    assert_eq!(failed[0].sample, sample, "{name}: caught at {operation:?}");
    let (job, p) = (world.job, &world.p);
    world.env.settle_shard(&job, 0);
    world.env.settle_assignment(p, &job, 0, 0);
    let state: Provider = world.env.fetch(&p.provider);
    assert_eq!((state.completed, state.failed), (0, 1), "{name}");
    assert_eq!(
        state.slashed,
        claim_slash(default_params().fraud_slash_bps),
        "{name}"
    );
    assert_eq!(
        world.env.balance(&p.wallet.token),
        WALLET_TOKENS - STAKE,
        "{name}: unpaid"
    );
    world.close();
    assert!(
        world.env.balance(&world.client.token) >= WALLET_TOKENS,
        "{name}: the client is refunded its escrow"
    );
}

#[test]
fn a_hollowed_layer_is_slashed_for_fraud() {
    cheat_is_slashed_for_fraud("hollowed layer", |model, ids| {
        run_sequence_with(&TamperedAccumulators::hollow_layer(1), model, ids).unwrap()
    });
}

#[test]
fn other_weights_are_slashed_for_fraud() {
    let other = seeded_model(SMALL, 29);
    cheat_is_slashed_for_fraud("other weights", |_, ids| run_sequence(&other, ids).unwrap());
}

#[test]
fn one_layer_with_wrong_weights_is_slashed_for_fraud() {
    let mut wrong = seeded_model(SMALL, 28);
    wrong.layers[0] = seeded_model(SMALL, 30).layers[0].clone();
    cheat_is_slashed_for_fraud("one wrong layer", |_, ids| {
        run_sequence(&wrong, ids).unwrap()
    });
}

#[test]
fn another_texts_activations_are_slashed_for_fraud() {
    cheat_is_slashed_for_fraud("copied activations", |model, ids| {
        // Every sequence embedded as if it were the first one: one forward pass for the batch.
        let first: Vec<u32> = (0..ids.len() as u32).collect();
        run_sequence(model, &first).unwrap()
    });
}

#[test]
fn a_collapse_after_one_cheap_cell_is_slashed_for_fraud() {
    cheat_is_slashed_for_fraud("collapse after layer 0's attention", |model, ids| {
        collapsed_after_first_attention(model, ids).unwrap()
    });
}

#[test]
fn a_model_the_draw_cannot_price_proves_nothing() {
    // Deeper than the shape the checks are measured at: an honest worker refuses the job, and a
    // provider that claims it anyway can prove no sample, so it misses.
    let deep = seeded_model(Shape { layers: 7, ..SMALL }, 28);
    let batch = batch_of(&[5, 3], SMALL.vocab);
    let mut world = World::new(&deep, batch, EMBEDDING_SAMPLES, 5, honest(&deep));
    let (witness, verdict, _) = world.witness(&deep, 0);
    assert_eq!(verdict, Err(CheckError::ShapeNotCheckable));
    let (p, job) = (&world.p, world.job);
    stage(&mut world.env, p, &job, 0, &witness);
    let prove = prove_ix(p, &job, 0);
    world.env.assert_refused(
        &[prove],
        &[&p.wallet.key],
        code(GpuShareError::ModelNotCheckable),
    );
}

#[test]
fn a_cheater_withholding_its_proofs_is_slashed_for_the_miss_and_the_client_refunded() {
    let model = seeded_model(SMALL, 28);
    let batch = batch_of(&[5, 9], SMALL.vocab);
    let mut world = World::new(&model, batch, EMBEDDING_SAMPLES, 3, |ids| {
        run_sequence_with(&TamperedAccumulators::hollow_layer(0), &model, ids).unwrap()
    });
    // It stages one sample and stops there (a worker that crashed mid-proof looks the same).
    let (witness, _, _) = world.witness(&model, 0);
    let (job, p) = (world.job, &world.p);
    stage(&mut world.env, p, &job, 0, &witness);
    world.env.warp(default_params().reveal_window + 1);
    world.env.settle_shard(&job, 0);
    world.env.expire(p, &job, 0, 0);
    let state: Provider = world.env.fetch(&p.provider);
    assert_eq!(state.missed, 1);
    assert_eq!(state.slashed, claim_slash(default_params().miss_slash_bps));
    // The buffer outlives its assignment, and its provider alone still closes it, rent back.
    let assignment = slot(&job, 0, 0).assignment();
    let buffer = pda::proof_buffer(&assignment, 0);
    assert!(!world.env.exists(&assignment) && world.env.exists(&buffer));
    let before = world.env.lamports(&p.wallet.pubkey());
    let rent = world.env.lamports(&buffer);
    let close = client_ix::close_proof_buffer(&p.wallet.pubkey(), &assignment, 0);
    world
        .env
        .send(&[close], &[&p.wallet.key])
        .expect("close an abandoned buffer");
    assert!(!world.env.exists(&buffer));
    let after = world.env.lamports(&p.wallet.pubkey());
    assert!(
        after + 5_000 >= before + rent,
        "the rent came back, less a fee at most"
    );
    world.close();
    assert!(world.env.balance(&world.client.token) >= WALLET_TOKENS);
}

#[test]
fn bad_witnesses_and_buffer_writes_are_refused_by_name_and_change_nothing() {
    let model = seeded_model(SMALL, 28);
    let batch = batch_of(&[6, 4], SMALL.vocab);
    let mut world = World::new(&model, batch, EMBEDDING_SAMPLES, 5, honest(&model));
    // Sample 0's witness, and the first other sample drawn at another cell: two samples can
    // land on one cell (the draws are random each run), and then one witness proves both.
    let mut witnesses = world.witnesses(&model, 0..EMBEDDING_SAMPLES);
    let (witness, _, first) = witnesses.remove(0);
    let other = 1 + witnesses
        .iter()
        .position(|(_, _, drawn)| drawn != &first)
        .expect("64 samples land on more than one cell") as u8;
    let (p, job) = (&world.p, world.job);
    let slot = slot(&job, 0, 0);
    let authority = p.wallet.pubkey();
    // A write too far ahead, and a stranger writing into the provider's buffer.
    let open = client_ix::open_proof_buffer(&authority, &slot, 0);
    world.env.send(&[open], &[&p.wallet.key]).expect("open");
    // Pieces land in any order, but a buffer grows at most 10 KiB a write.
    let ahead = client_ix::write_proof_buffer(&authority, &slot, 0, 8_000, vec![1; 8]);
    world
        .env
        .send(&[ahead], &[&p.wallet.key])
        .expect("a piece ahead of the others");
    let skipping_ahead =
        client_ix::write_proof_buffer(&authority, &slot, 0, 8_008 + 10_240, vec![1; 8]);
    world.env.assert_refused(
        &[skipping_ahead],
        &[&p.wallet.key],
        code(GpuShareError::ProofBufferOffset),
    );
    let stranger = Keypair::new();
    world
        .env
        .svm
        .airdrop(&stranger.pubkey(), 1_000_000_000)
        .unwrap();
    let foreign = client_ix::write_proof_buffer(&stranger.pubkey(), &slot, 0, 0, vec![1; 8]);
    world.env.assert_refused(
        &[foreign],
        &[&stranger],
        code(GpuShareError::NotProviderAuthority),
    );
    let close = client_ix::close_proof_buffer(&authority, &slot.assignment(), 0);
    world.env.send(&[close], &[&p.wallet.key]).expect("close");
    // A flipped byte in a leaf, a truncated witness, and another sample's witness.
    let mut tampered = witness.clone();
    let last = tampered.len() - 40;
    tampered[last] ^= 1;
    for (bad, expected) in [
        (tampered, GpuShareError::InvalidMerkleProof),
        (
            witness[..witness.len() - 1].to_vec(),
            GpuShareError::MalformedWitness,
        ),
    ] {
        stage(&mut world.env, p, &job, 0, &bad);
        let prove = prove_ix(p, &job, 0);
        world
            .env
            .assert_refused(&[prove], &[&p.wallet.key], code(expected));
        let close = client_ix::close_proof_buffer(&authority, &slot.assignment(), 0);
        world.env.send(&[close], &[&p.wallet.key]).expect("close");
    }
    assert!(
        world.prove(other, &witness).is_err(),
        "sample 0's witness proves nothing of a sample drawn elsewhere"
    );
    // The honest witness still proves its sample.
    world.prove(0, &witness).expect("the honest witness");
}

#[test]
fn an_embedding_spot_check_the_program_cannot_run_is_refused_at_create_job() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let model = seeded_model(SMALL, 28);
    let batch = batch_of(&[4], SMALL.vocab);
    let valid = |env: &mut Env| {
        let id = env.next_job_id();
        let mut args = seeded_job(id, 1, 1, 2, PRICE, env.now() + 86_400);
        args.kernel = KernelSpec::Embedding {
            model: model.identity(),
            batch: batch.tree().root(),
            dims: 32,
            sequences: 1,
            tokens: 4,
        };
        args.input = JobInput::Data {
            uri: "https://example.org/batch".into(),
            sha256: [0; 32],
        };
        args.mode = VerificationMode::SpotCheck {
            samples: EMBEDDING_SAMPLES,
        };
        args
    };
    let refusals: Vec<JobArgsMutation> = vec![
        Box::new(|args| args.mode = VerificationMode::SpotCheck { samples: 63 }),
        Box::new(|args| args.mode = VerificationMode::SpotCheck { samples: 16 }),
        Box::new(|args| {
            if let KernelSpec::Embedding { dims, .. } = &mut args.kernel {
                *dims = 40;
            }
        }),
    ];
    for refuse in refusals {
        let mut args = valid(&mut env);
        refuse(&mut args);
        let create = env.create_job_ix(&client, args);
        env.assert_refused(
            &[create],
            &[&client.key],
            code(GpuShareError::EmbeddingSpotCheckRefused),
        );
    }
    let args = valid(&mut env);
    env.job_with(&client, args);
}
