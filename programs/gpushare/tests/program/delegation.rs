//! Delegated stake and staker rewards: delegate → earn → slash → claim → undelegate → withdraw with
//! every token accounted for; commission changes; each refusal named, with nothing moved; and the
//! attacks: a delegator who wants another's rewards, a provider who wants its delegators' pay.
use gpushare::errors::GpuShareError;
use gpushare::events::{ReplicaPaid, RewardsClaimed};
use gpushare::state::*;

use crate::harness::*;

const STAKE: u64 = 2_000_000;
const DELEGATED: u64 = 6_000_000;
const PRICE: u64 = 1_000_000;
const COMMISSION_BPS: u16 = 1_000;

/// A provider with `COMMISSION_BPS` in force and one delegator of `DELEGATED`.
fn provider_with_delegator(env: &mut Env) -> (ProviderHandle, Wallet) {
    let p = env.provider(STAKE);
    let raise = env.set_commission_ix(&p, COMMISSION_BPS);
    env.send(&[raise], &[&p.wallet.key]).expect("commission");
    env.warp(default_params().commission_delay);
    let d = env.delegator(&p, DELEGATED);
    (p, d)
}

/// One honest shard replicated on `p` and `helper`, settled; `p`'s payment.
fn earn(
    env: &mut Env,
    client: &Wallet,
    p: &ProviderHandle,
    helper: &ProviderHandle,
) -> ReplicaPaid {
    let job = env.job(client, 1, 2, 2, PRICE);
    let root = honest_root(&job.job, 0);
    env.run_shard(&job, 0, &[(p, root), (helper, root)]);
    env.settle_shard(&job, 0);
    env.settle_assignment(p, &job, 0, 0);
    let paid = env.events::<ReplicaPaid>().remove(0);
    env.settle_assignment(helper, &job, 0, 1);
    paid
}

/// What one more settled payment to `p` leaves in its reward vault for the delegators (with the
/// default immediate release, the provider's own part is paid out by the settlement itself).
fn delegators_part(
    env: &mut Env,
    client: &Wallet,
    p: &ProviderHandle,
    helper: &ProviderHandle,
) -> u64 {
    let vault = reward_vault_address(&p.provider);
    let before = env.balance(&vault);
    earn(env, client, p, helper);
    env.balance(&vault) - before
}

/// A two-replica job that `p` claims and never commits to: expired, slashed for the miss.
fn miss(env: &mut Env, client: &Wallet, p: &ProviderHandle) {
    let job = env.job(client, 1, 2, 2, PRICE);
    env.claim(p, &job, 0, 0);
    env.warp(3_601);
    env.expire(p, &job, 0, 0);
}

#[test]
fn delegate_earn_slash_claim_undelegate_withdraw() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (p, d) = provider_with_delegator(&mut env);
    let helper = env.provider(STAKE);
    let state: Provider = env.fetch(&p.provider);
    assert_eq!(state.stake, STAKE + DELEGATED);
    assert_eq!(state.pool.delegated_shares, u128::from(DELEGATED));
    assert_eq!(env.balance(&p.vault), STAKE + DELEGATED);

    // Paid: 10 % commission, then the rest by stake (released at once here): 2/8 to the provider's
    // own stake, paid out with the settlement, 6/8 to the delegator through the reward vault.
    let provider_before = env.balance(&p.wallet.token);
    let paid = earn(&mut env, &client, &p, &helper);
    let (commission, rest) = (100_000, 900_000);
    assert_eq!(paid.to_stakers, rest);
    assert_eq!(
        env.balance(&p.wallet.token) - provider_before,
        commission + rest * 2 / 8
    );
    let rewards = reward_vault_address(&p.provider);
    assert_eq!(env.balance(&rewards), 675_000);

    // A missed claim slashes 5 % of the stake behind that one claim (12,500), taken pro rata from
    // everything behind the provider, the delegation included; the rewards already earned are
    // untouched.
    let miss_slash = claim_slash(default_params().miss_slash_bps);
    miss(&mut env, &client, &p);
    let state: Provider = env.fetch(&p.provider);
    assert_eq!(state.stake, 8_000_000 - miss_slash);
    let delegation = env.delegation(&d, &p).unwrap();
    assert_eq!(
        tokens_for(delegation.shares, state.stake, state.pool.shares).unwrap(),
        5_990_625
    );

    let claim = env.claim_rewards_ix(&d, &p);
    env.send(&[claim.clone()], &[&d.key]).expect("claim");
    assert_eq!(env.balance(&d.token), WALLET_TOKENS - DELEGATED + 675_000);
    assert_eq!(env.balance(&rewards), 0);
    env.assert_refused(&[claim], &[&d.key], code(GpuShareError::NothingToClaim));

    // Earn again after the slash: the split follows the stake that is left, the same 2 : 6.
    assert_eq!(delegators_part(&mut env, &client, &p, &helper), 675_000);

    // Leave: everything into unbonding, a slash while it unbonds (taken from the active stake, which
    // covers it), then the withdrawal pays what is left and the unclaimed rewards, and closes the
    // delegation.
    let worth = tokens_for(delegation.shares, state.stake, state.pool.shares).unwrap();
    let undelegate = env.undelegate_ix(&d, &p, worth);
    env.send(&[undelegate], &[&d.key]).expect("undelegate");
    let state: Provider = env.fetch(&p.provider);
    let staked = 8_000_000 - miss_slash;
    assert_eq!((state.stake, state.unbonding), (staked - worth, worth));
    assert_eq!(state.pool.delegated_shares, 0);
    miss(&mut env, &client, &p);
    let unbonding = env.fetch::<Provider>(&p.provider).unbonding;
    assert_eq!(unbonding, worth, "the stake that stayed covers a claim made after she left");
    let withdraw = env.withdraw_delegation_ix(&d, &p);
    env.assert_refused(
        &[withdraw.clone()],
        &[&d.key],
        code(GpuShareError::UnbondingNotOver),
    );
    env.warp(default_params().unbonding_period);
    let before = env.balance(&d.token);
    env.send(&[withdraw], &[&d.key]).expect("withdraw");
    assert_eq!(env.balance(&d.token) - before, unbonding + 675_000);
    assert!(
        env.delegation(&d, &p).is_none(),
        "the empty delegation closed"
    );
    let state: Provider = env.fetch(&p.provider);
    assert_eq!((state.unbonding, state.pool.delegations), (0, 0));
    assert_eq!(env.events::<RewardsClaimed>()[0].amount, 675_000);
}

