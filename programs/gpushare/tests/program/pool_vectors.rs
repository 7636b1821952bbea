//! Test vectors of the program's share and reward arithmetic for its copies in other languages: the
//! dashboard's `app/web/src/model.ts`, which `tests/dashboard-model.ts` checks against them. Every
//! answer is computed here by the program's own state methods, on pools its own methods built where
//! they can, and committed as `idl/pool-vectors.json`, beside the IDL and the compute-unit table
//! that other languages read too. The test fails while the committed file differs from what the
//! program computes; `GPUSHARE_WRITE_TABLES=1 cargo test-all --test program pool_vectors` rewrites it.
use anchor_lang::prelude::{AnchorDeserialize, Pubkey, Space};
use gpushare::constants::{MAX_SLOTS_PER_SHARD, REWARD_SCALE};
use gpushare::state::*;

use crate::harness::default_params;

/// The committed vectors.
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../idl/pool-vectors.json");

/// When the large cases' releases begin (a 2025 unix time, as the chain's clock reads).
const T0: i64 = 1_750_000_000;

/// `GPUSHARE_WRITE_TABLES=1 cargo test-all --test program pool_vectors` rewrites the committed file.
#[test]
fn the_committed_pool_vectors_are_what_the_program_computes() {
    let mut expected =
        serde_json::to_string_pretty(&vectors()).expect("the vectors are plain JSON values");
    expected.push('\n');
    if std::env::var_os("GPUSHARE_WRITE_TABLES").is_some() {
        std::fs::write(PATH, &expected).expect("write idl/pool-vectors.json");
    }
    let committed = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        committed == expected,
        "idl/pool-vectors.json differs from what the program computes: run \
         GPUSHARE_WRITE_TABLES=1 cargo test-all --test program pool_vectors"
    );
}

/// Every section, named after the `model.ts` function its vectors check.
fn vectors() -> Json {
    object(vec![
        (
            "about",
            text(
                "Written by programs/gpushare/tests/program/pool_vectors.rs from the program's own \
                 methods (GPUSHARE_WRITE_TABLES=1 cargo test-all --test program pool_vectors); \
                 checked against app/web/src/model.ts by tests/dashboard-model.ts. Numbers are \
                 decimal strings.",
            ),
        ),
        (
            "constants",
            object(vec![
                ("rewardScale", number(REWARD_SCALE)),
                ("maxSlotsPerShard", number(MAX_SLOTS_PER_SHARD)),
            ]),
        ),
        ("tokensFor", tokens_for_vectors()),
        ("releasedRewardPerShare", released_vectors()),
        ("claimable", claimable_vectors()),
        ("commissionAt", commission_vectors()),
        (
            "isActive",
            provider_vectors(|p| ("active", Json::Bool(p.active))),
        ),
        (
            "delegatedStake",
            provider_vectors(|p| ("delegatedStake", number(p.delegated_stake))),
        ),
        (
            "delegationWorth",
            delegation_vectors(|d| ("worth", number(d.worth))),
        ),
        (
            "delegationUnbonding",
            delegation_vectors(|d| ("unbonding", number(d.unbonding))),
        ),
    ])
}

/// `tokens_for`, on its own.
fn tokens_for_vectors() -> Json {
    let emptied = shares_for(1_000, 0, 5_000).expect("shares minted into an emptied class");
    let cases: [(&str, u128, u64, u128); 11] = [
        (
            "one virtual share and token on each side: 3 × 11 / 4",
            3,
            10,
            3,
        ),
        ("never more than the class holds", 5, 10, 3),
        ("an empty class", 0, 0, 0),
        ("no part", 0, 1_000, 1_000),
        ("one to one", 500, 1_000, 1_000),
        ("half the tokens slashed", 1_000, 500, 1_000),
        (
            "old shares of an emptied class stay worthless",
            5_000,
            1_000,
            5_000 + emptied,
        ),
        (
            "the shares minted into an emptied class",
            emptied,
            1_000,
            5_000 + emptied,
        ),
        (
            "u64::MAX tokens and shares",
            u64::MAX.into(),
            u64::MAX,
            u64::MAX.into(),
        ),
        (
            "2¹⁰⁰ of 2¹¹⁰ shares on 2²⁰ tokens",
            1 << 100,
            1 << 20,
            1 << 110,
        ),
        ("the u128 limit", u128::MAX, 0, u128::MAX - 1),
    ];
    list(cases.map(|(name, part, tokens, shares)| {
        let worth = tokens_for(part, tokens, shares).expect("a worth without overflow");
        object(vec![
            ("name", text(name)),
            ("part", number(part)),
            ("tokens", number(tokens)),
            ("shares", number(shares)),
            ("worth", number(worth)),
        ])
    }))
}

