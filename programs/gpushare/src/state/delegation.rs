//! One wallet's stake delegated to a provider: its shares of the provider's pool, the rewards they
//! earned, and what it is unbonding.
use anchor_lang::prelude::*;

use crate::state::{Accrual, StakePool, Warming};

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
    /// What its shares have earned and it has not yet claimed.
    pub accrual: Accrual,
    /// Shares of the pool's unbonding stake.
    pub unbonding_shares: u128,
    /// When the unbonding shares may be withdrawn.
    pub unbonding_ends_at: i64,
    /// Delegated stake waiting out the network's warm-up before it joins `shares`.
    pub warming: Warming,
    /// PDA bump.
    pub bump: u8,
}

impl Delegation {
    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.delegator == Pubkey::default()
    }

    /// Brings its rewards up to the pool's accumulator as released at `now`; call before `shares`
    /// changes.
    pub fn accrue(&mut self, pool: &StakePool, now: i64) -> Result<()> {
        let released = pool.released_at(now)?;
        self.accrual.accrue(self.shares, released.reward_per_share)
    }

    /// Whether nothing is left in it: no shares, nothing unbonding or warming, no rewards.
    pub fn is_empty(&self) -> bool {
        self.shares == 0
            && self.unbonding_shares == 0
            && self.warming.amount == 0
            && self.accrual.owed == 0
    }
}
