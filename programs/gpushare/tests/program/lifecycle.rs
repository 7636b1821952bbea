//! Whole job lifecycles: quorum payouts, fraud and missed-claim slashing, refunds.
use anchor_spl::token_2022::spl_token_2022;
use gpushare::errors::GpuShareError;
use gpushare::events::*;
use gpushare::state::*;

use crate::harness::*;

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;

fn fee() -> u64 {
    PRICE * u64::from(default_params().fee_bps) / 10_000
}

fn happy_path(token_program: anchor_lang::prelude::Pubkey) {
    let mut env = Env::with_token_program(token_program);
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let client_lamports = env.lamports(&client.pubkey());
    let provider_lamports: Vec<u64> = providers
        .iter()
        .map(|p| env.lamports(&p.wallet.pubkey()))
        .collect();

    let job = env.job(&client, 2, 3, 2, PRICE);
    let escrow = 2 * 3 * (PRICE + fee());
    assert_eq!(env.balance(&job.vault), escrow);
    assert_eq!(env.balance(&client.token), WALLET_TOKENS - escrow);

    for shard in 0..2 {
        let root = honest_root(&job.job, shard);
        let replicas: Vec<_> = providers.iter().map(|p| (p, root)).collect();
        env.run_shard(&job, shard, &replicas);
        env.settle_shard(&job, shard);
        assert_eq!(
            env.events::<ShardSettled>()[0].outcome,
            ShardOutcome::Quorum { root }
        );
        for (replica, p) in providers.iter().enumerate() {
            env.settle_assignment(p, &job, shard, replica as u8);
            let paid = env.events::<ReplicaPaid>();
            assert_eq!((paid[0].amount, paid[0].fee), (PRICE, fee()));
        }
        env.close_shard(&client, &job, shard);
    }
    let reclaim = env.claim_ix(&providers[0], &job, 0, 0);
    env.assert_refused(
        &[reclaim],
        &[&providers[0].wallet.key],
        code(gpushare::errors::GpuShareError::ShardClosed),
    );
    env.close_job(&client, &job);
    let closed = env.events::<JobClosed>();
    assert_eq!(
        (
            closed[0].paid_out,
            closed[0].to_treasury,
            closed[0].to_client
        ),
        (6 * PRICE, 6 * fee(), 0)
    );

    assert_eq!(env.balance(&env.treasury), 6 * fee());
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - 6 * (PRICE + fee())
    );
    for (p, lamports) in providers.iter().zip(provider_lamports) {
        assert_eq!(
            env.balance(&p.wallet.token),
            WALLET_TOKENS - STAKE + 2 * PRICE
        );
        assert_eq!(env.balance(&p.vault), STAKE);
        let state: Provider = env.fetch(&p.provider);
        assert_eq!(
            (
                state.completed,
                state.earned,
                state.open_claims,
                state.slashed
            ),
            (2, 2 * PRICE, 0, 0)
        );
        assert_eq!(
            env.lamports(&p.wallet.pubkey()),
            lamports,
            "every rent lamport back to the provider"
        );
    }
    assert!(!env.exists(&job.job) && !env.exists(&job.vault));
    for shard in 0..2 {
        let shard_key = shard_address(&job.job, shard);
        assert!(!env.exists(&shard_key));
        for replica in 0..3 {
            assert!(!env.exists(&assignment_address(&shard_key, replica)));
        }
    }
    assert_eq!(
        env.lamports(&client.pubkey()),
        client_lamports,
        "every rent lamport back to the client"
    );
}

#[test]
fn all_honest_replicas_are_paid_exactly_with_spl_token() {
    happy_path(anchor_spl::token::ID);
}

#[test]
fn all_honest_replicas_are_paid_exactly_with_token_2022() {
    happy_path(spl_token_2022::ID);
}