/// A pool of `shares` active shares, `delegated` of them delegations', at a 5 % commission, that
/// `vest` gave `rewards` tokens to release from `from` over `period` seconds.
fn vesting(shares: u128, delegated: u128, rewards: u64, from: i64, period: i64) -> StakePool {
    let mut pool = StakePool {
        shares,
        delegated_shares: delegated,
        commission_bps: 500,
        ..StakePool::default()
    };
    pool.vest(rewards, from, period).expect("vest");
    pool
}

/// The pool most cases read: 1,000 active shares, 400 of them delegated, releasing 1,000 tokens
/// from 100 s to 200 s.
fn releasing() -> StakePool {
    vesting(1_000, 400, 1_000, 100, 100)
}

/// `pool` brought up to `now` (released, and its provider's own earnings accrued), as a join of
/// the provider's own stake leaves it.
fn caught_up(mut pool: StakePool, now: i64) -> StakePool {
    pool.catch_up(now, true, 0).expect("catch up");
    pool
}

/// Three shares, one delegated, releasing 11 tokens over 7 s, caught up at 3 s (4 tokens released):
/// the releases do not divide evenly, so the accumulator carries a remainder and the provider's own
/// accrual a carry.
fn uneven() -> StakePool {
    caught_up(vesting(3, 1, 11, 0, 7), 3)
}

/// 1,000 tokens released over 100 s, then 500 more paid at 50 s: the rest of the first and the
/// second are merged into one release, until a time weighted by the two.
fn merged() -> StakePool {
    let mut pool = vesting(1_000, 400, 1_000, 0, 100);
    pool.vest(500, 50, 100).expect("vest");
    pool
}

/// u64::MAX tokens released over a year to a million shares: the products pass 2⁶⁴.
fn a_years_release() -> StakePool {
    vesting(1_000_000, 400_000, u64::MAX, T0, 31_536_000)
}

/// One share whose accumulator reaches u128::MAX once its release of u64::MAX tokens is over.
fn full_accumulator() -> StakePool {
    let mut pool = StakePool {
        shares: 1,
        reward_per_share: u128::MAX - u128::from(u64::MAX) * REWARD_SCALE,
        ..StakePool::default()
    };
    pool.vest(u64::MAX, 0, 10).expect("vest");
    pool
}

/// u64::MAX tokens released over the last 1,000 seconds an i64 can count.
fn at_the_end_of_time() -> StakePool {
    vesting(1_000, 400, u64::MAX, i64::MAX - 1_000, 1_000)
}

/// 2¹⁰⁰ + 7 shares (as many as stake joining emptied classes mints), half delegated: a million
/// tokens paid at once leave all of themselves in the remainder, then u64::MAX more are released.
fn many_shares() -> StakePool {
    let mut pool = vesting((1 << 100) + 7, 1 << 99, 1_000_000, T0, 0);
    pool.vest(u64::MAX, T0 + 10, 100).expect("vest");
    pool
}

/// `StakePool::released_at`'s accumulator.
fn released_vectors() -> Json {
    let mut stale = releasing();
    stale.vesting_released = 600;
    let mut empty = releasing();
    (empty.shares, empty.delegated_shares) = (0, 0);
    let cases = [
        ("before the release starts", releasing(), 50),
        ("at its start", releasing(), 100),
        ("half-way", releasing(), 150),
        ("a second before its end", releasing(), 199),
        ("at its end", releasing(), 200),
        ("long after", releasing(), 10_000),
        (
            "half released earlier, three quarters due",
            caught_up(releasing(), 150),
            175,
        ),
        ("no more due than released", stale, 150),
        ("no active shares", empty, 150),
        (
            "a release of no period",
            vesting(1_000, 400, 1_000, 100, 0),
            100,
        ),
        (
            "a remainder that makes the next release reach one more",
            uneven(),
            4,
        ),
        ("with a remainder", uneven(), 5),
        ("with a remainder, at its end", uneven(), 7),
        ("a merged release, part-way", merged(), 60),
        ("a merged release, at its end", merged(), 125),
        (
            "u64::MAX tokens, a third of a year in",
            a_years_release(),
            T0 + 10_512_000,
        ),
        ("the accumulator reaching u128::MAX", full_accumulator(), 10),
        (
            "a second before i64::MAX",
            at_the_end_of_time(),
            i64::MAX - 1,
        ),
        ("at i64::MAX", at_the_end_of_time(), i64::MAX),
        (
            "2¹⁰⁰ shares with a remainder, part-way",
            many_shares(),
            T0 + 60,
        ),
        (
            "2¹⁰⁰ shares with a remainder, at the end",
            many_shares(),
            T0 + 110,
        ),
    ];
    list(cases.map(|(name, pool, now)| {
        let released = pool.released_at(now).expect("released");
        object(vec![
            ("name", text(name)),
            ("pool", pool_json(&pool)),
            ("now", number(now)),
            ("rewardPerShare", number(released.reward_per_share)),
        ])
    }))
}