#[test]
fn delegated_stake_raises_the_claim_cap() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let job = env.job(&client, 16, 2, 2, 1_000);
    let cap = STAKE / default_params().stake_per_claim;
    for shard in 0..cap as u16 {
        env.claim(&p, &job, shard, 0);
    }
    let over = env.claim_ix(&p, &job, cap as u16, 0);
    env.assert_refused(
        &[over.clone()],
        &[&p.wallet.key],
        code(GpuShareError::ClaimCapReached),
    );
    env.delegator(&p, DELEGATED);
    env.send(&[over], &[&p.wallet.key])
        .expect("claim backed by delegated stake");
}

#[test]
fn a_raise_waits_out_the_delay_and_a_cut_is_immediate() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (p, _d) = provider_with_delegator(&mut env);
    let helper = env.provider(STAKE);
    let raise = env.set_commission_ix(&p, 4_000);
    env.send(&[raise], &[&p.wallet.key]).expect("raise");
    // Not yet in force: the next payment still uses 10 %.
    assert_eq!(delegators_part(&mut env, &client, &p, &helper), 675_000);
    env.warp(default_params().commission_delay);
    // 40 %: 600,000 left, 6/8 of it to the delegator.
    assert_eq!(delegators_part(&mut env, &client, &p, &helper), 450_000);
    let cut = env.set_commission_ix(&p, 0);
    env.send(&[cut], &[&p.wallet.key]).expect("cut");
    assert_eq!(delegators_part(&mut env, &client, &p, &helper), 750_000);
    let too_high = env.set_commission_ix(&p, default_params().max_commission_bps + 1);
    env.assert_refused(
        &[too_high],
        &[&p.wallet.key],
        code(GpuShareError::CommissionTooHigh),
    );
    assert_eq!(env.fetch::<Provider>(&p.provider).pool.commission_bps, 0);
}

