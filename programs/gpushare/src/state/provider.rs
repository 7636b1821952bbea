//! A provider's registration: the stake behind it (its own and delegated, as a share pool), open
//! claims, hardware profile and track record.
use anchor_lang::prelude::*;

use crate::constants::{ACTIVATION_WINDOW_SECONDS, GPU_MODEL_LEN, MAX_ENDPOINT_LEN};
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
    /// A third party has challenged this figure: it cannot be challenged by one again until the
    /// provider proves a new one, so nobody can grind a provider down with challenge after
    /// challenge.
    pub challenged: bool,
}

impl ProvenHardware {
    /// The throughput, in giga-operations per second (rounded up), that this figure stands for.
    pub fn gops(&self) -> u64 {
        self.mops.div_ceil(1_000)
    }
}

/// Stake of one holder waiting out the network's warm-up before it joins the active stake: it backs
/// no claim, earns nothing and is slashed for nothing until then.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct Warming {
    pub amount: u64,
    /// When it may join (`activate_stake`), for `ACTIVATION_WINDOW_SECONDS`.
    pub until: i64,
}

impl Warming {
    /// Whether it may join the active stake at `now`: its warm-up over, its activation window not.
    pub fn may_join(&self, now: i64) -> bool {
        (self.until..=self.until.saturating_add(ACTIVATION_WINDOW_SECONDS)).contains(&now)
    }
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
    /// Stake waiting out the warm-up, its own and delegated: in the stake vault, in no share class.
    pub warming: u64,
    /// Of that, its own.
    pub own_warming: Warming,
    /// Tokens ever moved into unbonding. A claim records it, so that its slash reaches the unbonding
    /// stake that left after the claim, and not the stake that had left before.
    pub unbonded_total: u64,
    /// When the provider's own unbonding stake may be withdrawn.
    pub unbonding_ends_at: i64,
    /// Assignments this provider holds right now.
    pub open_claims: u32,
    /// The stake its open claims stand for: the sum of their jobs' `stake_per_claim`. A new claim
    /// must fit, with these, in the active stake; and no withdrawal may leave less than this staked,
    /// so the stake behind a claim is still there when its slash lands.
    pub backing: u64,
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
    /// What its last benchmark proved.
    pub proven: ProvenHardware,
}