/// `Delegation::accrue` (what `claim_rewards` pays) and `StakePool::own_owed_at` (what
/// `claim_provider_rewards` pays), as the whole tokens a holder of shares with an accrual can claim.
fn claimable_vectors() -> Json {
    let accrual = |paid_per_share, carry, owed| Accrual {
        paid_per_share,
        carry,
        owed,
    };
    let mut carried = releasing();
    carried.reward_per_share = 1;
    let delegations = [
        (
            "400 of 1,000 shares half-way, 7 owed before",
            releasing(),
            accrual(0, 0, 7),
            400,
            150,
        ),
        (
            "paid up to the released accumulator",
            releasing(),
            accrual(REWARD_SCALE, 0, 0),
            400,
            500,
        ),
        (
            "before the release starts",
            releasing(),
            accrual(0, 0, 0),
            400,
            50,
        ),
        (
            "a carry that makes a whole token",
            carried,
            accrual(0, REWARD_SCALE - 1, 0),
            1,
            100,
        ),
        (
            "a carry just short of one",
            carried,
            accrual(0, REWARD_SCALE - 2, 0),
            1,
            100,
        ),
        (
            "no shares, owed only",
            releasing(),
            accrual(0, REWARD_SCALE - 1, 5),
            0,
            150,
        ),
        (
            "one of three uneven shares",
            uneven(),
            accrual(0, 0, 0),
            1,
            7,
        ),
        (
            "owed reaching u64::MAX",
            releasing(),
            accrual(0, 0, u64::MAX - 400),
            400,
            200,
        ),
        (
            "u64::MAX tokens over a year",
            a_years_release(),
            accrual(0, 0, 0),
            400_000,
            T0 + 10_512_000,
        ),
        (
            "2⁹⁹ of 2¹⁰⁰ shares",
            many_shares(),
            accrual(0, 0, 0),
            1 << 99,
            T0 + 110,
        ),
    ];
    let delegations = delegations.map(|(name, pool, accrual, shares, now)| {
        let mut holder = delegation(shares, 0, accrual);
        holder.accrue(&pool, now).expect("accrue");
        claimable_json(name, &pool, &accrual, shares, now, holder.accrual.owed)
    });
    let own = [
        ("the provider's own, half-way", releasing(), 150),
        (
            "the provider's own, caught up half-way, at the end",
            caught_up(releasing(), 150),
            200,
        ),
        ("the provider's own, with a carry", uneven(), 5),
        (
            "the provider's own, with no shares",
            StakePool::default(),
            0,
        ),
        ("the provider's own, 2¹⁰⁰ shares", many_shares(), T0 + 60),
    ];
    let own = own.map(|(name, pool, now)| {
        let owed = pool.own_owed_at(now).expect("own owed");
        claimable_json(name, &pool, &pool.own, pool.own_shares(), now, owed)
    });
    list(delegations.into_iter().chain(own))
}

/// One claimable vector: `claimable` whole tokens for `shares` with `accrual` in `pool` at `now`.
fn claimable_json(
    name: &str,
    pool: &StakePool,
    accrual: &Accrual,
    shares: u128,
    now: i64,
    claimable: u64,
) -> Json {
    object(vec![
        ("name", text(name)),
        ("pool", pool_json(pool)),
        ("accrual", accrual_json(accrual)),
        ("shares", number(shares)),
        ("now", number(now)),
        ("claimable", number(claimable)),
    ])
}

