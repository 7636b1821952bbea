//! A provider's registration: stake, unbonding, open claims, hardware profile and track record.
use anchor_lang::prelude::*;

use crate::constants::{GPU_MODEL_LEN, MAX_ENDPOINT_LEN};
use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::NetworkParams;

/// What a provider says its machine is; informational, for clients and dashboards.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct HardwareProfile {
    /// GPU model name, UTF-8, zero-padded.
    pub gpu_model: [u8; GPU_MODEL_LEN],
    /// GPU memory in MiB.
    pub memory_mib: u32,
    /// Claimed int8 throughput in giga-operations per second.
    pub throughput_gops: u64,
}

/// A registered provider: PDA `[PROVIDER, network, authority]`.
#[account]
#[derive(InitSpace)]
pub struct Provider {
    /// The wallet that signs for this provider and receives its payouts and withdrawals.
    pub authority: Pubkey,
    /// The network it is registered in.
    pub network: Pubkey,
    /// Active stake, in the network's mint.
    pub stake: u64,
    /// Stake waiting out the unbonding period; still slashable.
    pub unbonding: u64,
    /// When `unbonding` may be withdrawn.
    pub unbonding_ends_at: i64,
    /// Assignments this provider holds right now.
    pub open_claims: u32,
    /// Replicas it was paid for.
    pub completed: u64,
    /// Replicas judged fraudulent.
    pub failed: u64,
    /// Commits or reveals it missed.
    pub missed: u64,
    /// Total stake slashed.
    pub slashed: u64,
    /// Total paid for verified work.
    pub earned: u64,
    /// Self-reported hardware.
    pub hardware: HardwareProfile,
    /// When it first registered (kept across leaving and registering again).
    pub registered_at: i64,
    /// Since when it has been staked without a break: set when it registers, again or not, and when
    /// stake tops it up from below the minimum. Draws admit only providers active before they opened,
    /// so nobody can pick which identity to stake after seeing a draw's seed.
    pub active_since: i64,
    /// PDA bump.
    pub bump: u8,
    /// Bump of the stake vault PDA.
    pub vault_bump: u8,
    /// Where the provider serves the outputs it computed (`GET {endpoint}/results/{job}/{shard}`);
    /// empty when it publishes none.
    #[max_len(MAX_ENDPOINT_LEN)]
    pub endpoint: String,
}

impl Provider {
    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.authority == Pubkey::default()
    }

    /// Whether the provider holds no stake, nothing unbonding and no claim.
    pub fn is_empty(&self) -> bool {
        self.stake == 0 && self.unbonding == 0 && self.open_claims == 0
    }

    /// Stake that must stay active while `open_claims` claims are held.
    pub fn required_stake(&self, params: &NetworkParams) -> u64 {
        if self.open_claims == 0 {
            return 0;
        }
        let per_claims = u64::from(self.open_claims).saturating_mul(params.stake_per_claim);
        per_claims.max(params.min_stake)
    }

    /// Refuses a new claim unless the provider is staked, not unbonding and under its claim cap.
    pub fn check_can_claim(&self, params: &NetworkParams) -> Result<()> {
        require!(self.unbonding == 0, GpuShareError::ProviderUnbonding);
        require!(
            self.stake >= params.min_stake,
            GpuShareError::StakeBelowMinimum
        );
        let cap = self.stake / params.stake_per_claim;
        require!(
            u64::from(self.open_claims) < cap,
            GpuShareError::ClaimCapReached
        );
        Ok(())
    }

    /// Takes `bps` of all slashable stake (active first, then unbonding); returns the amount.
    pub fn slash(&mut self, bps: u16) -> u64 {
        let total = self.stake.saturating_add(self.unbonding);
        let amount = NetworkParams::share(total, bps);
        let from_active = amount.min(self.stake);
        self.stake -= from_active;
        self.unbonding -= amount - from_active;
        self.slashed = self.slashed.saturating_add(amount);
        amount
    }

    /// Runs `f` with this provider's PDA signer seeds.
    pub fn with_signer<R>(&self, f: impl FnOnce(&[&[&[u8]]]) -> R) -> R {
        let bump = [self.bump];
        let seeds: [&[u8]; 4] = [
            seeds::PROVIDER,
            self.network.as_ref(),
            self.authority.as_ref(),
            &bump,
        ];
        f(&[&seeds])
    }
}
