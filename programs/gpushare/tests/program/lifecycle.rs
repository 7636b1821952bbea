//! Whole job lifecycles: quorum payouts, fraud and missed-claim slashing, extra replicas, refunds.
use anchor_spl::token_2022::spl_token_2022;
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
    let slash = STAKE * u64::from(default_params().fraud_slash_bps) / 10_000;
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
    env.close_job(&client, &job);
    assert_eq!(
        env.balance(&env.treasury),
        2 * fee() + slash,
        "slashes go to the treasury, not the client"
    );
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - 2 * (PRICE + fee())
    );
}

#[test]
fn all_replicas_disagree_extra_replicas_then_refund_without_slashing() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..5).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 1, 3, 2, PRICE);
    let roots: Vec<[u8; 32]> = (0..5).map(|v| forged_root(&job.job, 0, v)).collect();
    env.run_shard(
        &job,
        0,
        &[
            (&providers[0], roots[0]),
            (&providers[1], roots[1]),
            (&providers[2], roots[2]),
        ],
    );
    for extra in 3..5u8 {
        env.settle_shard(&job, 0);
        assert_eq!(env.events::<ExtraReplicaOpened>()[0].replica, extra);
        let p = &providers[usize::from(extra)];
        env.win_draw(p, &job, 0);
        env.claim(p, &job, 0, extra);
        env.commit(p, &job, 0, extra, roots[usize::from(extra)]);
        env.reveal(p, &job, 0, extra, roots[usize::from(extra)]);
    }
    env.settle_shard(&job, 0);
    assert_eq!(
        env.events::<ShardSettled>()[0].outcome,
        ShardOutcome::NoQuorum
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

/// The extra replica saw the revealed roots, so it breaks the tie for pay but convicts nobody: the
/// losing replica is released, not slashed.
#[test]
fn an_extra_replica_breaks_a_tie_for_pay_and_the_loser_is_released() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 1, 2, 2, PRICE);
    let root = honest_root(&job.job, 0);
    let forged = forged_root(&job.job, 0, 0);
    env.run_shard(&job, 0, &[(&providers[0], root), (&providers[1], forged)]);
    env.settle_shard(&job, 0);
    assert_eq!(env.events::<ExtraReplicaOpened>()[0].replica, 2);
    env.win_draw(&providers[2], &job, 0);
    env.claim(&providers[2], &job, 0, 2);
    env.commit(&providers[2], &job, 0, 2, root);
    env.reveal(&providers[2], &job, 0, 2, root);
    env.settle_shard(&job, 0);
    assert_eq!(
        env.events::<ShardSettled>()[0].outcome,
        ShardOutcome::Quorum { root }
    );
    for (replica, p) in providers.iter().enumerate() {
        env.settle_assignment(p, &job, 0, replica as u8);
    }
    let loser: Provider = env.fetch(&providers[1].provider);
    assert_eq!((loser.slashed, loser.failed, loser.completed), (0, 0, 0));
    env.close_shard(&client, &job, 0);
    env.close_job(&client, &job);
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - 2 * (PRICE + fee())
    );
    assert_eq!(env.balance(&env.treasury), 2 * fee());
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
    let miss = STAKE * u64::from(default_params().miss_slash_bps) / 10_000;
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
    assert_eq!(env.balance(&env.treasury), 2 * fee() + miss);
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
    env.close_job(&client, &job);
    let miss = STAKE * u64::from(default_params().miss_slash_bps) / 10_000;
    assert_eq!(env.balance(&env.treasury), 2 * fee() + miss);
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
        env.enter_draw_ix(&p, &job, 0),
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
