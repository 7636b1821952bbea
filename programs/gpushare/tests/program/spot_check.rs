//! Spot-checked jobs: honest seeded work passes for each kernel, a faked leaf is caught when
//! sampled, and every bad proof is refused by name with state unchanged.
use gpushare::errors::GpuShareError;
use gpushare::events::{ReplicaProven, SpotCheckFailed};
use gpushare::instructions::SampleProof;
use gpushare::state::*;
use gpushare_core::kernels::Kernel;
use gpushare_core::spot_check::sample_index;

use crate::harness::*;
use crate::outputs::Output;

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;
const SEED: [u8; 32] = [3; 32];

/// The honest output of `shard` of `job`, with leaves `faked` altered.
fn output(kernel: Kernel, job: &JobHandle, shards: u32, shard: u32, faked: &[u64]) -> Output {
    let mut leaves = Output::honest(kernel, &SEED, job, shards, shard).leaves;
    for &leaf in faked {
        leaves[leaf as usize][0] ^= 0x01;
    }
    Output::new(leaves)
}

fn spot_job(
    env: &mut Env,
    client: &Wallet,
    kernel: KernelSpec,
    shards: u16,
    samples: u8,
) -> JobHandle {
    let id = env.next_job_id();
    let mut args = seeded_job(id, shards, 1, 2, PRICE, env.now() + 86_400);
    args.kernel = kernel;
    args.input = JobInput::Seed(SEED);
    args.mode = VerificationMode::SpotCheck { samples };
    env.job_with(client, args)
}

/// Claims, commits to `output`'s root, waits a slot and reveals; returns the challenge.
fn commit_and_reveal(
    env: &mut Env,
    p: &ProviderHandle,
    job: &JobHandle,
    shard: u16,
    output: &Output,
) -> [u8; 32] {
    env.claim(p, job, shard, 0);
    env.commit(p, job, shard, 0, output.tree.root());
    env.warp(2);
    env.reveal(p, job, shard, 0, output.tree.root());
    let assignment: Assignment = env.fetch(&assignment_address(&shard_address(&job.job, shard), 0));
    assignment.challenge.expect("challenge fixed at reveal")
}

#[test]
fn honest_seeded_work_passes_for_each_kernel_across_several_transactions() {
    let kernels = [
        Kernel::GemmI8 {
            m: 40,
            n: 24,
            k: 64,
        },
        Kernel::Sha256Chain {
            steps: 640,
            leaf_every: 32,
        },
        Kernel::MonteCarlo {
            blocks: 96,
            samples_per_block: 1 << 12,
        },
    ];
    for kernel in kernels {
        let mut env = Env::new();
        let client = env.wallet(WALLET_TOKENS);
        let p = env.provider(STAKE);
        let samples = 6;
        let job = spot_job(&mut env, &client, KernelSpec::from_core(kernel), 2, samples);
        let out = output(kernel, &job, 2, 1, &[]);
        let challenge = commit_and_reveal(&mut env, &p, &job, 1, &out);
        let proofs: Vec<SampleProof> = (0..samples)
            .map(|s| out.proof(kernel, &challenge, s))
            .collect();
        for half in proofs.chunks(3) {
            let ix = env.prove_ix(&p, &job, 1, 0, half.to_vec());
            env.send(&[ix], &[&p.wallet.key]).expect("prove");
        }
        assert_eq!(env.events::<ReplicaProven>().len(), 1, "{kernel:?}");
        env.settle_shard(&job, 1);
        env.settle_assignment(&p, &job, 1, 0);
        assert_eq!(
            env.balance(&p.wallet.token),
            WALLET_TOKENS - STAKE + PRICE,
            "{kernel:?}"
        );
        env.close_shard(&client, &job, 1);
        env.warp(86_400);
        env.close_job(&client, &job);
    }
}