#[test]
fn a_dishonest_replica_is_slashed_and_the_honest_two_are_paid() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 1, 3, 2, PRICE);
    let root = honest_root(&job.job, 0);
    let forged = forged_root(&job.job, 0, 0);
    env.run_shard(
        &job,
        0,
        &[
            (&providers[0], root),
            (&providers[1], root),
            (&providers[2], forged),
        ],
    );
    env.settle_shard(&job, 0);
    for (replica, p) in providers.iter().enumerate() {
        env.settle_assignment(p, &job, 0, replica as u8);
    }
    let slash = claim_slash(default_params().fraud_slash_bps);
    let cheater: Provider = env.fetch(&providers[2].provider);
    assert_eq!(
        (
            cheater.stake,
            cheater.slashed,
            cheater.failed,
            cheater.completed
        ),
        (STAKE - slash, slash, 1, 0)
    );
    assert_eq!(env.balance(&providers[2].vault), STAKE - slash);
    assert_eq!(
        env.balance(&providers[2].wallet.token),
        WALLET_TOKENS - STAKE
    );
    for p in &providers[..2] {
        assert_eq!(env.balance(&p.wallet.token), WALLET_TOKENS - STAKE + PRICE);
    }
    env.close_shard(&client, &job, 0);
    let supply = env.supply();
    env.close_job(&client, &job);
    assert_eq!(
        (env.balance(&env.treasury), supply - env.supply()),
        (2 * fee(), slash),
        "slashes are burned: neither the treasury's owner nor the client receives them"
    );
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - 2 * (PRICE + fee())
    );
}

/// A job on downloaded data whose replicas all disagree: no replica is added after the roots are
/// public, the shard is refunded and nobody who revealed is paid or slashed.
#[test]
fn all_replicas_of_a_data_job_disagree_and_the_shard_is_refunded_without_slashing() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let id = env.next_job_id();
    let mut args = seeded_job(id, 1, 3, 2, PRICE, env.now() + 86_400);
    args.input = JobInput::Data {
        uri: "https://data.example/input.bin".into(),
        sha256: [3; 32],
    };
    let job = env.job_with(&client, args);
    let roots: Vec<[u8; 32]> = (0..3).map(|v| forged_root(&job.job, 0, v)).collect();
    let replicas: Vec<_> = providers.iter().zip(roots.iter().copied()).collect();
    env.run_shard(&job, 0, &replicas);
    env.settle_shard(&job, 0);
    assert_eq!(
        env.events::<ShardSettled>()[0].outcome,
        ShardOutcome::NoQuorum
    );
    let extra = env.claim_ix(&providers[0], &job, 0, 3);
    env.assert_refused(
        &[extra],
        &[&providers[0].wallet.key],
        code(GpuShareError::ShardNotClaimable),
    );
    for (replica, p) in providers.iter().enumerate() {
        env.settle_assignment(p, &job, 0, replica as u8);
        assert_eq!(env.events::<ReplicaReleased>().len(), 1);
        let state: Provider = env.fetch(&p.provider);
        assert_eq!((state.slashed, state.failed, state.completed), (0, 0, 0));
    }
    env.close_shard(&client, &job, 0);
    env.close_job(&client, &job);
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS,
        "the whole shard is refunded"
    );
    assert_eq!(env.balance(&env.treasury), 0);
}

#[test]
fn a_missed_claim_is_expired_slashed_and_completed_by_another_provider() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 1, 2, 2, PRICE);
    let root = honest_root(&job.job, 0);
    env.claim(&providers[0], &job, 0, 0);
    env.claim(&providers[1], &job, 0, 1);
    env.commit(&providers[1], &job, 0, 1, root);
    env.warp(601);
    env.expire(&providers[0], &job, 0, 0);
    let expired = env.events::<ClaimExpired>();
    assert!(expired[0].reopened);
    let miss = claim_slash(default_params().miss_slash_bps);
    let absent: Provider = env.fetch(&providers[0].provider);
    assert_eq!(
        (absent.missed, absent.slashed, absent.open_claims),
        (1, miss, 0)
    );

    env.claim(&providers[2], &job, 0, 0);
    env.commit(&providers[2], &job, 0, 0, root);
    env.reveal(&providers[1], &job, 0, 1, root);
    env.reveal(&providers[2], &job, 0, 0, root);
    env.settle_shard(&job, 0);
    env.settle_assignment(&providers[1], &job, 0, 1);
    env.settle_assignment(&providers[2], &job, 0, 0);
    env.close_shard(&client, &job, 0);
    env.close_job(&client, &job);
    for p in &providers[1..] {
        assert_eq!(env.balance(&p.wallet.token), WALLET_TOKENS - STAKE + PRICE);
    }
    assert_eq!(env.balance(&env.treasury), 2 * fee(), "the miss is burned");
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - 2 * (PRICE + fee())
    );
}

