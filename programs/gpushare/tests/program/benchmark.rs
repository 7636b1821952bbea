//! Benchmarks: an honest provider proves its throughput and a job's minimum is enforced
//! with it; a third party challenges only a proven figure; a late commitment, a replayed root, a
//! forged path and a proof for another provider each fail by name, the dishonest provider slashed
//! (one claim's share, burned) and the challenger refunded.
use anchor_lang::prelude::Pubkey;
use gpushare::errors::GpuShareError;
use gpushare::events::BenchmarkSettled;
use gpushare::instructions::{BenchmarkProof, LeafWitness};
use gpushare::state::*;
use gpushare_core::benchmark::{BenchmarkSize, SAMPLES, proven_mops, unit_seed};
use gpushare_core::kernels::seeded_leaf;
use gpushare_core::merkle::{MerkleTree, leaf_hash};
use gpushare_core::spot_check::sample_index;

use crate::harness::*;

const STAKE: u64 = 2_000_000;

/// A provider claiming 1 GOPS over `devices` devices: with the test network's 5 ms target, its
/// challenge is `devices` units of 8 rows.
fn claiming_provider(env: &mut Env, devices: u8) -> ProviderHandle {
    let p = env.provider(STAKE);
    let hardware = HardwareProfile {
        gpu_model: [0; 32],
        memory_mib: 1_024,
        throughput_gops: 1,
        devices,
    };
    let update = env.update_hardware_ix(&p, hardware);
    env.send(&[update], &[&p.wallet.key]).expect("hardware");
    p
}

/// A benchmark's whole output, computed with the reference functions: every unit's leaves and
/// tree, and the tree over the units' roots whose root is the commitment.
struct Output {
    size: BenchmarkSize,
    units: Vec<(Vec<Vec<u8>>, MerkleTree)>,
    commitment: MerkleTree,
}

impl Output {
    fn compute(seed: &[u8; 32], size: BenchmarkSize) -> Self {
        let units: Vec<_> = (0..size.units)
            .map(|unit| {
                let seed = unit_seed(seed, unit);
                let leaves: Vec<Vec<u8>> = (0..size.unit_leaves())
                    .map(|leaf| {
                        seeded_leaf(size.unit_kernel(), &seed, 1, 0, leaf, None).expect("leaf")
                    })
                    .collect();
                let tree =
                    MerkleTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l)).collect());
                (leaves, tree)
            })
            .collect();
        let commitment =
            MerkleTree::from_leaf_hashes(units.iter().map(|(_, t)| t.root()).collect());
        Output {
            size,
            units,
            commitment,
        }
    }

    fn root(&self) -> [u8; 32] {
        self.commitment.root()
    }

    /// The two steps proving `sample` of `challenge`.
    fn proofs(&self, challenge: &[u8; 32], sample: u8) -> Vec<BenchmarkProof> {
        let index = sample_index(challenge, sample, self.size.leaves());
        let (unit, leaf) = self.size.locate(index);
        let (leaves, tree) = &self.units[unit as usize];
        vec![
            BenchmarkProof::Unit {
                sample,
                root: tree.root(),
                path: self
                    .commitment
                    .audit_path(u64::from(unit))
                    .expect("unit path"),
            },
            BenchmarkProof::Leaf {
                sample,
                witness: LeafWitness {
                    leaf: leaves[leaf as usize].clone(),
                    path: tree.audit_path(leaf).expect("leaf path"),
                },
            },
        ]
    }
}

fn benchmark_of(env: &Env, p: &ProviderHandle) -> Benchmark {
    env.fetch(&benchmark_address(&p.provider))
}

/// `requester` opens a challenge on `p` and, once the slots after it exist, its seed is drawn.
fn request_and_draw(env: &mut Env, requester: &Wallet, p: &ProviderHandle) -> Benchmark {
    let request = env.request_benchmark_ix(requester, p);
    env.send(&[request], &[&requester.key]).expect("request");
    env.warp(2);
    env.send(&[draw_ix(p)], &[]).expect("draw the seed");
    benchmark_of(env, p)
}

fn draw_ix(p: &ProviderHandle) -> anchor_lang::solana_program::instruction::Instruction {
    gpushare_client::ix::draw_benchmark(&p.provider)
}