/// `StakePool::commission_at`.
fn commission_vectors() -> Json {
    let pending = |bps, at| StakePool {
        pending_commission_bps: Some(bps),
        commission_effective_at: at,
        ..releasing()
    };
    let cases = [
        ("none pending", releasing(), 0),
        (
            "a raise, a second before it applies",
            pending(1_000, 500),
            499,
        ),
        ("a raise, when it applies", pending(1_000, 500), 500),
        ("a raise, after", pending(1_000, 500), 501),
        ("a pending 0 %", pending(0, 500), 600),
        (
            "a raise at i64::MAX, a second before",
            pending(1_000, i64::MAX),
            i64::MAX - 1,
        ),
        (
            "a raise at i64::MAX, then",
            pending(1_000, i64::MAX),
            i64::MAX,
        ),
    ];
    list(cases.map(|(name, pool, now)| {
        object(vec![
            ("name", text(name)),
            ("pool", pool_json(&pool)),
            ("now", number(now)),
            ("commissionBps", number(pool.commission_at(now))),
        ])
    }))
}

/// A provider case with the answers its `model.ts` functions must give.
struct ProviderCase {
    name: &'static str,
    provider: Provider,
    min_stake: u64,
    /// `Provider::check_active` under a network minimum of `min_stake` lets it take work.
    active: bool,
    /// Tokens of its active stake that the delegations' shares are worth.
    delegated_stake: u64,
}