#[test]
fn refusals_are_named_and_move_nothing() {
    let mut env = Env::new();
    let (p, d) = provider_with_delegator(&mut env);
    let other = env.provider(STAKE);
    let stranger = env.wallet(WALLET_TOKENS);
    let min = default_params().min_delegation;
    let vault_before = env.balance(&p.vault);
    let cases = [
        (
            env.delegate_ix(&stranger, &p, min - 1),
            &stranger,
            GpuShareError::DelegationBelowMinimum,
        ),
        (
            env.delegate_ix(&p.wallet, &p, min),
            &p.wallet,
            GpuShareError::SelfDelegation,
        ),
        (
            env.undelegate_ix(&d, &p, DELEGATED - min + 1),
            &d,
            GpuShareError::DelegationBelowMinimum,
        ),
        (
            env.undelegate_ix(&d, &p, DELEGATED + 1),
            &d,
            GpuShareError::InsufficientStake,
        ),
        (
            env.withdraw_delegation_ix(&d, &p),
            &d,
            GpuShareError::NothingUnbonding,
        ),
        (
            env.claim_rewards_ix(&d, &p),
            &d,
            GpuShareError::NothingToClaim,
        ),
    ];
    for (ix, signer, error) in cases {
        env.assert_refused(&[ix], &[&signer.key], code(error));
    }
    // Another wallet's delegation: signing for it, or pointing it at another provider.
    let mut theirs = env.undelegate_ix(&stranger, &p, min);
    theirs.accounts[3].pubkey = delegation_address(&p.provider, &d.pubkey());
    env.assert_refused(
        &[theirs],
        &[&stranger.key],
        code(GpuShareError::NotDelegator),
    );
    let mut elsewhere = env.claim_rewards_ix(&d, &other);
    elsewhere.accounts[4].pubkey = delegation_address(&p.provider, &d.pubkey());
    env.assert_refused(&[elsewhere], &[&d.key], code(GpuShareError::WrongProvider));
    // Tokens of another mint.
    let mut wrong_mint = env.delegate_ix(&stranger, &p, min);
    wrong_mint.accounts[6].pubkey = env.foreign_token_account(&stranger.pubkey(), min);
    env.assert_refused(
        &[wrong_mint],
        &[&stranger.key],
        code(GpuShareError::WrongMint),
    );
    assert_eq!(env.balance(&p.vault), vault_before);
    assert_eq!(env.balance(&stranger.token), WALLET_TOKENS);
    assert_eq!(
        env.delegation(&d, &p).unwrap().shares,
        u128::from(DELEGATED)
    );
    // A provider with delegations cannot leave.
    let close = env.close_provider_ix(&p);
    env.assert_refused(
        &[close],
        &[&p.wallet.key],
        code(GpuShareError::ProviderHasDelegations),
    );
}

/// Two delegators who join at different times each earn only from their own shares since they
/// joined, and neither can take more than its share: a claim cannot outrun the vault.
#[test]
fn a_late_delegator_earns_only_from_when_it_joined() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (p, early) = provider_with_delegator(&mut env);
    let helper = env.provider(STAKE);
    earn(&mut env, &client, &p, &helper);
    let late = env.delegator(&p, DELEGATED);
    let paid = earn(&mut env, &client, &p, &helper);
    // The second payment: 900,000 after commission, by stake: the provider's own 2/14, each
    // delegator 6/14, every part rounded down (the odd unit stays in the vault).
    assert_eq!(paid.to_stakers, 900_000);
    for (who, expected) in [(&early, 675_000 + 385_714), (&late, 385_714)] {
        let claim = env.claim_rewards_ix(who, &p);
        env.send(&[claim], &[&who.key]).expect("claim");
        assert_eq!(
            env.balance(&who.token),
            WALLET_TOKENS - DELEGATED + expected
        );
    }
    assert!(
        env.balance(&reward_vault_address(&p.provider)) <= 1,
        "at most rounding dust left"
    );
}

/// A claim writes only the delegation, the reward vault and the delegator's token account: claims
/// of different delegators never wait on each other, a settlement or a network-wide account.
#[test]
fn a_claim_writes_only_the_delegation_the_reward_vault_and_the_delegators_tokens() {
    let mut env = Env::new();
    let p = env.provider(STAKE);
    let d = env.wallet(WALLET_TOKENS);
    let claim = env.claim_rewards_ix(&d, &p);
    let writable: std::collections::BTreeSet<_> = claim
        .accounts
        .iter()
        .filter(|meta| meta.is_writable)
        .map(|meta| meta.pubkey)
        .collect();
    let expected = [
        delegation_address(&p.provider, &d.pubkey()),
        reward_vault_address(&p.provider),
        d.token,
    ];
    assert_eq!(writable, expected.into_iter().collect());
}