/// Commits `output`'s root, draws the challenge and proves every sample from `output`.
fn commit_and_prove(env: &mut Env, p: &ProviderHandle, output: &Output) {
    let commit = env.commit_benchmark_ix(p, output.root());
    env.send(&[commit], &[&p.wallet.key]).expect("commit");
    env.warp(2);
    env.send(&[draw_ix(p)], &[]).expect("draw the challenge");
    let challenge = benchmark_of(env, p).challenge.expect("challenge");
    for sample in 0..SAMPLES {
        let prove = env.prove_benchmark_ix(p, output.proofs(&challenge, sample));
        env.send(&[prove], &[&p.wallet.key]).expect("prove");
    }
}

/// Runs a whole honest challenge requested by `requester`; returns the settled verdict event.
fn honest_benchmark(env: &mut Env, requester: &Wallet, p: &ProviderHandle) -> BenchmarkSettled {
    let benchmark = request_and_draw(env, requester, p);
    let output = Output::compute(&benchmark.seed.expect("seed"), benchmark.size());
    commit_and_prove(env, p, &output);
    let settle = env.settle_benchmark_ix(p, &requester.pubkey());
    env.send(&[settle], &[]).expect("settle");
    env.events::<BenchmarkSettled>().remove(0)
}

#[test]
fn an_honest_provider_proves_its_throughput_and_a_challenger_pays_for_it() {
    let mut env = Env::new();
    let p = claiming_provider(&mut env, 3);
    let challenger = env.wallet(0);
    let fee = default_params().benchmark_fee;
    // Nothing proven yet: a third party has nothing to challenge.
    let unproven = env.request_benchmark_ix(&challenger, &p);
    env.assert_refused(
        &[unproven],
        &[&challenger.key],
        code(GpuShareError::NothingToChallenge),
    );
    let own = request_and_draw(&mut env, &p.wallet, &p);
    assert_eq!(
        (own.units, own.unit_rows, own.devices, own.fee),
        (3, 8, 3, 0)
    );
    let output = Output::compute(&own.seed.expect("seed"), own.size());
    commit_and_prove(&mut env, &p, &output);
    let settle = env.settle_benchmark_ix(&p, &p.wallet.pubkey());
    env.send(&[settle], &[]).expect("settle its own");
    let (challenger_before, provider_before) = (
        env.lamports(&challenger.pubkey()),
        env.lamports(&p.wallet.pubkey()),
    );

    // A third party's challenge is sized from the larger of the claimed and the proven figure.
    let figure = env.fetch::<Provider>(&p.provider).proven;
    let benchmark = request_and_draw(&mut env, &challenger, &p);
    let sized = BenchmarkSize::for_throughput(
        figure.gops().max(1),
        default_params().benchmark_millis,
        3,
    );
    assert_eq!(
        (benchmark.size(), benchmark.devices, benchmark.claimed_gops),
        (sized, 3, figure.gops().max(1))
    );
    assert!(env.fetch::<Provider>(&p.provider).proven.challenged);
    assert_eq!(benchmark.fee, fee);
    let output = Output::compute(&benchmark.seed.expect("seed"), benchmark.size());
    commit_and_prove(&mut env, &p, &output);
    let benchmark = benchmark_of(&env, &p);
    let settle = env.settle_benchmark_ix(&p, &challenger.pubkey());
    env.send(&[settle], &[]).expect("settle");

    let expected = proven_mops(
        benchmark.size().ops(),
        benchmark.committed_slot - benchmark.seed_slot,
    );
    assert!(expected > 0);
    let settled = env.events::<BenchmarkSettled>().remove(0);
    assert_eq!(
        (settled.passed, settled.mops, settled.slashed),
        (true, expected, 0)
    );
    let provider: Provider = env.fetch(&p.provider);
    assert_eq!(
        provider.proven,
        ProvenHardware {
            mops: expected,
            slot: benchmark.committed_slot,
            devices: 3,
            challenged: false,
        }
    );
    assert!(!env.exists(&benchmark_address(&p.provider)), "closed");
    // The challenger paid the fee, which went to the provider; its rent came back.
    assert_eq!(challenger_before - env.lamports(&challenger.pubkey()), fee);
    assert_eq!(env.lamports(&p.wallet.pubkey()) - provider_before, fee);
    assert_eq!(env.balance(&p.vault), STAKE, "nothing slashed");
}

