//! A provider's registration: the stake behind it (its own and delegated, as a share pool), open
//! claims, hardware profile and track record.
use anchor_lang::prelude::*;

use crate::constants::{GPU_MODEL_LEN, MAX_ENDPOINT_LEN};
use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::{
    HardwareRequirement, NetworkParams, StakePool, shares_for, shares_to_burn, tokens_for,
};

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
    /// GPUs (or, for a CPU machine, 1) the throughput is spread over.
    pub devices: u8,
}

/// The throughput a passed challenge proved.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct ProvenHardware {
    /// Mega-operations per second of verified gemm_i8 work, 0 when nothing is proven.
    pub mops: u64,
    /// Slot of the commitment that proved it.
    pub slot: u64,
    /// Devices the challenge was spread over.
    pub devices: u8,
}

/// A registered provider: PDA `[PROVIDER, network, authority]`.
#[account]
#[derive(InitSpace)]
pub struct Provider {
    /// The wallet that signs for this provider and receives its payouts and withdrawals.
    pub authority: Pubkey,
    /// The network it is registered in.
    pub network: Pubkey,
    /// Active stake behind the provider, its own and delegated, in the network's mint.
    pub stake: u64,
    /// Stake waiting out its unbonding period, its own and delegated; still slashable.
    pub unbonding: u64,
    /// When the provider's own unbonding stake may be withdrawn.
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
    /// Shares of `stake` and `unbonding`, delegators' rewards and the commission.
    pub pool: StakePool,
    /// Bump of the reward vault PDA.
    pub reward_vault_bump: u8,
    /// What its last throughput challenge proved.
    pub proven: ProvenHardware,
}

