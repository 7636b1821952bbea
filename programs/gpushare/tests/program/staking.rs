//! Provider stake: unbonding, withdrawal, claim eligibility and caps, closing.
use gpushare::errors::GpuShareError;
use gpushare::state::*;

use crate::harness::*;

const STAKE: u64 = 2_000_000;

#[test]
fn withdraw_is_refused_before_the_unbonding_period_and_works_after() {
    let mut env = Env::new();
    let p = env.provider(STAKE);
    let unstake = env.unstake_ix(&p, 500_000);
    env.send(&[unstake], &[&p.wallet.key]).expect("unstake");
    let state: Provider = env.fetch(&p.provider);
    assert_eq!((state.stake, state.unbonding), (1_500_000, 500_000));
    assert_eq!(
        state.unbonding_ends_at,
        env.now() + default_params().unbonding_period
    );

    let withdraw = env.withdraw_ix(&p);
    env.assert_refused(
        &[withdraw.clone()],
        &[&p.wallet.key],
        code(GpuShareError::UnbondingNotOver),
    );
    env.warp(default_params().unbonding_period);
    env.send(&[withdraw.clone()], &[&p.wallet.key])
        .expect("withdraw");
    assert_eq!(env.balance(&p.wallet.token), WALLET_TOKENS - 1_500_000);
    assert_eq!(env.balance(&p.vault), 1_500_000);
    assert_eq!(env.fetch::<Provider>(&p.provider).unbonding, 0);
    env.assert_refused(
        &[withdraw],
        &[&p.wallet.key],
        code(GpuShareError::NothingUnbonding),
    );
}

#[test]
fn unstake_below_the_minimum_while_holding_a_claim_is_refused() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let job = env.job(&client, 1, 2, 2, 1_000);
    env.claim(&p, &job, 0, 0);
    let min = default_params().min_stake;
    let too_much = env.unstake_ix(&p, STAKE - min + 1);
    env.assert_refused(
        &[too_much],
        &[&p.wallet.key],
        code(GpuShareError::StakeLockedByClaims),
    );
    let fine = env.unstake_ix(&p, STAKE - min);
    env.send(&[fine], &[&p.wallet.key])
        .expect("unstake down to the minimum");
    let more = env.unstake_ix(&p, STAKE + 1);
    env.assert_refused(
        &[more],
        &[&p.wallet.key],
        code(GpuShareError::InsufficientStake),
    );
}

#[test]
fn an_unbonding_provider_cannot_claim() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let job = env.job(&client, 1, 2, 2, 1_000);
    let unstake = env.unstake_ix(&p, 1);
    env.send(&[unstake], &[&p.wallet.key]).expect("unstake");
    let claim = env.claim_ix(&p, &job, 0, 0);
    env.assert_refused(
        &[claim],
        &[&p.wallet.key],
        code(GpuShareError::ProviderUnbonding),
    );
}

#[test]
fn concurrent_claims_are_capped_by_stake() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let min = default_params().min_stake;
    let p = env.provider(min);
    let cap = min / default_params().stake_per_claim;
    let job = env.job(&client, cap as u16 + 1, 2, 2, 1_000);
    for shard in 0..cap as u16 {
        env.claim(&p, &job, shard, 0);
    }
    let one_more = env.claim_ix(&p, &job, cap as u16, 0);
    env.assert_refused(
        &[one_more.clone()],
        &[&p.wallet.key],
        code(GpuShareError::ClaimCapReached),
    );
    let add = env.add_stake_ix(&p, default_params().stake_per_claim);
    env.send(&[add], &[&p.wallet.key]).expect("add stake");
    env.send(&[one_more], &[&p.wallet.key])
        .expect("claim after adding stake");
}

#[test]
fn a_provider_closes_only_when_empty_and_gets_its_rent_back() {
    let mut env = Env::new();
    let p = env.provider(STAKE);
    let close = env.close_provider_ix(&p);
    env.assert_refused(
        &[close.clone()],
        &[&p.wallet.key],
        code(GpuShareError::ProviderNotEmpty),
    );
    let hardware = HardwareProfile {
        gpu_model: *b"NVIDIA H100 80GB HBM3\0\0\0\0\0\0\0\0\0\0\0",
        memory_mib: 81_559,
        throughput_gops: 1_979_000,
        devices: 1,
    };
    let update = env.update_hardware_ix(&p, hardware);
    env.send(&[update], &[&p.wallet.key])
        .expect("update hardware");
    assert_eq!(env.fetch::<Provider>(&p.provider).hardware, hardware);
    let unstake = env.unstake_ix(&p, STAKE);
    env.send(&[unstake], &[&p.wallet.key]).expect("unstake all");
    env.warp(default_params().unbonding_period);
    let withdraw = env.withdraw_ix(&p);
    env.send(&[withdraw], &[&p.wallet.key]).expect("withdraw");
    let lamports_before = env.lamports(&p.wallet.pubkey());
    let rewards = reward_vault_address(&p.provider);
    let rent = env.lamports(&p.vault) + env.lamports(&rewards);
    env.send(&[close], &[&p.wallet.key])
        .expect("close provider");
    assert!(
        env.exists(&p.provider) && !env.exists(&p.vault) && !env.exists(&rewards),
        "the vaults close; the account stays as the provider's record"
    );
    assert_eq!(env.lamports(&p.wallet.pubkey()), lamports_before + rent);
    assert_eq!(env.balance(&p.wallet.token), WALLET_TOKENS);
}

#[test]
fn a_provider_publishes_its_results_endpoint_and_bad_urls_are_refused_by_name() {
    let mut env = Env::new();
    let p = env.provider(STAKE);
    let other = env.provider(STAKE);
    assert_eq!(env.fetch::<Provider>(&p.provider).endpoint, "");
    let publish = env.set_endpoint_ix(&p, "https://gpu-7.example.org:9464");
    env.send(&[publish], &[&p.wallet.key]).expect("publish");
    assert_eq!(
        env.fetch::<Provider>(&p.provider).endpoint,
        "https://gpu-7.example.org:9464"
    );

    let too_long = format!("https://{}", "a".repeat(121));
    for bad in [
        "ftp://gpu-7.example.org",
        "gpu-7.example.org",
        "https://gpu 7",
        too_long.as_str(),
    ] {
        let set = env.set_endpoint_ix(&p, bad);
        env.assert_refused(
            &[set],
            &[&p.wallet.key],
            code(GpuShareError::InvalidEndpoint),
        );
    }
    // Another wallet cannot sign for this provider: its address is derived from the authority.
    let mut stolen = env.set_endpoint_ix(&p, "https://attacker.example");
    stolen.accounts[0].pubkey = other.wallet.pubkey();
    env.assert_refused(
        &[stolen],
        &[&other.wallet.key],
        code(anchor_lang::error::ErrorCode::ConstraintSeeds),
    );
    assert_eq!(
        env.fetch::<Provider>(&p.provider).endpoint,
        "https://gpu-7.example.org:9464"
    );

    let clear = env.set_endpoint_ix(&p, "");
    env.send(&[clear], &[&p.wallet.key]).expect("clear");
    assert_eq!(env.fetch::<Provider>(&p.provider).endpoint, "");
}