#[test]
fn a_job_admits_only_providers_proven_fast_enough_and_recently_enough() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let proven = claiming_provider(&mut env, 1);
    let unproven = claiming_provider(&mut env, 1);
    let mops = honest_benchmark(&mut env, &proven.wallet, &proven).mops;
    let mut args = seeded_job(env.next_job_id(), 2, 2, 2, 1_000, env.now() + 86_400);
    args.hardware = HardwareRequirement {
        min_proven_mops: mops,
        max_proof_age_slots: 100,
    };
    let job = env.job_with(&client, args);
    let refused = env.claim_ix(&unproven, &job, 0, 0);
    env.assert_refused(
        &[refused],
        &[&unproven.wallet.key],
        code(GpuShareError::HardwareNotProven),
    );
    env.claim(&proven, &job, 0, 0);
    env.warp(60);
    let stale = env.claim_ix(&proven, &job, 1, 0);
    env.assert_refused(
        &[stale],
        &[&proven.wallet.key],
        code(GpuShareError::HardwareProofStale),
    );
}

#[test]
fn a_late_commitment_is_refused_and_the_provider_slashed_and_its_proof_cleared() {
    let mut env = Env::new();
    let p = claiming_provider(&mut env, 1);
    honest_benchmark(&mut env, &p.wallet, &p);
    assert!(env.fetch::<Provider>(&p.provider).proven.mops > 0);
    let challenger = env.wallet(0);
    let before = env.lamports(&challenger.pubkey());
    let benchmark = request_and_draw(&mut env, &challenger, &p);
    let output = Output::compute(&benchmark.seed.expect("seed"), benchmark.size());
    let early = env.settle_benchmark_ix(&p, &challenger.pubkey());
    env.assert_refused(&[early], &[], code(GpuShareError::BenchmarkNotOver));
    while env.slot() <= benchmark.commit_deadline {
        env.warp(30);
    }
    let late = env.commit_benchmark_ix(&p, output.root());
    env.assert_refused(
        &[late],
        &[&p.wallet.key],
        code(GpuShareError::BenchmarkDeadlinePassed),
    );
    let supply = env.supply();
    let settle = env.settle_benchmark_ix(&p, &challenger.pubkey());
    env.send(&[settle], &[]).expect("settle");
    let slashed = claim_slash(default_params().miss_slash_bps);
    let settled = env.events::<BenchmarkSettled>().remove(0);
    assert_eq!((settled.passed, settled.slashed), (false, slashed));
    assert_eq!(env.balance(&p.vault), STAKE - slashed);
    assert_eq!(supply - env.supply(), slashed, "burned, not sent to anyone");
    assert_eq!(
        env.fetch::<Provider>(&p.provider).proven,
        ProvenHardware::default()
    );
    assert_eq!(
        before - env.lamports(&challenger.pubkey()),
        default_params().benchmark_fee,
        "rent refunded, the fee burned: a challenge costs its challenger"
    );
}

/// Lets `benchmark` on `p` go unanswered past its commitment deadline, then settles it.
fn let_lapse(
    env: &mut Env,
    challenger: &Wallet,
    p: &ProviderHandle,
    benchmark: &Benchmark,
) -> BenchmarkSettled {
    while env.slot() <= benchmark.commit_deadline {
        env.warp(30);
    }
    let settle = env.settle_benchmark_ix(p, &challenger.pubkey());
    env.send(&[settle], &[]).expect("settle");
    env.events::<BenchmarkSettled>().remove(0)
}

/// Attack 6 (grinding): a challenger challenges an idle provider again and again, each unanswered
/// challenge refunded and slashing 5 % of everything behind it, delegations included (14 took 51 %).
/// An unanswered challenge now burns one claim's miss share and the challenger's fee; it clears the
/// proven figure, and nobody but the provider may open the next challenge: one slash per figure the
/// provider itself chose to prove.
#[test]
fn a_challenger_cannot_grind_down_an_idle_provider() {
    let mut env = Env::new();
    let p = claiming_provider(&mut env, 1);
    let d = env.delegator(&p, 6_000_000);
    honest_benchmark(&mut env, &p.wallet, &p);
    let challenger = env.wallet(0);
    let before = env.lamports(&challenger.pubkey());
    let benchmark = request_and_draw(&mut env, &challenger, &p);
    let settled = let_lapse(&mut env, &challenger, &p, &benchmark);
    let slash = claim_slash(default_params().miss_slash_bps);
    assert_eq!((settled.passed, settled.slashed), (false, slash));
    assert_eq!(
        before - env.lamports(&challenger.pubkey()),
        default_params().benchmark_fee
    );
    let again = env.request_benchmark_ix(&challenger, &p);
    env.assert_refused(
        &[again],
        &[&challenger.key],
        code(GpuShareError::NothingToChallenge),
    );
    let state: Provider = env.fetch(&p.provider);
    assert_eq!(state.stake, STAKE + 6_000_000 - slash);
    let delegation = env.delegation(&d, &p).unwrap();
    let worth = tokens_for(delegation.shares, state.stake, state.pool.shares).unwrap();
    assert!(6_000_000 - worth <= slash * 6 / 8 + 1, "worth {worth}");
}

