//! The second round of attacks on the network's economics, each played from the attacker's side and
//! shown to fail with the honest parties whole (docs/program.md, "Who pays for a deviation"): ties
//! forced on a quorum, stalls by a client's sybil, and shards left unfilled. Delegation, commission
//! and slashing attacks are in `delegation.rs`, benchmarks in `benchmark.rs`, refused
//! jobs in `attacks.rs`.
use gpushare::errors::GpuShareError;
use gpushare::events::{
    ReplicaProven, ShardDisputed, ShardSettled, SpotCheckFailed, UnfilledReplicasClosed,
};
use gpushare::state::*;
use gpushare_core::kernels::Kernel;

use crate::harness::*;
use crate::outputs::{Output, prove_all};

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;
const SEED: [u8; 32] = [9; 32];
const KERNEL: Kernel = Kernel::GemmI8 { m: 16, n: 16, k: 64 };

fn fee() -> u64 {
    PRICE * u64::from(default_params().fee_bps) / 10_000
}

/// A one-shard quorum job of `replicas` replicas on `KERNEL`, seeded, expiring at `expires_at`.
fn seeded_quorum_args(env: &mut Env, replicas: u8, q: u8, expires_at: i64) -> CreateJobArgs {
    let id = env.next_job_id();
    let mut args = seeded_job(id, 1, replicas, q, PRICE, expires_at);
    args.kernel = KernelSpec::from_core(KERNEL);
    args.input = JobInput::Seed(SEED);
    args
}

fn shard(env: &Env, job: &JobHandle) -> Shard {
    env.fetch(&shard_address(&job.job, 0))
}

/// An output made up without computing: every leaf zero.
fn made_up(honest: &Output) -> Output {
    Output::new(honest.leaves.iter().map(|leaf| vec![0; leaf.len()]).collect())
}

/// Opens the dispute's challenges of `replicas` (anyone may) once the slots after it exist.
fn fix_dispute_challenges(env: &mut Env, job: &JobHandle, replicas: &[u8]) {
    env.warp(2);
    for &replica in replicas {
        let fix = env.fix_challenge_ix(job, 0, replica);
        env.send(&[fix], &[]).expect("fix the dispute's challenge");
    }
}

/// Attack 1 (and 2): on a 2-of-2 quorum job a ring member reveals a made-up root to force a tie,
/// hoping a second identity is handed the tie-breaking vote after both roots are public. No replica
/// opens after the roots are public, so there is no vote to capture and no draw to stall: the tie
/// is settled by recomputing sampled leaves on chain. The honest provider proves its samples and is
/// paid; the tie-forcer is slashed whether it tries to prove its made-up output (fraud) or not
/// (missed); its root is never an accepted result, and the client pays for the honest replica only.
#[test]
fn a_forced_tie_is_settled_by_recomputation_and_costs_the_one_who_forced_it() {
    for forger_proves in [true, false] {
        let mut env = Env::new();
        let client = env.wallet(WALLET_TOKENS);
        let (honest, forger, sybil) = (
            env.provider(STAKE),
            env.provider(STAKE),
            env.provider(STAKE),
        );
        let expires_at = env.now() + 86_400;
        let args = seeded_quorum_args(&mut env, 2, 2, expires_at);
        let job = env.job_with(&client, args);
        let output = Output::honest(KERNEL, &SEED, &job, 1, 0);
        let forged = made_up(&output);
        env.run_shard(
            &job,
            0,
            &[(&honest, output.root()), (&forger, forged.root())],
        );
        // The ring's second identity finds no slot to take, before or after the tally.
        let capture = env.claim_ix(&sybil, &job, 0, 2);
        env.assert_refused(
            &[capture.clone()],
            &[&sybil.wallet.key],
            code(GpuShareError::ShardNotClaimable),
        );
        env.settle_shard(&job, 0);
        let disputed = env.events::<ShardDisputed>();
        assert_eq!(disputed.len(), 1, "a tie on a seeded input is disputed");
        env.assert_refused(
            &[capture],
            &[&sybil.wallet.key],
            code(GpuShareError::ShardNotClaimable),
        );

        fix_dispute_challenges(&mut env, &job, &[0, 1]);
        prove_all(&mut env, &honest, &job, 0, KERNEL, &output, DISPUTE_SAMPLES);
        assert_eq!(env.events::<ReplicaProven>().len(), 1, "honest work passes");
        if forger_proves {
            prove_all(&mut env, &forger, &job, 1, KERNEL, &forged, DISPUTE_SAMPLES);
            assert_eq!(env.events::<SpotCheckFailed>().len(), 1, "made-up leaves fail");
            env.settle_shard(&job, 0);
        } else {
            let early = env.settle_shard_ix(&job, 0);
            env.assert_refused(&[early], &[], code(GpuShareError::SettleTooEarly));
            env.warp(disputed[0].deadline - env.now() + 1);
            env.settle_shard(&job, 0);
        }
        assert_eq!(
            env.events::<ShardSettled>()[0].outcome,
            ShardOutcome::SpotChecked
        );
        assert_eq!(shard(&env, &job).accepted_roots(), vec![output.root()]);
        env.settle_assignment(&honest, &job, 0, 0);
        if forger_proves {
            env.settle_assignment(&forger, &job, 0, 1);
        } else {
            env.expire(&forger, &job, 0, 1);
        }
        let honest_state: Provider = env.fetch(&honest.provider);
        assert_eq!((honest_state.completed, honest_state.slashed), (1, 0));
        assert_eq!(
            env.balance(&honest.wallet.token),
            WALLET_TOKENS - STAKE + PRICE
        );
        let forger_state: Provider = env.fetch(&forger.provider);
        let (bps, fraud) = if forger_proves {
            (default_params().fraud_slash_bps, 1)
        } else {
            (default_params().miss_slash_bps, 0)
        };
        assert_eq!(
            (forger_state.completed, forger_state.failed, forger_state.slashed),
            (0, fraud, claim_slash(bps)),
            "the tie costs the one who forced it"
        );
        env.close_shard(&client, &job, 0);
        env.close_job(&client, &job);
        assert_eq!(
            env.balance(&client.token),
            WALLET_TOKENS - (PRICE + fee()),
            "the client pays for the honest replica, the forger's part is refunded"
        );
    }
}

