//! Compute units of the SBPF build at the worst cases the program admits: the largest leaf of each
//! kernel that a proof may recompute, and the deepest audit path a proof may carry. Checks that
//! what `create_job` and the worker charge a leaf (`gpushare_core::spot_check`, from the
//! cu-meter's eBPF measurements) covers what the runtime really consumes, and that the client's
//! figure for `prove` covers the worst proof the worker sends. On the host builtin there is nothing
//! to measure and these tests only run the scenarios.
use gpushare::state::{Assignment, JobInput, KernelSpec, VerificationMode};
use gpushare_client::compute_budget::{self, worst_case};
use gpushare_core::kernels::Kernel;
use gpushare_core::spot_check::{
    LEAF_BUDGET_UNITS, PROOF_BYTES_PER_TRANSACTION, leaf_cost_units, sample_proof_bytes,
};

use crate::harness::*;
use crate::outputs::Output;

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;
const SEED: [u8; 32] = [9; 32];
const SAMPLES: u8 = 16;

/// Compute units the runtime says the last transaction's `prove` consumed (0 on the builtin,
/// whose figures mean nothing).
fn prove_units(env: &Env) -> u64 {
    if !env.metered() {
        return 0;
    }
    compute_budget::consumed(&env.last_logs)
        .into_iter()
        .find(|c| c.name == "Prove")
        .map(|c| c.units)
        .expect("a Prove line in the log")
}

/// A fresh world with a single-shard spot-checked job of `kernel`, claimed by a fresh provider who
/// committed to the honest output, two seconds ago.
fn committed_spot_job(kernel: Kernel) -> (Env, ProviderHandle, JobHandle, Output) {
    let mut env = Env::new();
    let client = env.wallet(PRICE * 10);
    let p = env.provider(STAKE);
    let id = env.next_job_id();
    let mut args = seeded_job(id, 1, 1, 2, PRICE, env.now() + 86_400);
    args.kernel = KernelSpec::from_core(kernel);
    args.input = JobInput::Seed(SEED);
    args.mode = VerificationMode::SpotCheck { samples: SAMPLES };
    let job = env.job_with(&client, args);
    let output = Output::honest(kernel, &SEED, &job, 1, 0);
    env.claim(&p, &job, 0, 0);
    env.commit(&p, &job, 0, 0, output.root());
    env.warp(2);
    (env, p, job, output)
}

/// Reveals the honest output of [`committed_spot_job`], proves sample 0 alone and returns the units
/// it consumed, with the proof's audit-path depth.
fn prove_one_sample(kernel: Kernel) -> (u64, usize) {
    let (mut env, p, job, output) = committed_spot_job(kernel);
    env.reveal(&p, &job, 0, 0, output.root());
    let assignment: Assignment = env.fetch(&assignment_address(&shard_address(&job.job, 0), 0));
    let challenge = assignment.challenge.expect("challenge fixed at reveal");
    let proof = output.proof(kernel, &challenge, 0);
    let depth = proof.witness.path.len();
    let ix = env.prove_ix(&p, &job, 0, 0, vec![proof]);
    env.send(&[ix], &[&p.wallet.key]).expect("prove");
    (prove_units(&env), depth)
}

/// The kernels at a small leaf and at the largest leaf whose charge fits a proof's leaf budget,
/// with the units charged per step (gemm_i8: per multiply-add of the 8-element leaf; sha256_chain:
/// per step; monte_carlo: per sample pair) and the steps in each leaf.
fn leaf_sizes() -> [(Kernel, Kernel, u64, u64, u64); 3] {
    use gpushare_core::spot_check::*;
    let gemm = |k| Kernel::GemmI8 { m: 8, n: 16, k };
    let chain = |leaf_every| Kernel::Sha256Chain {
        steps: leaf_every * 4,
        leaf_every,
    };
    let monte_carlo = |samples_per_block| Kernel::MonteCarlo {
        blocks: 64,
        samples_per_block,
    };
    let gemm_k = ((LEAF_BUDGET_UNITS - LEAF_BASE_UNITS) / (8 * GEMM_UNITS_PER_MULTIPLY_ADD)) as u32;
    let chain_steps = ((LEAF_BUDGET_UNITS - LEAF_BASE_UNITS) / SHA256_UNITS_PER_STEP) as u32;
    let pairs = ((LEAF_BUDGET_UNITS - LEAF_BASE_UNITS) / MONTE_CARLO_UNITS_PER_PAIR) as u32;
    [
        (
            gemm(16),
            gemm(gemm_k),
            GEMM_UNITS_PER_MULTIPLY_ADD,
            8 * 16,
            8 * u64::from(gemm_k),
        ),
        (
            chain(16),
            chain(chain_steps),
            SHA256_UNITS_PER_STEP,
            16,
            u64::from(chain_steps),
        ),
        (
            monte_carlo(1024),
            monte_carlo(2 * pairs),
            MONTE_CARLO_UNITS_PER_PAIR,
            512,
            u64::from(pairs),
        ),
    ]
}