/// After slashes of everything, shares are worth nothing: they still leave (with an amount of 0), so
/// no delegation and no provider is pinned open forever. (A slash takes one claim's stake, so it
/// takes everything only from a provider with no more than that behind each claim.)
#[test]
fn worthless_shares_never_pin_a_delegation_or_a_provider_open() {
    let mut env = Env::new();
    let min = default_params();
    let per_claim = min.min_stake + min.min_delegation;
    let total = NetworkParams {
        fraud_slash_bps: 10_000,
        stake_per_claim: per_claim / 2,
        ..min
    };
    let update = env.update_network_ix(&env.authority.pubkey(), total);
    env.send(&[update], &[&env.authority.key.insecure_clone()])
        .expect("total fraud slash");
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(min.min_stake);
    let d = env.delegator(&p, min.min_delegation);
    let honest = [env.provider(STAKE), env.provider(STAKE)];
    let job = env.job(&client, 2, 3, 2, PRICE);
    // Both claims first: after the first slash the provider's own stake is below the minimum.
    for shard in 0..2 {
        env.claim(&p, &job, shard, 0);
    }
    for shard in 0..2 {
        let root = honest_root(&job.job, shard);
        let votes = [(&p, forged_root(&job.job, shard, 0)), (&honest[0], root), (&honest[1], root)];
        for (replica, (q, _)) in votes.iter().enumerate().skip(1) {
            env.claim(q, &job, shard, replica as u8);
        }
        for (replica, (q, root)) in votes.iter().enumerate() {
            env.commit(q, &job, shard, replica as u8, *root);
        }
        for (replica, (q, root)) in votes.iter().enumerate() {
            env.reveal(q, &job, shard, replica as u8, *root);
        }
        env.settle_shard(&job, shard);
        env.settle_assignment(&p, &job, shard, 0);
    }
    let state: Provider = env.fetch(&p.provider);
    assert_eq!((state.stake, state.slashed), (0, per_claim));

    let nothing = env.undelegate_ix(&d, &p, 0);
    env.send(&[nothing], &[&d.key])
        .expect("worthless shares leave");
    let leave = env.withdraw_delegation_ix(&d, &p);
    env.send(&[leave], &[&d.key])
        .expect("the empty delegation closes");
    assert!(env.delegation(&d, &p).is_none());
    let unstake = env.unstake_ix(&p, 0);
    env.send(&[unstake], &[&p.wallet.key])
        .expect("worthless own shares leave");
    let close = env.close_provider_ix(&p);
    env.send(&[close], &[&p.wallet.key])
        .expect("the provider can leave");
    // With shares worth something, an amount of 0 is still refused.
    let q = &honest[0];
    let zero = env.unstake_ix(q, 0);
    env.assert_refused(&[zero], &[&q.wallet.key], code(GpuShareError::ZeroAmount));
}

/// A provider's own minimum cannot leave while it holds claims; a delegator may always leave (its
/// stake unbonds, slashable as before, until the unbonding period is over), so no provider holds
/// its delegators in place by filling its claim slots.
#[test]
fn a_providers_claims_hold_its_own_minimum_but_never_its_delegators() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(default_params().min_stake);
    let second_wallet = env.delegator(&p, 9_000_000);
    let job = env.job(&client, 36, 2, 2, 1_000);
    for shard in 0..36 {
        env.claim(&p, &job, shard, 0);
    }
    let own = env.unstake_ix(&p, 1);
    env.assert_refused(
        &[own],
        &[&p.wallet.key],
        code(GpuShareError::StakeLockedByClaims),
    );
    let all = env.undelegate_ix(&second_wallet, &p, 9_000_000);
    env.send(&[all], &[&second_wallet.key])
        .expect("a delegator leaves whatever its provider holds");
    let state: Provider = env.fetch(&p.provider);
    assert_eq!((state.unbonding, state.open_claims), (9_000_000, 36));
    // It stops earning at once; its tokens stay slashable until the claims they backed are over.
    env.warp(default_params().unbonding_period);
    let withdraw = env.withdraw_delegation_ix(&second_wallet, &p);
    env.assert_refused(
        &[withdraw],
        &[&second_wallet.key],
        code(GpuShareError::StakeLockedByClaims),
    );
}

/// A delegator that sees a claim of its provider fail (a commit deadline passed) and undelegates
/// before anyone expires it still pays its share of that claim's slash: the slash reaches the stake
/// that stood behind the claim, unbonding or not, so leaving early shifts nothing onto those who
/// stay. Stake that had left before a claim pays nothing of it.
#[test]
fn leaving_once_a_failure_is_public_escapes_nothing_of_its_slash() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (p, d) = provider_with_delegator(&mut env);
    let job = env.job(&client, 1, 2, 2, PRICE);
    env.claim(&p, &job, 0, 0);
    env.warp(601);
    let leave = env.undelegate_ix(&d, &p, DELEGATED);
    env.send(&[leave], &[&d.key]).expect("undelegate");
    env.expire(&p, &job, 0, 0);
    let miss = claim_slash(default_params().miss_slash_bps);
    let state: Provider = env.fetch(&p.provider);
    assert_eq!(
        (state.stake, state.unbonding),
        (STAKE - miss * 2 / 8, DELEGATED - miss * 6 / 8),
        "6/8 of the miss from the delegator that left"
    );
    // A claim made after it left: the stake that stayed pays all of it.
    let later = env.job(&client, 1, 2, 2, PRICE);
    env.claim(&p, &later, 0, 0);
    env.warp(601);
    env.expire(&p, &later, 0, 0);
    let after: Provider = env.fetch(&p.provider);
    assert_eq!(
        (state.stake - after.stake, state.unbonding - after.unbonding),
        (miss, 0)
    );
}