#[test]
fn a_missed_reveal_is_slashed_and_the_remaining_quorum_is_paid() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 1, 3, 2, PRICE);
    let root = honest_root(&job.job, 0);
    for (replica, p) in providers.iter().enumerate() {
        env.claim(p, &job, 0, replica as u8);
        env.commit(p, &job, 0, replica as u8, root);
    }
    env.reveal(&providers[0], &job, 0, 0, root);
    env.reveal(&providers[1], &job, 0, 1, root);
    env.warp(default_params().reveal_window + 1);
    env.settle_shard(&job, 0);
    env.settle_assignment(&providers[0], &job, 0, 0);
    env.settle_assignment(&providers[1], &job, 0, 1);
    env.expire(&providers[2], &job, 0, 2);
    assert!(!env.events::<ClaimExpired>()[0].reopened);
    assert_eq!(env.fetch::<Provider>(&providers[2].provider).missed, 1);
    env.close_shard(&client, &job, 0);
    let supply = env.supply();
    env.close_job(&client, &job);
    assert_eq!(
        (env.balance(&env.treasury), supply - env.supply()),
        (2 * fee(), claim_slash(default_params().miss_slash_bps)),
        "the miss is burned"
    );
}

#[test]
fn cancel_refunds_unstarted_shards_and_started_ones_finish() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..2).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 3, 2, 2, PRICE);
    env.claim(&providers[0], &job, 1, 0);
    let cancel = env.cancel_ix(&client, &job);
    env.send(&[cancel], &[&client.key]).expect("cancel");
    assert_eq!(
        env.events::<JobCancelled>()[0].refunded,
        2 * 2 * (PRICE + fee())
    );
    let claim_new_shard = env.claim_ix(&providers[1], &job, 0, 0);
    env.assert_refused(
        &[claim_new_shard],
        &[&providers[1].wallet.key],
        code(gpushare::errors::GpuShareError::JobCancelled),
    );
    let root = honest_root(&job.job, 1);
    env.claim(&providers[1], &job, 1, 1);
    env.commit(&providers[0], &job, 1, 0, root);
    env.commit(&providers[1], &job, 1, 1, root);
    env.reveal(&providers[0], &job, 1, 0, root);
    env.reveal(&providers[1], &job, 1, 1, root);
    env.settle_shard(&job, 1);
    env.settle_assignment(&providers[0], &job, 1, 0);
    env.settle_assignment(&providers[1], &job, 1, 1);
    env.close_shard(&client, &job, 1);
    env.close_job(&client, &job);
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - 2 * (PRICE + fee())
    );
}

#[test]
fn an_expired_job_releases_honest_work_and_closes() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..2).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 2, 2, 2, PRICE);
    env.claim(&providers[0], &job, 0, 0);
    env.commit(&providers[0], &job, 0, 0, honest_root(&job.job, 0));
    env.warp(86_400);
    env.settle_assignment(&providers[0], &job, 0, 0);
    assert_eq!(env.events::<ReplicaReleased>().len(), 1);
    env.close_shard(&client, &job, 0);
    env.close_job(&client, &job);
    assert_eq!(env.balance(&client.token), WALLET_TOKENS);
    assert_eq!(env.fetch::<Provider>(&providers[0].provider).slashed, 0);
}

#[test]
fn the_job_and_delegation_paths_never_write_a_network_wide_account() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let d = env.wallet(WALLET_TOKENS);
    let job = env.job(&client, 1, 2, 2, PRICE);
    let on_job_path = [
        env.delegate_ix(&d, &p, STAKE),
        env.undelegate_ix(&d, &p, STAKE),
        env.withdraw_delegation_ix(&d, &p),
        env.claim_rewards_ix(&d, &p),
        env.set_commission_ix(&p, 100),
        env.claim_ix(&p, &job, 0, 0),
        env.commit_ix(&p, &job, 0, 0, [1; 32]),
        env.fix_challenge_ix(&job, 0, 0),
        env.reveal_ix(&p, &job, 0, 0, [1; 32], [2; 32]),
        env.prove_ix(&p, &job, 0, 0, Vec::new()),
        env.settle_shard_ix(&job, 0),
        env.settle_assignment_ix(&p, &job, 0, 0),
        env.expire_ix(&p, &job, 0, 0),
        env.give_back_ix(&p, &job, 0, 0),
    ];
    for ix in &on_job_path {
        for meta in &ix.accounts {
            assert!(
                meta.pubkey != env.treasury && meta.pubkey != env.fee_vault,
                "the treasury and the fee vault are off the job path"
            );
            if meta.pubkey == env.network || meta.pubkey == env.mint {
                assert!(
                    !meta.is_writable,
                    "network-wide account {} is writable",
                    meta.pubkey
                );
            }
        }
    }
}