impl Provider {
    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.authority == Pubkey::default()
    }

    /// Whether nothing is staked on the provider, nothing unbonding, no claim and no delegation.
    pub fn is_empty(&self) -> bool {
        self.pool.shares == 0
            && self.pool.unbonding_shares == 0
            && self.open_claims == 0
            && self.pool.delegations == 0
    }

    /// What the provider's own active shares are worth.
    pub fn own_stake(&self) -> Result<u64> {
        tokens_for(self.pool.own_shares(), self.stake, self.pool.shares)
    }

    /// What the provider's own unbonding shares are worth.
    pub fn own_unbonding(&self) -> Result<u64> {
        tokens_for(
            self.pool.own_unbonding_shares,
            self.unbonding,
            self.pool.unbonding_shares,
        )
    }

    /// Stake that must stay active while `open_claims` claims are held.
    pub fn required_stake(&self, params: &NetworkParams) -> u64 {
        if self.open_claims == 0 {
            return 0;
        }
        let per_claims = u64::from(self.open_claims).saturating_mul(params.stake_per_claim);
        per_claims.max(params.min_stake)
    }

    /// Refuses a provider that is leaving (its own stake unbonding) or whose own stake is below
    /// the network's minimum: such a provider takes no new work.
    pub fn check_active(&self, params: &NetworkParams) -> Result<()> {
        require!(
            self.pool.own_unbonding_shares == 0,
            GpuShareError::ProviderUnbonding
        );
        require!(
            self.own_stake()? >= params.min_stake,
            GpuShareError::StakeBelowMinimum
        );
        Ok(())
    }

    /// Refuses a new claim unless the provider's own stake is at least the minimum, its own stake is
    /// not unbonding, and it is under its claim cap (all active stake behind it / stake per claim).
    pub fn check_can_claim(&self, params: &NetworkParams) -> Result<()> {
        self.check_active(params)?;
        let cap = self.stake / params.stake_per_claim;
        require!(
            u64::from(self.open_claims) < cap,
            GpuShareError::ClaimCapReached
        );
        Ok(())
    }

    /// Refuses a provider whose proven throughput is below `required`'s minimum, or was proven more
    /// than its maximum age (or the network's `validity`) before `slot`.
    pub fn check_hardware(
        &self,
        required: &HardwareRequirement,
        validity: u64,
        slot: u64,
    ) -> Result<()> {
        if required.min_proven_mops == 0 {
            return Ok(());
        }
        require!(
            self.proven.mops >= required.min_proven_mops,
            GpuShareError::HardwareNotProven
        );
        let max_age = match required.max_proof_age_slots {
            0 => validity,
            age => age.min(validity),
        };
        require!(
            slot.saturating_sub(self.proven.slot) <= max_age,
            GpuShareError::HardwareProofStale
        );
        Ok(())
    }

    /// Adds `amount` tokens to the active stake at `now` (after releasing what is due to the shares
    /// there were); returns the shares minted, which the caller credits to the provider's own stake
    /// or (`delegated`) to a delegation it has accrued.
    pub fn join(&mut self, amount: u64, delegated: bool, now: i64) -> Result<u128> {
        self.pool.catch_up(now, !delegated, 0)?;
        let minted = shares_for(amount, self.stake, self.pool.shares)?;
        self.stake = self
            .stake
            .checked_add(amount)
            .ok_or(GpuShareError::MathOverflow)?;
        self.pool.shares = self
            .pool
            .shares
            .checked_add(minted)
            .ok_or(GpuShareError::MathOverflow)?;
        if delegated {
            self.pool.delegated_shares += minted;
        }
        Ok(minted)
    }

    /// Moves `amount` tokens of a holder's `held` active shares into unbonding; returns the active
    /// shares burned (all of them when `amount` is all they are worth) and the unbonding shares
    /// minted, which the caller credits to the holder (a delegation it accrues after this call,
    /// before its shares change). The last active shares leaving take everything still vesting.
    pub fn unbond(
        &mut self,
        amount: u64,
        held: u128,
        delegated: bool,
        now: i64,
    ) -> Result<(u128, u128)> {
        let worth = tokens_for(held, self.stake, self.pool.shares)?;
        require!(amount <= worth, GpuShareError::InsufficientStake);
        let burned = if amount == worth {
            held
        } else {
            shares_to_burn(amount, self.stake, self.pool.shares)?.min(held)
        };
        self.pool.catch_up(now, !delegated, burned)?;
        self.stake -= amount;
        self.pool.shares -= burned;
        if delegated {
            self.pool.delegated_shares -= burned;
        }
        let minted = shares_for(amount, self.unbonding, self.pool.unbonding_shares)?;
        self.unbonding = self
            .unbonding
            .checked_add(amount)
            .ok_or(GpuShareError::MathOverflow)?;
        self.pool.unbonding_shares = self
            .pool
            .unbonding_shares
            .checked_add(minted)
            .ok_or(GpuShareError::MathOverflow)?;
        if !delegated {
            self.pool.own_unbonding_shares += minted;
        }
        Ok((burned, minted))
    }

    /// Pays out `part` unbonding shares (the provider's own unless `delegated`); returns the tokens
    /// they are worth, which the caller transfers.
    pub fn withdraw_unbonding(&mut self, part: u128, delegated: bool) -> Result<u64> {
        let tokens = tokens_for(part, self.unbonding, self.pool.unbonding_shares)?;
        self.unbonding -= tokens;
        self.pool.unbonding_shares -= part;
        if !delegated {
            self.pool.own_unbonding_shares -= part;
        }
        Ok(tokens)
    }

    /// Takes `bps` of the active stake and of the unbonding stake, so every share of either, the
    /// provider's and its delegators', loses the same fraction; returns the amount.
    pub fn slash(&mut self, bps: u16) -> u64 {
        let from_active = NetworkParams::share(self.stake, bps);
        let from_unbonding = NetworkParams::share(self.unbonding, bps);
        self.stake -= from_active;
        self.unbonding -= from_unbonding;
        let amount = from_active + from_unbonding;
        self.slashed = self.slashed.saturating_add(amount);
        amount
    }

    /// Splits a paid replica's `price` at `now`: the commission to the provider; the rest to
    /// everyone staked behind it, released to the active shares over `vesting` seconds. Returns
    /// (commission, to the reward vault); with no active shares all of it is the provider's.
    pub fn split_pay(&mut self, price: u64, now: i64, vesting: i64) -> Result<(u64, u64)> {
        self.pool.apply_due_commission(now);
        if self.pool.shares == 0 {
            return Ok((price, 0));
        }
        let commission = NetworkParams::share(price, self.pool.commission_bps);
        let rest = price - commission;
        self.pool.vest(rest, now, vesting)?;
        Ok((commission, rest))
    }

    /// What the provider's own shares have earned up to `now` and it has not been paid, taken for
    /// paying it out of the reward vault.
    pub fn take_own_rewards(&mut self, now: i64) -> Result<u64> {
        self.pool.catch_up(now, true, 0)?;
        Ok(self.pool.own.take())
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