/// Attack 4 (hostage): a provider fills its claim slots on its own cheap job, then raises its
/// commission, counting on its delegators being unable to leave while claims are open, and on the
/// raise reaching the work they backed. Delegators leave whenever they like, and every claim is paid
/// at the commission in force when it was claimed: the delegator's part of a replica claimed before
/// the raise is the same 900,000 of 1,000,000 after it.
#[test]
fn a_commission_raise_reaches_no_claim_made_before_it_and_holds_no_delegator() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (p, d) = provider_with_delegator(&mut env);
    let helper = env.provider(STAKE);
    let cheap = env.job(&client, 20, 2, 2, 1);
    for shard in 0..20 {
        env.claim(&p, &cheap, shard, 0);
    }
    let job = env.job(&client, 1, 2, 2, PRICE);
    env.claim(&p, &job, 0, 0);
    env.claim(&helper, &job, 0, 1);
    let raise = env.set_commission_ix(&p, default_params().max_commission_bps);
    env.send(&[raise], &[&p.wallet.key]).expect("raise");
    let root = honest_root(&job.job, 0);
    for (replica, q) in [&p, &helper].into_iter().enumerate() {
        env.commit(q, &job, 0, replica as u8, root);
    }
    for (replica, q) in [&p, &helper].into_iter().enumerate() {
        env.reveal(q, &job, 0, replica as u8, root);
    }
    env.warp(default_params().commission_delay);
    assert_eq!(
        env.fetch::<Provider>(&p.provider).pool.commission_at(env.now()),
        default_params().max_commission_bps,
        "the raise is in force"
    );
    env.settle_shard(&job, 0);
    env.settle_assignment(&p, &job, 0, 0);
    assert_eq!(env.events::<ReplicaPaid>()[0].to_stakers, 900_000);
    let worth = env.delegation(&d, &p).unwrap().shares;
    let leave = env.undelegate_ix(&d, &p, worth as u64);
    env.send(&[leave], &[&d.key])
        .expect("the delegator leaves with 21 claims open");
}

/// Attack 4 (slashes to the treasury): a provider run by the treasury's owner takes 27 cheap claims
/// and lets each lapse, counting on every miss taking 5 % of everything staked behind it, the
/// delegation included, into the treasury (the attack moved 75 % of a delegator's stake). A miss
/// now takes 5 % of one claim's stake, so 27 misses take 27 × 12,500, of which the delegator bears
/// its 6/8; and slashes are burned, so the treasury's owner receives none of it.
#[test]
fn a_treasury_owning_provider_gains_nothing_by_letting_claims_lapse() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (p, d) = provider_with_delegator(&mut env);
    let cheap = env.job(&client, 27, 2, 2, 1);
    for shard in 0..27 {
        env.claim(&p, &cheap, shard, 0);
    }
    env.warp(601);
    for shard in 0..27 {
        env.expire(&p, &cheap, shard, 0);
    }
    let misses = 27 * claim_slash(default_params().miss_slash_bps);
    let state: Provider = env.fetch(&p.provider);
    assert_eq!(state.slashed, misses);
    let delegation = env.delegation(&d, &p).unwrap();
    let worth = tokens_for(delegation.shares, state.stake, state.pool.shares).unwrap();
    assert!(
        DELEGATED - worth <= misses * 6 / 8 + 1,
        "the delegator bears its share of 27 claims' misses, no more: worth {worth}"
    );
    env.warp(86_400);
    for shard in 0..27 {
        env.close_shard(&client, &cheap, shard);
    }
    let supply = env.supply();
    env.close_job(&client, &cheap);
    assert_eq!(env.balance(&env.treasury), 0, "nothing reaches the treasury");
    assert_eq!(supply - env.supply(), misses, "every slashed token is burned");
}

const VESTING: i64 = 3_600;

/// A world whose payouts reach delegators over `VESTING` seconds; a provider with a delegator who
/// has backed it all along, a second provider, and one shard of work settled up to `p`'s payment.
fn vesting_world() -> (Env, ProviderHandle, Wallet, ProviderHandle, JobHandle) {
    let mut env = Env::new();
    let params = NetworkParams {
        reward_vesting: VESTING,
        ..default_params()
    };
    let update = env.update_network_ix(&env.authority.pubkey(), params);
    env.send(&[update], &[]).expect("vesting period");
    let client = env.wallet(WALLET_TOKENS);
    let (p, steady) = provider_with_delegator(&mut env);
    let helper = env.provider(STAKE);
    let job = env.job(&client, 1, 2, 2, PRICE);
    let root = honest_root(&job.job, 0);
    env.run_shard(&job, 0, &[(&p, root), (&helper, root)]);
    env.settle_shard(&job, 0);
    (env, p, steady, helper, job)
}

