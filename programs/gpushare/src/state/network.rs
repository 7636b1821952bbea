//! The network's configuration: who tunes it, which mint it uses, and the economic parameters.
use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::GpuShareError;

/// Tunable parameters of a network, bounded by `constants`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct NetworkParams {
    /// Protocol fee on every paid shard-replica, in basis points of the price.
    pub fee_bps: u16,
    /// Stake a provider needs to register and to claim.
    pub min_stake: u64,
    /// Stake that backs one concurrent claim: a provider may hold `stake / stake_per_claim` claims.
    pub stake_per_claim: u64,
    /// Seconds between an unstake request and the withdrawal.
    pub unbonding_period: i64,
    /// Longest claim timeout (claim → commit) a job may set, in seconds.
    pub max_claim_timeout: i64,
    /// Seconds the replicas of a shard have to reveal once all of them committed.
    pub reveal_window: i64,
    /// Share of stake slashed for a fraudulent result, in basis points.
    pub fraud_slash_bps: u16,
    /// Share of stake slashed for a missed commit or reveal, in basis points.
    pub miss_slash_bps: u16,
    /// Most shards one job may have.
    pub max_shards: u16,
    /// Most replicas one job may ask for per shard.
    pub max_replicas: u8,
    /// Seconds between `update_network` and the new parameters taking effect (a change to this
    /// delay itself waits out the old one).
    pub update_delay: i64,
    /// Highest commission a provider may keep of each paid replica, in basis points.
    pub max_commission_bps: u16,
    /// Seconds before a raised commission takes effect (delegators can leave meanwhile).
    pub commission_delay: i64,
    /// Smallest amount one may delegate, and the smallest delegation left after undelegating part.
    pub min_delegation: u64,
    /// Seconds over which a payout's delegator part is released to the delegated shares, so a
    /// delegation that joins just before a payout earns only in proportion to the time it stays.
    pub reward_vesting: i64,
    /// Seconds stake that joins a provider — a delegation, or the provider's own added stake —
    /// waits before it backs claims and earns. Set to at least a claim's whole life (claim timeout,
    /// reveal window and dispute) and to `reward_vesting`, a payout reaches only stake that was at
    /// risk when its claim was made, and nothing still vesting reaches stake that joins after it.
    /// 0 joins at once.
    pub stake_warmup: i64,
    /// Milliseconds a benchmark should take a machine as fast as its provider claims.
    pub benchmark_millis: u32,
    /// Lamports anyone but the provider pays to challenge it: the provider's if it passes, refunded
    /// if it fails.
    pub benchmark_fee: u64,
    /// Slots a passed challenge counts for.
    pub proof_validity_slots: u64,
}

impl NetworkParams {
    /// Refuses parameters outside the protocol's hard limits.
    pub fn validate(&self) -> Result<()> {
        require!(self.fee_bps <= MAX_FEE_BPS, GpuShareError::FeeTooHigh);
        require!(
            u64::from(self.fraud_slash_bps) <= BPS_DENOMINATOR
                && self.miss_slash_bps <= self.fraud_slash_bps,
            GpuShareError::InvalidSlashShare
        );
        require!(
            self.min_stake > 0 && self.stake_per_claim > 0 && self.min_delegation > 0,
            GpuShareError::InvalidStakeParams
        );
        require!(
            u64::from(self.max_commission_bps) <= BPS_DENOMINATOR,
            GpuShareError::CommissionTooHigh
        );
        let window = MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS;
        require!(
            window.contains(&self.max_claim_timeout)
                && window.contains(&self.reveal_window)
                && (0..=MAX_WINDOW_SECONDS).contains(&self.unbonding_period)
                && (0..=MAX_WINDOW_SECONDS).contains(&self.update_delay)
                && (0..=MAX_WINDOW_SECONDS).contains(&self.commission_delay)
                && (0..=MAX_WINDOW_SECONDS).contains(&self.reward_vesting)
                && (0..=MAX_WINDOW_SECONDS).contains(&self.stake_warmup)
                && (1..=MAX_BENCHMARK_MILLIS).contains(&self.benchmark_millis)
                && self.proof_validity_slots > 0,
            GpuShareError::InvalidWindow
        );
        require!(
            (1..=MAX_SHARDS_LIMIT).contains(&self.max_shards)
                && (1..=MAX_REPLICAS_LIMIT).contains(&self.max_replicas),
            GpuShareError::InvalidCaps
        );
        Ok(())
    }

    /// The share `bps` of `amount`, rounded down.
    pub fn share(amount: u64, bps: u16) -> u64 {
        // amount · bps / 10⁴ ≤ amount, so the narrowing cannot truncate.
        (u128::from(amount) * u128::from(bps) / u128::from(BPS_DENOMINATOR)) as u64
    }
}

/// One gpushare network: PDA `[NETWORK, mint]`, created by the mint's authority.
#[account]
#[derive(InitSpace)]
pub struct Network {
    /// May queue new `params` and choose the treasury; cannot move escrow or stake, and cannot
    /// slash.
    pub authority: Pubkey,
    /// The token used for stake, escrow, fees and slashes.
    pub mint: Pubkey,
    /// Token account of `mint` that fees and slashed stake are collected to from the fee vault.
    pub treasury: Pubkey,
    /// Parameters in force: new jobs copy their terms from these.
    pub params: NetworkParams,
    /// Parameters queued by `update_network`, in force from `pending_effective_at`.
    pub pending: Option<NetworkParams>,
    pub pending_effective_at: i64,
    /// PDA bump.
    pub bump: u8,
    /// Bump of the fee vault PDA, where closed jobs leave fees and slashes for the treasury.
    pub fee_vault_bump: u8,
}

impl Network {
    /// Runs `f` with this network's PDA signer seeds.
    pub fn with_signer<R>(&self, f: impl FnOnce(&[&[&[u8]]]) -> R) -> R {
        let bump = [self.bump];
        let seeds: [&[u8]; 3] = [crate::seeds::NETWORK, self.mint.as_ref(), &bump];
        f(&[&seeds])
    }
}