#[test]
fn the_runtime_spends_less_on_a_leaf_than_it_is_charged_for_each_kernel() {
    for (small, large, charge_per_step, small_steps, large_steps) in leaf_sizes() {
        assert!(leaf_cost_units(&large) <= LEAF_BUDGET_UNITS, "{large:?}");
        let (small_units, _) = prove_one_sample(small);
        let (large_units, _) = prove_one_sample(large);
        let per_step = (large_units - small_units) as f64 / (large_steps - small_steps) as f64;
        eprintln!(
            "compute units: {large:?}: {large_units} for one leaf charged {}; {per_step:.1} per step, charged {charge_per_step}",
            leaf_cost_units(&large)
        );
        if small_units > 0 {
            assert!(
                per_step <= charge_per_step as f64,
                "{large:?}: {per_step:.1} units per step, charged {charge_per_step}"
            );
            let figure = worst_case("Prove").expect("a Prove figure").units;
            assert!(large_units <= u64::from(figure), "{large_units} > {figure}");
        }
    }
}

#[test]
fn the_deepest_audit_path_a_proof_may_carry_fits_the_prove_figure() {
    // gemm_i8 with k = 16: cheap leaves, so the audit path dominates. 2 and 2¹⁴ leaves.
    let shallow = Kernel::GemmI8 { m: 1, n: 16, k: 16 };
    let deep = Kernel::GemmI8 {
        m: 128,
        n: 1024,
        k: 16,
    };
    let (shallow_units, shallow_depth) = prove_one_sample(shallow);
    let (deep_units, deep_depth) = prove_one_sample(deep);
    // The deepest path one sample's proof may carry within a transaction's proof bytes.
    let deepest = (1..64u32)
        .take_while(|depth| sample_proof_bytes(&deep, 1u64 << depth) <= PROOF_BYTES_PER_TRANSACTION)
        .last()
        .expect("a path of one level fits") as usize;
    assert!(deep_depth < deepest);
    if shallow_units == 0 {
        return;
    }
    let per_level = (deep_units - shallow_units) as f64 / (deep_depth - shallow_depth) as f64;
    let worst = deep_units as f64 + per_level * (deepest - deep_depth) as f64;
    eprintln!(
        "compute units: audit path {per_level:.1} per level; depth {deep_depth}: {deep_units}; depth {deepest}: {worst:.0}"
    );
    let figure = worst_case("Prove").expect("a Prove figure").units;
    assert!(worst <= f64::from(figure), "{worst:.0} > {figure}");
}

#[test]
fn the_widest_shard_claims_settles_and_closes_within_the_figures() {
    // Every instruction of a shard with the most replicas a job may have, one of them forged: the
    // harness checks each against its figure.
    let mut env = Env::new();
    let client = env.wallet(PRICE * 100);
    let replicas = gpushare::constants::MAX_REPLICAS_LIMIT;
    let mut params = default_params();
    params.max_replicas = replicas;
    // The test network's update delay is zero: the update is in force at once.
    let update = env.update_network_ix(&env.authority.pubkey(), params);
    env.send(&[update], &[])
        .expect("raise the replica cap to the program's limit");
    let providers: Vec<ProviderHandle> = (0..replicas).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 1, replicas, replicas / 2 + 1, PRICE);
    let root = honest_root(&job.job, 0);
    let forged = forged_root(&job.job, 0, 0);
    let roots: Vec<(&ProviderHandle, [u8; 32])> = providers
        .iter()
        .enumerate()
        .map(|(replica, p)| (p, if replica == 0 { forged } else { root }))
        .collect();
    env.run_shard(&job, 0, &roots);
    env.settle_shard(&job, 0);
    for (replica, p) in providers.iter().enumerate() {
        env.settle_assignment(p, &job, 0, replica as u8);
    }
    env.close_shard(&client, &job, 0);
    env.close_job(&client, &job);
}

#[test]
fn a_reveal_reads_its_challenge_from_a_full_slot_hashes_within_its_figure() {
    // Mainnet's SlotHashes always holds 512 entries; the test worlds usually hold fewer.
    let (mut env, p, job, output) = committed_spot_job(Kernel::GemmI8 { m: 8, n: 16, k: 16 });
    let newest = env.slot();
    let entries: Vec<(u64, solana_hash::Hash)> = (newest - 511..=newest)
        .rev()
        .map(|slot| (slot, solana_hash::Hash::new_from_array(env.slot_hash(slot))))
        .collect();
    env.svm
        .set_sysvar(&solana_slot_hashes::SlotHashes::new(&entries));
    env.reveal(&p, &job, 0, 0, output.root());
    if env.metered() {
        let reveal = compute_budget::consumed(&env.last_logs);
        eprintln!("compute units: reveal with 512 slot hashes: {reveal:?}");
    }
}