/// The attack: delegate just before a payout that other stake earned, leave right after it. The
/// payout is released over the vesting period to the stake that stays, so the sniper leaves with
/// nothing, and neither the delegator who backed the work nor the provider loses a unit to it.
#[test]
fn a_delegation_made_just_before_a_payout_and_left_right_after_earns_nothing() {
    let (mut env, p, steady, _, job) = vesting_world();
    let sniper = env.delegator(&p, DELEGATED);
    env.settle_assignment(&p, &job, 0, 0);
    let paid = env.events::<ReplicaPaid>().remove(0);
    assert_eq!(paid.to_stakers, 900_000);
    let all_in = env.fetch::<Provider>(&p.provider).stake;
    let leave = env.undelegate_ix(&sniper, &p, DELEGATED);
    env.send(&[leave], &[&sniper.key]).expect("undelegate");
    assert_eq!(env.delegation(&sniper, &p).unwrap().accrual.owed, 0);
    assert_eq!(env.fetch::<Provider>(&p.provider).stake, all_in - DELEGATED);

    env.warp(VESTING);
    let snipe = env.claim_rewards_ix(&sniper, &p);
    env.assert_refused(
        &[snipe],
        &[&sniper.key],
        code(GpuShareError::NothingToClaim),
    );
    let (steady_got, provider_got) = claim_all(&mut env, &p, &steady);
    // Released over 2 own : 6 delegated shares, as if the sniper had never come.
    assert!(steady_got.abs_diff(675_000) <= 1, "{steady_got}");
    assert!(provider_got.abs_diff(225_000) <= 1, "{provider_got}");
    assert!(env.balance(&reward_vault_address(&p.provider)) <= 1);
}

/// `vesting_world` where stake that joins waits out a warm-up as long as the vesting period.
fn warming_world() -> (Env, ProviderHandle, Wallet, ProviderHandle, JobHandle) {
    let (mut env, p, steady, helper, job) = vesting_world();
    let params = NetworkParams {
        reward_vesting: VESTING,
        stake_warmup: VESTING,
        ..default_params()
    };
    let update = env.update_network_ix(&env.authority.pubkey(), params);
    env.send(&[update], &[]).expect("warm-up");
    (env, p, steady, helper, job)
}

/// Attack 5: delegate right after a payout and collect what is still vesting of it, with no claim
/// ever at risk (the attack took 810,000 of a 900,000 payout; the delegator who backed the work got
/// 67,500). New stake waits out a warm-up as long as the vesting period before it joins the shares,
/// so by then the payout has gone, in full, to the stake that backed the work.
#[test]
fn a_delegation_made_right_after_a_payout_takes_none_of_what_is_still_vesting() {
    let (mut env, p, steady, _, job) = warming_world();
    env.settle_assignment(&p, &job, 0, 0);
    assert_eq!(env.events::<ReplicaPaid>()[0].to_stakers, 900_000);
    let sniper = env.wallet(WALLET_TOKENS);
    let snipe = env.delegate_ix(&sniper, &p, 10 * DELEGATED);
    env.send(&[snipe], &[&sniper.key]).expect("delegate");
    assert_eq!(
        env.fetch::<Provider>(&p.provider).stake,
        STAKE + DELEGATED,
        "the new stake backs nothing yet"
    );
    let early = env.activate_ix(&p, Some(&sniper));
    env.assert_refused(&[early], &[&sniper.key], code(GpuShareError::StillWarming));
    env.warp(VESTING);
    let activate = env.activate_ix(&p, Some(&sniper));
    env.send(&[activate], &[&sniper.key])
        .expect("it joins once warm");
    let claim = env.claim_rewards_ix(&sniper, &p);
    env.assert_refused(&[claim], &[&sniper.key], code(GpuShareError::NothingToClaim));
    let (steady_got, provider_got) = claim_all(&mut env, &p, &steady);
    assert!(steady_got.abs_diff(675_000) <= 1, "{steady_got}");
    assert!(provider_got.abs_diff(225_000) <= 1, "{provider_got}");
}

/// The provider's version: stake more of its own right after its payout. Its added stake warms
/// too, so the delegator's 6/8 of the payout is untouched.
#[test]
fn a_provider_staking_right_after_its_payout_takes_nothing_from_its_delegators() {
    let (mut env, p, steady, _, job) = warming_world();
    env.settle_assignment(&p, &job, 0, 0);
    let stake = env.add_stake_ix(&p, 10 * DELEGATED);
    env.send(&[stake], &[&p.wallet.key]).expect("add stake");
    env.warp(VESTING);
    let activate = env.activate_ix(&p, None);
    env.send(&[activate], &[&p.wallet.key])
        .expect("its own stake joins");
    let (steady_got, provider_got) = claim_all(&mut env, &p, &steady);
    assert!(steady_got.abs_diff(675_000) <= 1, "{steady_got}");
    assert!(provider_got.abs_diff(225_000) <= 1, "{provider_got}");
    assert_eq!(
        env.fetch::<Provider>(&p.provider).stake,
        STAKE + DELEGATED + 10 * DELEGATED
    );
}