impl Provider {
    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.authority == Pubkey::default()
    }

    /// Whether nothing is staked on the provider, nothing unbonding, no claim and no delegation.
    pub fn is_empty(&self) -> bool {
        self.warming == 0
            && self.pool.shares == 0
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

    /// Records a claim on a job whose claims stand for `stake_per_claim` each.
    pub fn open_claim(&mut self, stake_per_claim: u64) {
        self.open_claims += 1;
        self.backing = self.backing.saturating_add(stake_per_claim);
    }

    /// Records the end of a claim that stood for `stake_per_claim`.
    pub fn end_claim(&mut self, stake_per_claim: u64) {
        self.open_claims -= 1;
        self.backing = self.backing.saturating_sub(stake_per_claim);
    }

    /// Refuses a withdrawal of `amount` that would leave less staked (active and unbonding) than
    /// its open claims stand for.
    fn check_can_withdraw(&self, amount: u64) -> Result<()> {
        let staked = self.stake.saturating_add(self.unbonding);
        require!(
            staked.saturating_sub(amount) >= self.backing,
            GpuShareError::StakeLockedByClaims
        );
        Ok(())
    }

    /// Whether `part` unbonding shares could be withdrawn now (`withdraw_unbonding` would not be
    /// refused for the open claims' backing).
    pub fn can_withdraw_unbonding(&self, part: u128) -> Result<bool> {
        let tokens = tokens_for(part, self.unbonding, self.pool.unbonding_shares)?;
        Ok(self.check_can_withdraw(tokens).is_ok())
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

    /// Refuses a new claim standing for `stake_per_claim` unless the provider is active (its own
    /// stake at least the minimum and not unbonding) and the claim fits, with those it holds, in
    /// the active stake behind it.
    pub fn check_can_claim(&self, params: &NetworkParams, stake_per_claim: u64) -> Result<()> {
        self.check_active(params)?;
        require!(
            self.backing.saturating_add(stake_per_claim) <= self.stake,
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

    /// Takes `amount` tokens that a holder (`delegated`, or the provider itself) stakes at `now`: with
    /// no `warmup` they join the active stake at once; otherwise they wait in `warming` (the
    /// holder's) until `now + warmup`, after what had already warmed there joins. Returns the
    /// shares minted now, which the caller credits to the holder (a delegation it has accrued).
    pub fn stake_joins(
        &mut self,
        warming: &mut Warming,
        amount: u64,
        delegated: bool,
        now: i64,
        warmup: i64,
    ) -> Result<u128> {
        if warmup <= 0 {
            return self.join(amount, delegated, now);
        }
        // Stake that warmed joins now if it still may; stake whose window lapsed warms again with
        // the new amount.
        let minted = if warming.amount > 0 && warming.may_join(now) {
            self.activate(warming, delegated, now)?
        } else {
            0
        };
        warming.amount = warming
            .amount
            .checked_add(amount)
            .ok_or(GpuShareError::MathOverflow)?;
        warming.until = now.saturating_add(warmup);
        self.warming = self
            .warming
            .checked_add(amount)
            .ok_or(GpuShareError::MathOverflow)?;
        Ok(minted)
    }

    /// Joins a holder's warmed stake to the active stake at `now`; returns the shares minted.
    /// Refused while nothing is warming, the warm-up is not over, or its activation window lapsed.
    pub fn activate(&mut self, warming: &mut Warming, delegated: bool, now: i64) -> Result<u128> {
        require!(warming.amount > 0, GpuShareError::NothingWarming);
        require!(now >= warming.until, GpuShareError::StillWarming);
        require!(warming.may_join(now), GpuShareError::ActivationLapsed);
        let amount = core::mem::take(&mut warming.amount);
        self.warming -= amount;
        self.join(amount, delegated, now)
    }

    /// Gives back a holder's stake that is still warming (it backed nothing); returns the tokens.
    pub fn take_back_warming(&mut self, warming: &mut Warming) -> u64 {
        let amount = core::mem::take(&mut warming.amount);
        self.warming -= amount;
        amount
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
        self.unbonded_total = self.unbonded_total.saturating_add(amount);
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
    /// they are worth, which the caller transfers. Refused while the stake left would fall below
    /// what the open claims stand for: stake that backed a claim stays until its slash could land.
    pub fn withdraw_unbonding(&mut self, part: u128, delegated: bool) -> Result<u64> {
        let tokens = tokens_for(part, self.unbonding, self.pool.unbonding_shares)?;
        self.check_can_withdraw(tokens)?;
        self.unbonding -= tokens;
        self.pool.unbonding_shares -= part;
        if !delegated {
            self.pool.own_unbonding_shares -= part;
        }
        Ok(tokens)
    }

    /// Slashes `bps` of `obligation` — the stake that backed the one claim or challenge that failed,
    /// fixed when it was made — from the stake that stood behind it and is still here: the active
    /// stake and the unbonding stake that left after the claim (`unbonded_at`, the `unbonded_total`
    /// the claim recorded), pro rata, so every share of either loses the same fraction and leaving
    /// once a failure is public escapes nothing. Never more than that stake; returns the amount. It
    /// never reaches past the failed obligation to everything staked, and stake that had left before
    /// the claim does not pay for it (as far as the one unbonding class can tell them apart).
    pub fn slash(&mut self, bps: u16, obligation: u64, unbonded_at: u64) -> u64 {
        let left_since = self
            .unbonded_total
            .saturating_sub(unbonded_at)
            .min(self.unbonding);
        let behind = self.stake.saturating_add(left_since);
        let amount = NetworkParams::share(obligation.min(behind), bps);
        // amount ≤ behind, so the active part is at most `stake` and the rest at most `left_since`.
        let from_active =
            (u128::from(amount) * u128::from(self.stake) / u128::from(behind.max(1))) as u64;
        self.stake -= from_active;
        self.unbonding -= amount - from_active;
        self.slashed = self.slashed.saturating_add(amount);
        amount
    }

    /// Splits a paid replica's `price` at `now` at `commission_bps`, the commission in force when
    /// the replica was claimed: the commission to the provider; the rest to everyone staked behind
    /// it, released to the active shares over `vesting` seconds. Returns (commission, to the reward
    /// vault); with no active shares all of it is the provider's.
    pub fn split_pay(
        &mut self,
        price: u64,
        commission_bps: u16,
        now: i64,
        vesting: i64,
    ) -> Result<(u64, u64)> {
        if self.pool.shares == 0 {
            return Ok((price, 0));
        }
        let commission = NetworkParams::share(price, commission_bps);
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