/// Attack 6 (terms): the authority raises the miss share to 100 % while a challenge is open, to take
/// the provider's stake with it. The challenge is slashed on the terms in force when it opened.
#[test]
fn a_challenge_is_slashed_on_the_terms_in_force_when_it_opened() {
    let mut env = Env::new();
    let p = claiming_provider(&mut env, 1);
    honest_benchmark(&mut env, &p.wallet, &p);
    let challenger = env.wallet(0);
    let benchmark = request_and_draw(&mut env, &challenger, &p);
    let harsh = NetworkParams {
        fraud_slash_bps: 10_000,
        miss_slash_bps: 10_000,
        stake_per_claim: STAKE,
        ..default_params()
    };
    let update = env.update_network_ix(&env.authority.pubkey(), harsh);
    env.send(&[update], &[]).expect("harsher terms, in force at once");
    assert_eq!(env.network_state().params, harsh);
    let settled = let_lapse(&mut env, &challenger, &p, &benchmark);
    assert_eq!(
        settled.slashed,
        claim_slash(default_params().miss_slash_bps)
    );
}

/// Attack 6 (dodging): a provider that passed once sets its claimed throughput to 0, so that nobody
/// can challenge it while its proven figure keeps qualifying it for jobs. A third party's challenge
/// is sized from the larger of the claimed and the proven figure, so the figure stays challengeable.
#[test]
fn a_proven_figure_stays_challengeable_when_the_provider_claims_nothing() {
    let mut env = Env::new();
    let p = claiming_provider(&mut env, 1);
    honest_benchmark(&mut env, &p.wallet, &p);
    let proven = env.fetch::<Provider>(&p.provider).proven;
    let hardware = HardwareProfile {
        throughput_gops: 0,
        ..env.fetch::<Provider>(&p.provider).hardware
    };
    let update = env.update_hardware_ix(&p, hardware);
    env.send(&[update], &[&p.wallet.key]).expect("claim nothing");
    let challenger = env.wallet(0);
    let benchmark = request_and_draw(&mut env, &challenger, &p);
    assert_eq!(benchmark.claimed_gops, proven.gops());
    let settled = let_lapse(&mut env, &challenger, &p, &benchmark);
    assert!(!settled.passed, "an unanswered challenge fails");
}

/// A root from an earlier challenge proves its own tree, but its leaves are not this seed's: the
/// first leaf fails the challenge. A forged path is refused outright and changes nothing.
#[test]
fn a_replayed_root_fails_and_a_forged_path_is_refused() {
    let mut env = Env::new();
    let p = claiming_provider(&mut env, 2);
    let first = request_and_draw(&mut env, &p.wallet, &p);
    let old = Output::compute(&first.seed.expect("seed"), first.size());
    commit_and_prove(&mut env, &p, &old);
    let settle = env.settle_benchmark_ix(&p, &p.wallet.pubkey());
    env.send(&[settle], &[]).expect("settle the first");

    request_and_draw(&mut env, &p.wallet, &p);
    let commit = env.commit_benchmark_ix(&p, old.root());
    env.send(&[commit], &[&p.wallet.key])
        .expect("commit the old root");
    env.warp(2);
    env.send(&[draw_ix(&p)], &[]).expect("draw the challenge");
    let challenge = benchmark_of(&env, &p).challenge.expect("challenge");
    let mut proofs = old.proofs(&challenge, 0);
    let leaf_step = proofs.pop().expect("leaf step");
    let prove_unit = env.prove_benchmark_ix(&p, proofs);
    env.send(&[prove_unit], &[&p.wallet.key])
        .expect("the unit root is in the old tree");
    let BenchmarkProof::Leaf {
        sample,
        mut witness,
    } = leaf_step.clone()
    else {
        unreachable!("the second step proves the leaf")
    };
    witness.leaf[0] ^= 1;
    let forged = env.prove_benchmark_ix(&p, vec![BenchmarkProof::Leaf { sample, witness }]);
    env.assert_refused(
        &[forged],
        &[&p.wallet.key],
        code(GpuShareError::InvalidMerkleProof),
    );
    let replayed = env.prove_benchmark_ix(&p, vec![leaf_step]);
    env.send(&[replayed], &[&p.wallet.key])
        .expect("a valid path to a wrong leaf");
    assert!(benchmark_of(&env, &p).failed);
    let settle = env.settle_benchmark_ix(&p, &p.wallet.pubkey());
    env.send(&[settle], &[]).expect("settle the replay");
    assert!(!env.events::<BenchmarkSettled>()[0].passed);
    assert_eq!(
        env.fetch::<Provider>(&p.provider).proven,
        ProvenHardware::default()
    );
}