/// A warmed delegation joins only when its delegator says so, and only within the window after its
/// warm-up: nobody can join someone else's stake to push a pending slash onto it, and nobody can keep
/// warmed stake waiting for a payout worth joining — after the window it must warm again.
#[test]
fn warmed_stake_joins_only_by_its_holder_and_only_within_its_window() {
    let (mut env, p, _, _, _) = warming_world();
    let (d, stranger) = (env.wallet(WALLET_TOKENS), env.wallet(WALLET_TOKENS));
    let delegate = env.delegate_ix(&d, &p, DELEGATED);
    env.send(&[delegate], &[&d.key]).expect("delegate");
    env.warp(VESTING);
    let mut pushed = env.activate_ix(&p, Some(&d));
    pushed.accounts[0].pubkey = stranger.pubkey();
    env.assert_refused(&[pushed], &[&stranger.key], code(GpuShareError::NotStakeHolder));
    env.warp(gpushare::constants::ACTIVATION_WINDOW_SECONDS + 1);
    let late = env.activate_ix(&p, Some(&d));
    env.assert_refused(&[late.clone()], &[&d.key], code(GpuShareError::ActivationLapsed));
    // More stake starts the whole of it warming again; it joins a warm-up later.
    let more = env.delegate_ix(&d, &p, DELEGATED);
    env.send(&[more], &[&d.key]).expect("delegate more");
    env.assert_refused(&[late.clone()], &[&d.key], code(GpuShareError::StillWarming));
    env.warp(VESTING);
    env.send(&[late], &[&d.key]).expect("joins in its new window");
    assert_eq!(
        env.delegation(&d, &p).unwrap().shares,
        u128::from(2 * DELEGATED),
        "shares at the unslashed price"
    );
}

/// Stake that is still warming backs no claim (the cap does not count it), is slashed for nothing
/// (it stood behind no claim) and comes back whenever its delegator asks.
#[test]
fn warming_stake_backs_nothing_is_slashed_for_nothing_and_leaves_at_once() {
    let (mut env, p, _, _, _) = warming_world();
    let client = env.wallet(WALLET_TOKENS);
    let d = env.wallet(WALLET_TOKENS);
    let delegate = env.delegate_ix(&d, &p, DELEGATED);
    env.send(&[delegate], &[&d.key]).expect("delegate");
    let before: Provider = env.fetch(&p.provider);
    assert_eq!((before.warming, before.stake), (DELEGATED, STAKE + DELEGATED));
    miss(&mut env, &client, &p);
    let after: Provider = env.fetch(&p.provider);
    assert_eq!(after.warming, DELEGATED, "untouched by the slash");
    let tokens = env.balance(&d.token);
    let leave = env.withdraw_delegation_ix(&d, &p);
    env.send(&[leave], &[&d.key]).expect("take it back at once");
    assert_eq!(env.balance(&d.token) - tokens, DELEGATED);
    assert!(env.delegation(&d, &p).is_none(), "nothing left: closed");
    assert_eq!(env.fetch::<Provider>(&p.provider).warming, 0);
}

/// Warming stake comes back even while the same delegation's unbonding stake must stay (its period
/// not over, or the provider's open claims still need it); the delegation stays open for that and
/// closes when it leaves.
#[test]
fn warming_stake_comes_back_while_unbonding_stake_must_stay() {
    let (mut env, p, steady, _, _) = warming_world();
    let client = env.wallet(WALLET_TOKENS);
    // 12 claims stand for 3,000,000: once the delegator leaves, its unbonding stake must stay.
    let job = env.job(&client, 12, 2, 2, PRICE);
    for shard in 0..12 {
        env.claim(&p, &job, shard, 0);
    }
    let leave = env.undelegate_ix(&steady, &p, DELEGATED);
    env.send(&[leave], &[&steady.key]).expect("undelegate");
    for wait in [0, default_params().unbonding_period] {
        let more = env.delegate_ix(&steady, &p, DELEGATED);
        env.send(&[more], &[&steady.key]).expect("delegate again, warming");
        env.warp(wait);
        let tokens = env.balance(&steady.token);
        let withdraw = env.withdraw_delegation_ix(&steady, &p);
        env.send(&[withdraw], &[&steady.key])
            .expect("the warming stake comes back");
        assert_eq!(env.balance(&steady.token) - tokens, DELEGATED);
        let left = env
            .delegation(&steady, &p)
            .expect("still open for its unbonding stake");
        assert_eq!(left.unbonding_shares, u128::from(DELEGATED));
    }
}

