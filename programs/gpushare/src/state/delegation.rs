//! One wallet's stake delegated to a provider: its shares of the provider's pool, the rewards they
//! earned, and what it is unbonding.
use anchor_lang::prelude::*;

use crate::constants::REWARD_SCALE;
use crate::errors::GpuShareError;
use crate::state::StakePool;

/// A delegation: PDA `[DELEGATION, provider, delegator]`.
#[account]
#[derive(InitSpace)]
pub struct Delegation {
    /// The wallet that delegated; signs for it and receives its withdrawals and rewards.
    pub delegator: Pubkey,
    /// The provider it backs.
    pub provider: Pubkey,
    /// Active shares of the provider's pool.
    pub shares: u128,
    /// The pool's `reward_per_share` when rewards were last accrued.
    pub reward_per_share_paid: u128,
    /// Accrued rewards below one token (× `REWARD_SCALE`), carried to the next accrual.
    pub reward_carry: u128,
    /// Rewards accrued and not yet claimed, tokens.
    pub rewards: u64,
    /// Shares of the pool's unbonding stake.
    pub unbonding_shares: u128,
    /// When the unbonding shares may be withdrawn.
    pub unbonding_ends_at: i64,
    /// PDA bump.
    pub bump: u8,
}

impl Delegation {
    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.delegator == Pubkey::default()
    }

    /// Brings `rewards` up to the pool's accumulator as released at `now`; call before `shares`
    /// changes (after `StakePool::release_vested`, when the pool is written). The product is
    /// `shares × (rise of the accumulator)`, which is at most the rewards distributed × 10¹⁸, however
    /// many shares a pool has minted.
    pub fn accrue(&mut self, pool: &StakePool, now: i64) -> Result<()> {
        let pool = pool.released_at(now)?;
        let earned = pool
            .reward_per_share
            .checked_sub(self.reward_per_share_paid)
            .and_then(|rise| rise.checked_mul(self.shares))
            .and_then(|earned| earned.checked_add(self.reward_carry))
            .ok_or(GpuShareError::MathOverflow)?;
        let whole =
            u64::try_from(earned / REWARD_SCALE).map_err(|_| GpuShareError::MathOverflow)?;
        self.rewards = self
            .rewards
            .checked_add(whole)
            .ok_or(GpuShareError::MathOverflow)?;
        self.reward_carry = earned % REWARD_SCALE;
        self.reward_per_share_paid = pool.reward_per_share;
        Ok(())
    }

    /// Whether nothing is left in it: no shares, nothing unbonding, no rewards.
    pub fn is_empty(&self) -> bool {
        self.shares == 0 && self.unbonding_shares == 0 && self.rewards == 0
    }
}