#[test]
fn a_faked_leaf_is_caught_whenever_it_is_sampled() {
    let kernel = Kernel::GemmI8 { m: 4, n: 8, k: 16 };
    let (samples, faked) = (3u8, 2u64);
    let mut caught = 0;
    let mut passed = 0;
    for trial in 0..12u8 {
        let mut env = Env::new();
        env.slot_salt = [trial; 32];
        let client = env.wallet(WALLET_TOKENS);
        let p = env.provider(STAKE);
        let job = spot_job(&mut env, &client, KernelSpec::from_core(kernel), 1, samples);
        let honest = output(kernel, &job, 1, 0, &[]);
        let fake = output(kernel, &job, 1, 0, &[faked]);
        let challenge = commit_and_reveal(&mut env, &p, &job, 0, &fake);
        let leaves = fake.tree.size();
        let sampled = (0..samples).any(|s| sample_index(&challenge, s, leaves) == faked);
        if sampled {
            let hit = (0..samples)
                .find(|s| sample_index(&challenge, *s, leaves) == faked)
                .unwrap_or_default();
            // The true leaf does not hash into the faked tree...
            let mut honest_claim = fake.proof(kernel, &challenge, hit);
            honest_claim.witness.leaf = honest.leaves[faked as usize].clone();
            let ix = env.prove_ix(&p, &job, 0, 0, vec![honest_claim]);
            env.assert_refused(
                &[ix],
                &[&p.wallet.key],
                code(GpuShareError::InvalidMerkleProof),
            );
            // ...and the faked leaf that does is fraud.
            let ix = env.prove_ix(&p, &job, 0, 0, vec![fake.proof(kernel, &challenge, hit)]);
            env.send(&[ix], &[&p.wallet.key])
                .expect("a proof of the faked leaf lands as evidence");
            assert_eq!(env.events::<SpotCheckFailed>().len(), 1);
            env.settle_shard(&job, 0);
            env.settle_assignment(&p, &job, 0, 0);
            let state: Provider = env.fetch(&p.provider);
            assert_eq!((state.failed, state.completed), (1, 0));
            assert_eq!(
                state.slashed,
                claim_slash(default_params().fraud_slash_bps)
            );
            caught += 1;
        } else {
            let proofs = (0..samples)
                .map(|s| fake.proof(kernel, &challenge, s))
                .collect();
            let ix = env.prove_ix(&p, &job, 0, 0, proofs);
            env.send(&[ix], &[&p.wallet.key])
                .expect("unsampled fake passes this check");
            passed += 1;
        }
    }
    assert!(
        caught > 0 && passed > 0,
        "both outcomes occur: caught {caught}, passed {passed}"
    );
}

#[test]
fn a_withheld_proof_is_missed_after_the_window() {
    let kernel = Kernel::MonteCarlo {
        blocks: 256,
        samples_per_block: 1 << 12,
    };
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let job = spot_job(&mut env, &client, KernelSpec::from_core(kernel), 1, 4);
    let out = output(kernel, &job, 1, 0, &[]);
    commit_and_reveal(&mut env, &p, &job, 0, &out);
    let settle = env.settle_shard_ix(&job, 0);
    env.assert_refused(&[settle], &[], code(GpuShareError::SettleTooEarly));
    env.warp(default_params().reveal_window + 1);
    env.settle_shard(&job, 0);
    env.expire(&p, &job, 0, 0);
    assert_eq!(env.fetch::<Provider>(&p.provider).missed, 1);
}