/// Attack 3: the client's own sybil claims the second replica of a job made with the shortest
/// lifetime the program allows, commits at its deadline and reveals a wrong root, hoping no
/// tie-breaker fits before expiry so that the client is refunded in full after the honest provider
/// computed. The tie is settled by evidence inside the job's lifetime: the honest provider is paid,
/// the sybil slashed, the client pays for the work it got. And no first replica is claimed unless a
/// second one still has a whole claim timeout to follow it, so nobody computes for a shard that
/// could never settle.
#[test]
fn a_clients_sybil_cannot_stall_a_short_job_into_a_free_refund() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (honest, sybil, late) = (
        env.provider(STAKE),
        env.provider(STAKE),
        env.provider(STAKE),
    );
    let params = default_params();
    let mut args = seeded_quorum_args(&mut env, 2, 2, 0);
    let lifetime = args.min_lifetime(params.reveal_window);
    args.expires_at = env.now() + lifetime;
    let job = env.job_with(&client, args.clone());
    let output = Output::honest(KERNEL, &SEED, &job, 1, 0);
    env.claim(&honest, &job, 0, 0);
    env.claim(&sybil, &job, 0, 1);
    env.commit(&honest, &job, 0, 0, output.root());
    env.warp(args.claim_timeout - 1);
    let wrong = made_up(&output).root();
    env.commit(&sybil, &job, 0, 1, wrong);
    env.reveal(&honest, &job, 0, 0, output.root());
    env.reveal(&sybil, &job, 0, 1, wrong);
    env.settle_shard(&job, 0);
    let deadline = env.events::<ShardDisputed>()[0].deadline;
    assert!(deadline <= args.expires_at, "the dispute ends before expiry");
    fix_dispute_challenges(&mut env, &job, &[0]);
    prove_all(&mut env, &honest, &job, 0, KERNEL, &output, DISPUTE_SAMPLES);
    env.warp(deadline - env.now() + 1);
    env.settle_shard(&job, 0);
    env.settle_assignment(&honest, &job, 0, 0);
    env.expire(&sybil, &job, 0, 1);
    assert_eq!(env.fetch::<Provider>(&honest.provider).completed, 1);
    assert_eq!(
        env.fetch::<Provider>(&sybil.provider).slashed,
        claim_slash(params.miss_slash_bps)
    );
    env.close_shard(&client, &job, 0);
    env.close_job(&client, &job);
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - (PRICE + fee()),
        "no free refund"
    );

    // The same lifetime, one second gone: a first claim would leave a second replica less than a
    // claim timeout, so it is refused; a second replica may follow until the last moment.
    let mut args = seeded_quorum_args(&mut env, 2, 2, 0);
    args.expires_at = env.now() + lifetime;
    let job = env.job_with(&client, args.clone());
    env.warp(1);
    let first = env.claim_ix(&honest, &job, 0, 0);
    env.assert_refused(
        &[first],
        &[&honest.wallet.key],
        code(GpuShareError::ClaimCannotFinish),
    );
    let mut args = seeded_quorum_args(&mut env, 2, 2, 0);
    args.expires_at = env.now() + lifetime;
    let job = env.job_with(&client, args.clone());
    env.claim(&honest, &job, 0, 0);
    env.warp(args.claim_timeout);
    env.claim(&late, &job, 0, 1);
}