/// `Provider::check_active` and the delegations' part of the active stake (`tokens_for` of the
/// delegated shares), each vector answering with `answer`.
fn provider_vectors(answer: fn(&ProviderCase) -> (&'static str, Json)) -> Json {
    let mut leaving = provider(1_000, 0, releasing());
    leaving.unbond(1, 600, false, 150).expect("unbond");
    let mut slashed = provider(1_000, 0, releasing());
    slashed.slash(5_000, 1_000, 0);
    let all_own = StakePool {
        shares: u64::MAX.into(),
        ..StakePool::default()
    };
    let cases = [
        (
            "its own stake exactly the minimum",
            provider(1_000, 0, releasing()),
            600,
        ),
        (
            "a token short: delegations do not count",
            provider(1_000, 0, releasing()),
            601,
        ),
        ("leaving: a token of its own unbonding", leaving, 1),
        (
            "half its stake slashed, at the minimum",
            slashed.clone(),
            300,
        ),
        ("half its stake slashed, a token short", slashed, 301),
        ("nothing staked", provider(0, 0, StakePool::default()), 1),
        (
            "nothing staked, a minimum of 0",
            provider(0, 0, StakePool::default()),
            0,
        ),
        (
            "u64::MAX tokens, all its own",
            provider(u64::MAX, 0, all_own),
            u64::MAX,
        ),
        (
            "2¹⁰⁰ shares on a million tokens",
            provider(1_000_000, 0, many_shares()),
            500_000,
        ),
    ];
    list(cases.map(|(name, provider, min_stake)| {
        let params = NetworkParams {
            min_stake,
            ..default_params()
        };
        let case = ProviderCase {
            name,
            active: provider.check_active(&params).is_ok(),
            delegated_stake: tokens_for(
                provider.pool.delegated_shares,
                provider.stake,
                provider.pool.shares,
            )
            .expect("delegated stake"),
            provider,
            min_stake,
        };
        object(vec![
            ("name", text(case.name)),
            ("provider", provider_json(&case.provider)),
            ("minStake", number(case.min_stake)),
            answer(&case),
        ])
    }))
}

/// A delegation case with the answers its `model.ts` functions must give.
struct DelegationCase {
    name: &'static str,
    delegation: Delegation,
    provider: Provider,
    /// What its active shares are worth (as `undelegate` values them).
    worth: u64,
    /// What its unbonding shares are worth (what `withdraw_delegation` pays for them).
    unbonding: u64,
}

/// A delegation's worth and its unbonding stake's, each vector answering with `answer`.
fn delegation_vectors(answer: fn(&DelegationCase) -> (&'static str, Json)) -> Json {
    let undelegated = || {
        let mut p = provider(1_000, 0, releasing());
        let (burned, minted) = p.unbond(100, 400, true, 150).expect("unbond");
        (p, delegation(400 - burned, minted, Accrual::default()))
    };
    let (after_undelegating, part_unbonding) = undelegated();
    let (mut slashed, slashed_unbonding) = undelegated();
    slashed.slash(5_000, 1_000, 0);
    let uneven_class = StakePool {
        shares: 3,
        delegated_shares: 3,
        ..StakePool::default()
    };
    let all_delegated = StakePool {
        shares: u64::MAX.into(),
        delegated_shares: u64::MAX.into(),
        unbonding_shares: u64::MAX.into(),
        ..StakePool::default()
    };
    let nothing = delegation(0, 0, Accrual::default());
    let cases = [
        (
            "400 of 1,000 shares",
            provider(1_000, 0, releasing()),
            delegation(400, 0, Accrual::default()),
        ),
        (
            "after undelegating 100 tokens",
            after_undelegating,
            part_unbonding,
        ),
        (
            "after a slash reaching the unbonding stake",
            slashed,
            slashed_unbonding,
        ),
        (
            "three shares of ten tokens",
            provider(10, 0, uneven_class),
            delegation(3, 0, Accrual::default()),
        ),
        (
            "u64::MAX tokens and shares",
            provider(u64::MAX, u64::MAX, all_delegated),
            delegation(u64::MAX.into(), u64::MAX.into(), Accrual::default()),
        ),
        ("nothing", provider(1_000, 0, releasing()), nothing),
    ];
    list(cases.map(|(name, provider, delegation)| {
        let worth =
            tokens_for(delegation.shares, provider.stake, provider.pool.shares).expect("worth");
        let unbonding = provider
            .clone()
            .withdraw_unbonding(delegation.unbonding_shares, true)
            .expect("withdraw unbonding");
        let case = DelegationCase {
            name,
            delegation,
            provider,
            worth,
            unbonding,
        };
        object(vec![
            ("name", text(case.name)),
            (
                "delegation",
                object(vec![
                    ("shares", number(case.delegation.shares)),
                    ("unbondingShares", number(case.delegation.unbonding_shares)),
                ]),
            ),
            ("provider", provider_json(&case.provider)),
            answer(&case),
        ])
    }))
}

/// A provider with `stake` active and `unbonding` unbonding tokens shared as `pool` says, nothing
/// else set.
fn provider(stake: u64, unbonding: u64, pool: StakePool) -> Provider {
    let zeroes = [0u8; 8 + Provider::INIT_SPACE];
    let mut provider =
        Provider::deserialize(&mut &zeroes[..]).expect("zeroes decode as a provider");
    provider.stake = stake;
    provider.unbonding = unbonding;
    provider.pool = pool;
    provider
}

/// A delegation of `shares` active and `unbonding_shares` unbonding shares with `accrual`.
fn delegation(shares: u128, unbonding_shares: u128, accrual: Accrual) -> Delegation {
    Delegation {
        delegator: Pubkey::default(),
        provider: Pubkey::default(),
        shares,
        accrual,
        unbonding_shares,
        unbonding_ends_at: 0,
        warming: Warming::default(),
        bump: 0,
    }
}

/// The pool fields `model.ts`'s `Pool` reads, by its names.
fn pool_json(pool: &StakePool) -> Json {
    object(vec![
        ("shares", number(pool.shares)),
        ("delegatedShares", number(pool.delegated_shares)),
        ("unbondingShares", number(pool.unbonding_shares)),
        ("ownUnbondingShares", number(pool.own_unbonding_shares)),
        ("commissionBps", number(pool.commission_bps)),
        (
            "pendingCommissionBps",
            pool.pending_commission_bps.map_or(Json::Null, number),
        ),
        (
            "commissionEffectiveAt",
            number(pool.commission_effective_at),
        ),
        ("rewardPerShare", number(pool.reward_per_share)),
        ("rewardRemainder", number(pool.reward_remainder)),
        ("vestingTotal", number(pool.vesting_total)),
        ("vestingReleased", number(pool.vesting_released)),
        ("vestingFrom", number(pool.vesting_from)),
        ("vestingUntil", number(pool.vesting_until)),
    ])
}

/// An accrual, by `model.ts`'s names.
fn accrual_json(accrual: &Accrual) -> Json {
    object(vec![
        ("paidPerShare", number(accrual.paid_per_share)),
        ("carry", number(accrual.carry)),
        ("owed", number(accrual.owed)),
    ])
}

/// The provider fields `model.ts`'s `PoolHolder` reads.
fn provider_json(provider: &Provider) -> Json {
    object(vec![
        ("stake", number(provider.stake)),
        ("unbonding", number(provider.unbonding)),
        ("pool", pool_json(&provider.pool)),
    ])
}

/// A JSON value.
type Json = serde_json::Value;

/// An object of `members`.
fn object(members: Vec<(&str, Json)>) -> Json {
    Json::Object(
        members
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

/// A string value.
fn text(value: &str) -> Json {
    Json::String(value.to_owned())
}

/// A number, as a decimal string, which JavaScript reads into a BigInt without rounding.
fn number(value: impl ToString) -> Json {
    Json::String(value.to_string())
}

/// A list of values.
fn list(items: impl IntoIterator<Item = Json>) -> Json {
    Json::Array(items.into_iter().collect())
}