#[test]
fn refusals_are_named_and_change_nothing() {
    let mut env = Env::new();
    let p = claiming_provider(&mut env, 1);
    let other = claiming_provider(&mut env, 1);
    let silent = env.provider(STAKE);
    let no_claim = env.request_benchmark_ix(&silent.wallet, &silent);
    env.assert_refused(
        &[no_claim],
        &[&silent.wallet.key],
        code(GpuShareError::NoThroughputClaimed),
    );
    let request = env.request_benchmark_ix(&p.wallet, &p);
    env.send(&[request.clone()], &[&p.wallet.key])
        .expect("request");
    env.assert_refused(
        &[request],
        &[&p.wallet.key],
        code(GpuShareError::BenchmarkOpen),
    );
    env.assert_refused(&[draw_ix(&p)], &[], code(GpuShareError::ChallengeNotReady));
    let unseeded = env.commit_benchmark_ix(&p, [1; 32]);
    env.assert_refused(
        &[unseeded],
        &[&p.wallet.key],
        code(GpuShareError::BenchmarkNotStarted),
    );
    env.warp(2);
    env.send(&[draw_ix(&p)], &[]).expect("draw the seed");
    env.assert_refused(&[draw_ix(&p)], &[], code(GpuShareError::NothingToDraw));
    // Another provider's wallet cannot commit for this one.
    let mut impostor = env.commit_benchmark_ix(&p, [1; 32]);
    impostor.accounts[0].pubkey = other.wallet.pubkey();
    env.assert_refused(
        &[impostor],
        &[&other.wallet.key],
        code(GpuShareError::NotProviderAuthority),
    );
    let commit = env.commit_benchmark_ix(&p, [1; 32]);
    env.send(&[commit.clone()], &[&p.wallet.key])
        .expect("commit");
    env.assert_refused(
        &[commit],
        &[&p.wallet.key],
        code(GpuShareError::BenchmarkCommitted),
    );
    let leaf_first = env.prove_benchmark_ix(
        &p,
        vec![BenchmarkProof::Leaf {
            sample: 0,
            witness: LeafWitness {
                leaf: vec![0; 32],
                path: Vec::new(),
            },
        }],
    );
    env.assert_refused(
        &[leaf_first.clone()],
        &[&p.wallet.key],
        code(GpuShareError::NotChallenged),
    );
    env.warp(2);
    env.send(&[draw_ix(&p)], &[]).expect("draw the challenge");
    env.assert_refused(
        &[leaf_first],
        &[&p.wallet.key],
        code(GpuShareError::UnitNotProven),
    );
    let out_of_range = env.prove_benchmark_ix(
        &p,
        vec![BenchmarkProof::Unit {
            sample: SAMPLES,
            root: [0; 32],
            path: Vec::new(),
        }],
    );
    env.assert_refused(
        &[out_of_range],
        &[&p.wallet.key],
        code(GpuShareError::InvalidSample),
    );
    let state = benchmark_of(&env, &p);
    assert_eq!(
        (state.units_proven, state.proven, state.failed),
        (0, 0, false)
    );
    assert_eq!(state.root, Some([1; 32]));
    let unknown: Pubkey = benchmark_address(&other.provider);
    assert!(!env.exists(&unknown));
}