/// Runs the dispute of a one-shard job whose only revealed replica is `honest`'s, from its challenge
/// to its payment.
fn prove_alone_and_get_paid(env: &mut Env, honest: &ProviderHandle, job: &JobHandle, output: &Output) {
    env.settle_shard(job, 0);
    assert_eq!(env.events::<ShardDisputed>().len(), 1, "one vote is no quorum");
    fix_dispute_challenges(env, job, &[0]);
    prove_all(env, honest, job, 0, KERNEL, output, DISPUTE_SAMPLES);
    env.settle_shard(job, 0);
    env.settle_assignment(honest, job, 0, 0);
    assert_eq!(env.fetch::<Provider>(&honest.provider).completed, 1);
}

/// Attack 3 (a slot held, then given back): a sybil claims the second replica beside an honest
/// provider's committed one and gives it back — at once, or at the last moment a claim can still
/// settle — so that the shard never fills and the honest replica is released unpaid at expiry, its
/// claim (and the stake behind it) held until then. Free slots that stay unclaimed for a claim
/// timeout, or that no new claim could fill in time, are closed: the honest replica reveals, proves
/// its samples and is paid; the sybil paid half a miss.
#[test]
fn a_slot_given_back_to_leave_a_shard_unfilled_is_closed_and_the_honest_replica_paid() {
    for last_moment in [false, true] {
        let mut env = Env::new();
        let client = env.wallet(WALLET_TOKENS);
        let (honest, sybil) = (env.provider(STAKE), env.provider(STAKE));
        let params = default_params();
        let mut args = seeded_quorum_args(&mut env, 2, 2, 0);
        let lifetime = if last_moment {
            args.min_lifetime(params.reveal_window)
        } else {
            86_400
        };
        args.expires_at = env.now() + lifetime;
        let job = env.job_with(&client, args.clone());
        let output = Output::honest(KERNEL, &SEED, &job, 1, 0);
        env.claim(&honest, &job, 0, 0);
        env.commit(&honest, &job, 0, 0, output.root());
        if last_moment {
            env.warp(args.claim_timeout);
        }
        env.claim(&sybil, &job, 0, 1);
        env.warp(1);
        let give_back = env.give_back_ix(&sybil, &job, 0, 1);
        env.send(&[give_back], &[&sybil.wallet.key])
            .expect("give the slot back");
        let close = env.settle_shard_ix(&job, 0);
        if !last_moment {
            env.assert_refused(&[close.clone()], &[], code(GpuShareError::SettleTooEarly));
            env.warp(args.claim_timeout);
        }
        env.send(&[close], &[]).expect("close the unfilled slot");
        let closed = env.events::<UnfilledReplicasClosed>();
        assert_eq!(closed[0].closed_mask, 0b10);
        let refill = env.claim_ix(&sybil, &job, 0, 1);
        env.assert_refused(
            &[refill],
            &[&sybil.wallet.key],
            code(GpuShareError::ShardNotClaimable),
        );
        env.reveal(&honest, &job, 0, 0, output.root());
        prove_alone_and_get_paid(&mut env, &honest, &job, &output);
        assert_eq!(
            env.fetch::<Provider>(&sybil.provider).slashed,
            claim_slash(params.miss_slash_bps / 2)
        );
    }
}