/// What `steady` and `p`'s own stake claim now.
fn claim_all(env: &mut Env, p: &ProviderHandle, steady: &Wallet) -> (u64, u64) {
    let before = [env.balance(&steady.token), env.balance(&p.wallet.token)];
    let claim = env.claim_rewards_ix(steady, p);
    env.send(&[claim], &[&steady.key]).expect("claim");
    let own = env.claim_provider_rewards_ix(p);
    env.send(&[own], &[&p.wallet.key]).expect("provider claim");
    (
        env.balance(&steady.token) - before[0],
        env.balance(&p.wallet.token) - before[1],
    )
}

/// A delegation that stays half the vesting period earns its share of half the payout; the stake
/// that stays throughout earns the rest. Claims in between change nothing.
#[test]
fn rewards_follow_the_time_each_delegation_backed_the_provider() {
    let (mut env, p, steady, _, job) = vesting_world();
    let brief = env.delegator(&p, DELEGATED);
    env.settle_assignment(&p, &job, 0, 0);
    let before = env.balance(&brief.token);
    env.warp(VESTING / 4);
    let (early_steady, early_own) = claim_all(&mut env, &p, &steady);
    env.warp(VESTING / 4);
    let leave = env.undelegate_ix(&brief, &p, DELEGATED);
    env.send(&[leave], &[&brief.key])
        .expect("undelegate halfway");
    env.warp(VESTING);
    let claim = env.claim_rewards_ix(&brief, &p);
    env.send(&[claim], &[&brief.key]).expect("claim");
    let brief_got = env.balance(&brief.token) - before;
    let (late_steady, late_own) = claim_all(&mut env, &p, &steady);
    // 450,000 released over 2 : 6 : 6 shares while all three were there, 450,000 over 2 : 6 after.
    assert!(brief_got.abs_diff(192_857) <= 1, "{brief_got}");
    assert!((early_steady + late_steady).abs_diff(192_857 + 337_500) <= 2);
    assert!((early_own + late_own).abs_diff(64_285 + 112_500) <= 2);
    assert!(env.balance(&reward_vault_address(&p.provider)) <= 3);
}

/// The provider's version of the attack: stake a lot just before its own payout, unstake right
/// after. Its own shares take no more than they backed: the delegator still receives its 6/8.
#[test]
fn a_provider_staking_just_before_its_payout_takes_nothing_from_its_delegators() {
    let (mut env, p, steady, _, job) = vesting_world();
    let extra = 10 * DELEGATED;
    let stake = env.add_stake_ix(&p, extra);
    env.send(&[stake], &[&p.wallet.key]).expect("add stake");
    env.settle_assignment(&p, &job, 0, 0);
    let unstake = env.unstake_ix(&p, extra);
    env.send(&[unstake], &[&p.wallet.key]).expect("unstake");
    env.warp(VESTING);
    let (steady_got, provider_got) = claim_all(&mut env, &p, &steady);
    assert!(steady_got.abs_diff(675_000) <= 1, "{steady_got}");
    assert!(provider_got.abs_diff(225_000) <= 2, "{provider_got}");
}

/// When the last active stake leaves mid-release it takes the rest of the release with it, so a
/// wallet that delegates to the emptied provider finds nothing waiting for it.
#[test]
fn the_last_stake_to_leave_takes_the_rest_of_the_release() {
    let (mut env, p, steady, _, job) = vesting_world();
    env.settle_assignment(&p, &job, 0, 0);
    env.warp(VESTING / 2);
    let leave = env.undelegate_ix(&steady, &p, DELEGATED);
    env.send(&[leave], &[&steady.key]).expect("undelegate");
    let unstake = env.unstake_ix(&p, STAKE);
    env.send(&[unstake], &[&p.wallet.key]).expect("unstake all");
    let state: Provider = env.fetch(&p.provider);
    assert_eq!(
        (state.pool.shares, state.pool.vesting_at(env.now())),
        (0, 0)
    );
    let newcomer = env.delegator(&p, DELEGATED);
    env.warp(VESTING);
    let snipe = env.claim_rewards_ix(&newcomer, &p);
    env.assert_refused(
        &[snipe],
        &[&newcomer.key],
        code(GpuShareError::NothingToClaim),
    );
    let (steady_got, provider_got) = claim_all(&mut env, &p, &steady);
    // Half released over 2 : 6 shares; the other half to the provider's own stake, the last to go.
    assert!(steady_got.abs_diff(337_500) <= 1, "{steady_got}");
    assert!(
        provider_got.abs_diff(112_500 + 450_000) <= 2,
        "{provider_got}"
    );
}