#[test]
fn bad_proofs_are_refused_by_name_and_change_nothing() {
    let kernel = Kernel::Sha256Chain {
        steps: 320,
        leaf_every: 16,
    };
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let samples = 4;
    let job = spot_job(&mut env, &client, KernelSpec::from_core(kernel), 1, samples);
    let out = output(kernel, &job, 1, 0, &[]);

    env.claim(&p, &job, 0, 0);
    env.commit(&p, &job, 0, 0, out.tree.root());
    let early = env.prove_ix(&p, &job, 0, 0, vec![out.proof(kernel, &[0; 32], 0)]);
    env.assert_refused(
        &[early],
        &[&p.wallet.key],
        code(GpuShareError::NotChallenged),
    );
    let same_slot = env.reveal_ix(&p, &job, 0, 0, out.tree.root(), p.salt);
    let not_ready = code(GpuShareError::ChallengeNotReady);
    env.assert_refused(&[same_slot.clone()], &[&p.wallet.key], not_ready);
    env.warp(1);
    env.assert_refused(&[same_slot], &[&p.wallet.key], not_ready);
    env.warp(1);
    env.reveal(&p, &job, 0, 0, out.tree.root());
    let challenge = env
        .fetch::<Assignment>(&assignment_address(&shard_address(&job.job, 0), 0))
        .challenge
        .unwrap();

    let outside = SampleProof {
        sample: samples,
        ..out.proof(kernel, &challenge, 0)
    };
    let ix = env.prove_ix(&p, &job, 0, 0, vec![outside]);
    env.assert_refused(&[ix], &[&p.wallet.key], code(GpuShareError::InvalidSample));

    let mut bad_path = out.proof(kernel, &challenge, 0);
    bad_path.witness.path[0][0] ^= 1;
    let ix = env.prove_ix(&p, &job, 0, 0, vec![bad_path]);
    env.assert_refused(
        &[ix],
        &[&p.wallet.key],
        code(GpuShareError::InvalidMerkleProof),
    );

    let index = sample_index(&challenge, 0, out.tree.size());
    let mut wrong_index = out.proof(kernel, &challenge, 0);
    let other = (index + 1) % out.tree.size();
    wrong_index.witness = out.witness(other);
    let ix = env.prove_ix(&p, &job, 0, 0, vec![wrong_index]);
    env.assert_refused(
        &[ix],
        &[&p.wallet.key],
        code(GpuShareError::InvalidMerkleProof),
    );

    if index > 0 {
        let no_previous = SampleProof {
            previous: None,
            ..out.proof(kernel, &challenge, 0)
        };
        let ix = env.prove_ix(&p, &job, 0, 0, vec![no_previous]);
        env.assert_refused(
            &[ix],
            &[&p.wallet.key],
            code(GpuShareError::MissingPrevious),
        );
    }

    let twice = vec![
        out.proof(kernel, &challenge, 1),
        out.proof(kernel, &challenge, 1),
    ];
    let ix = env.prove_ix(&p, &job, 0, 0, twice);
    env.assert_refused(&[ix], &[&p.wallet.key], code(GpuShareError::DuplicateProof));
    let once = env.prove_ix(&p, &job, 0, 0, vec![out.proof(kernel, &challenge, 1)]);
    env.send(&[once.clone()], &[&p.wallet.key])
        .expect("first proof of sample 1");
    env.assert_refused(
        &[once],
        &[&p.wallet.key],
        code(GpuShareError::DuplicateProof),
    );

    let quorum_job = env.job(&client, 1, 2, 2, PRICE);
    let ix = env.prove_ix(
        &p,
        &quorum_job,
        0,
        0,
        vec![out.proof(kernel, &challenge, 0)],
    );
    assert!(
        env.send(&[ix], &[&p.wallet.key]).is_err(),
        "no assignment on that job"
    );

    env.warp(default_params().reveal_window + 1);
    let late = env.prove_ix(&p, &job, 0, 0, vec![out.proof(kernel, &challenge, 2)]);
    env.assert_refused(&[late], &[&p.wallet.key], code(GpuShareError::ProofTooLate));
}

#[test]
fn spot_check_jobs_that_cannot_be_checked_are_refused() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let mode = |samples| VerificationMode::SpotCheck { samples };
    let cases: Vec<(JobArgsMutation, GpuShareError)> = vec![
        (
            Box::new(move |a| a.mode = mode(0)),
            GpuShareError::InvalidSampleCount,
        ),
        (
            Box::new(move |a| a.mode = mode(65)),
            GpuShareError::InvalidSampleCount,
        ),
        (
            Box::new(move |a| {
                a.mode = mode(8);
                a.input = JobInput::Data {
                    uri: "https://example.org/ab.bin".into(),
                    sha256: [0; 32],
                };
            }),
            GpuShareError::SpotCheckNeedsSeed,
        ),
        (
            Box::new(move |a| {
                a.mode = mode(8);
                a.kernel = KernelSpec::GemmI8 {
                    m: 64,
                    n: 64,
                    k: 8_192,
                };
            }),
            GpuShareError::LeafTooExpensive,
        ),
        (
            Box::new(move |a| {
                a.mode = mode(8);
                a.kernel = KernelSpec::Sha256Chain {
                    steps: 1 << 20,
                    leaf_every: 1 << 14,
                };
            }),
            GpuShareError::LeafTooExpensive,
        ),
    ];
    for (mutate, error) in cases {
        let id = env.next_job_id();
        let mut args = seeded_job(id, 1, 1, 2, PRICE, env.now() + 86_400);
        mutate(&mut args);
        let ix = env.create_job_ix(&client, args);
        env.assert_refused(&[ix], &[&client.key], code(error));
    }
}

#[test]
fn a_reveal_after_its_slot_hashes_left_the_sysvar_is_refused() {
    let kernel = Kernel::Sha256Chain {
        steps: 256,
        leaf_every: 16,
    };
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let job = spot_job(&mut env, &client, KernelSpec::from_core(kernel), 1, 2);
    let out = output(kernel, &job, 1, 0, &[]);
    env.claim(&p, &job, 0, 0);
    env.commit(&p, &job, 0, 0, out.tree.root());
    env.warp(300);
    let reveal = env.reveal_ix(&p, &job, 0, 0, out.tree.root(), p.salt);
    env.assert_refused(
        &[reveal],
        &[&p.wallet.key],
        code(GpuShareError::ChallengeUnavailable),
    );
}
