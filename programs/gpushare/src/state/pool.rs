//! The stake behind one provider — its own and its delegators' — kept as shares of two classes,
//! active and unbonding, and the rewards its active shares earn. A slash lowers a class's tokens and
//! every share of it loses the same fraction (O(1)); rewards are a per-share accumulator over all
//! active shares, the provider's own included, so a claim reads the pool and writes only the
//! delegation. A payout is released into the accumulator linearly over the network's vesting
//! period, so a holder earns in proportion to the time its stake backed the provider, not to its
//! presence at the moment of a payout. Embedded in `Provider`, whose `stake` and `unbonding` are the
//! two classes' tokens.
use anchor_lang::prelude::*;

use crate::constants::REWARD_SCALE;
use crate::errors::GpuShareError;

/// What one holder of active shares (a delegation, or the provider's own stake) has earned.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct Accrual {
    /// The pool's `reward_per_share` when this holder last accrued.
    pub paid_per_share: u128,
    /// Accrued rewards below one token (× `REWARD_SCALE`), carried to the next accrual.
    pub carry: u128,
    /// Whole tokens accrued and not yet paid.
    pub owed: u64,
}

impl Accrual {
    /// Brings `owed` up to `reward_per_share` for `shares` held since the last accrual; call before
    /// `shares` changes. The product is `shares × (rise of the accumulator)`, at most the rewards
    /// released × 10¹⁸, however many shares a pool has minted.
    pub fn accrue(&mut self, shares: u128, reward_per_share: u128) -> Result<()> {
        let earned = reward_per_share
            .checked_sub(self.paid_per_share)
            .and_then(|rise| rise.checked_mul(shares))
            .and_then(|earned| earned.checked_add(self.carry))
            .ok_or(GpuShareError::MathOverflow)?;
        let whole =
            u64::try_from(earned / REWARD_SCALE).map_err(|_| GpuShareError::MathOverflow)?;
        self.owed = self
            .owed
            .checked_add(whole)
            .ok_or(GpuShareError::MathOverflow)?;
        self.carry = earned % REWARD_SCALE;
        self.paid_per_share = reward_per_share;
        Ok(())
    }

    /// Takes what is owed, for paying it out.
    pub fn take(&mut self) -> u64 {
        core::mem::take(&mut self.owed)
    }
}

/// The share accounting of a provider's stake and its stakers' rewards.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct StakePool {
    /// Shares of the active stake, the provider's own and its delegators'.
    pub shares: u128,
    /// Of those, the shares delegations hold.
    pub delegated_shares: u128,
    /// Shares of the unbonding stake.
    pub unbonding_shares: u128,
    /// Of those, the provider's own.
    pub own_unbonding_shares: u128,
    /// Rewards released per active share since the pool began, × `REWARD_SCALE`.
    pub reward_per_share: u128,
    /// What the releases so far could not divide evenly (× `REWARD_SCALE`), carried into the
    /// next one.
    pub reward_remainder: u128,
    /// What the provider's own shares have earned.
    pub own: Accrual,
    /// Commission the provider keeps of each paid replica, in basis points.
    pub commission_bps: u16,
    /// A raised commission waiting out the network's commission delay.
    pub pending_commission_bps: Option<u16>,
    /// When `pending_commission_bps` takes effect.
    pub commission_effective_at: i64,
    /// Delegation accounts open on this provider.
    pub delegations: u32,
    /// Tokens being released to the active shares from `vesting_from` to `vesting_until`.
    pub vesting_total: u64,
    /// Of `vesting_total`, what is already in the accumulator.
    pub vesting_released: u64,
    /// When the current release began.
    pub vesting_from: i64,
    /// When the last of `vesting_total` is released.
    pub vesting_until: i64,
}

/// Shares minted for `amount` tokens joining a class of `tokens` tokens and `shares` shares,
/// rounded down. The +1 on both sides keeps an emptied class (all its tokens slashed) open at a
/// finite price, and a class's price can only fall (slashes), never be pushed up by a donation.
pub fn shares_for(amount: u64, tokens: u64, shares: u128) -> Result<u128> {
    u128::from(amount)
        .checked_mul(shares.checked_add(1).ok_or(GpuShareError::MathOverflow)?)
        .map(|scaled| scaled / (u128::from(tokens) + 1))
        .ok_or_else(|| error!(GpuShareError::MathOverflow))
}

/// Shares that `amount` tokens leaving such a class cost, rounded up.
pub fn shares_to_burn(amount: u64, tokens: u64, shares: u128) -> Result<u128> {
    u128::from(amount)
        .checked_mul(shares.checked_add(1).ok_or(GpuShareError::MathOverflow)?)
        .map(|scaled| scaled.div_ceil(u128::from(tokens) + 1))
        .ok_or_else(|| error!(GpuShareError::MathOverflow))
}

/// Tokens `part` of a class's `shares` are worth, rounded down (never more than `tokens`).
pub fn tokens_for(part: u128, tokens: u64, shares: u128) -> Result<u64> {
    let worth = part
        .checked_mul(u128::from(tokens) + 1)
        .ok_or(GpuShareError::MathOverflow)?
        / shares.checked_add(1).ok_or(GpuShareError::MathOverflow)?;
    Ok(u64::try_from(worth.min(u128::from(tokens))).unwrap_or(tokens))
}

impl StakePool {
    /// The commission in force at `now` (a raise applies once its delay is over).
    pub fn commission_at(&self, now: i64) -> u16 {
        match self.pending_commission_bps {
            Some(raised) if now >= self.commission_effective_at => raised,
            _ => self.commission_bps,
        }
    }

    /// Makes a due raise the commission in force.
    pub fn apply_due_commission(&mut self, now: i64) {
        if self.pending_commission_bps.is_some() && now >= self.commission_effective_at {
            self.commission_bps = self.commission_at(now);
            self.pending_commission_bps = None;
        }
    }

    /// The provider's own active shares.
    pub fn own_shares(&self) -> u128 {
        self.shares - self.delegated_shares
    }

    /// Adds `rewards` tokens to the accumulator over the active shares (the caller has checked
    /// there are some), carrying what does not divide.
    fn add_rewards(&mut self, rewards: u64) -> Result<()> {
        let numerator = u128::from(rewards)
            .checked_mul(REWARD_SCALE)
            .and_then(|scaled| scaled.checked_add(self.reward_remainder))
            .ok_or(GpuShareError::MathOverflow)?;
        self.reward_per_share = self
            .reward_per_share
            .checked_add(numerator / self.shares)
            .ok_or(GpuShareError::MathOverflow)?;
        self.reward_remainder = numerator % self.shares;
        Ok(())
    }

    /// Of `vesting_total`, what is due at `now` (rounded down; all of it once the period is over).
    /// While the active shares do not change it depends on `now` alone, so releasing at several
    /// moments or once gives the same accumulator.
    fn vesting_due(&self, now: i64) -> u64 {
        if now >= self.vesting_until {
            return self.vesting_total;
        }
        let elapsed = now.saturating_sub(self.vesting_from).max(0).unsigned_abs();
        let period = self
            .vesting_until
            .saturating_sub(self.vesting_from)
            .unsigned_abs();
        // elapsed < period here, so the quotient is below `vesting_total`.
        (u128::from(self.vesting_total) * u128::from(elapsed) / u128::from(period.max(1))) as u64
    }

    /// Tokens paid to the stakers but not yet released to them at `now`.
    pub fn vesting_at(&self, now: i64) -> u64 {
        self.vesting_total - self.vesting_due(now)
    }

    /// Moves what is due at `now` into the accumulator. With no active shares nothing is vesting
    /// (the last shares to leave take the rest with them: `catch_up`).
    fn release_vested(&mut self, now: i64) -> Result<()> {
        let due = self.vesting_due(now);
        if due > self.vesting_released && self.shares > 0 {
            self.add_rewards(due - self.vesting_released)?;
            self.vesting_released = due;
        }
        Ok(())
    }

    /// Brings the rewards up to `now` before `leaving` active shares leave (0 for a join): what is
    /// due is released — everything still vesting when they are the last, so nothing is left for
    /// whoever joins an empty pool next — and, when the provider's own shares are the ones changing
    /// (`own`), its own earnings accrue. `Provider::join` and `Provider::unbond` call it before the
    /// shares change.
    pub fn catch_up(&mut self, now: i64, own: bool, leaving: u128) -> Result<()> {
        if leaving == self.shares {
            self.vesting_until = self.vesting_until.min(now);
        }
        self.release_vested(now)?;
        if own {
            self.accrue_own()?;
        }
        Ok(())
    }

    /// What the provider's own shares have earned by `now` and have not been paid, for readers
    /// that write nothing.
    pub fn own_owed_at(&self, now: i64) -> Result<u64> {
        let mut pool = *self;
        pool.catch_up(now, true, 0)?;
        Ok(pool.own.owed)
    }

    /// The pool as `release_vested(now)` would leave it, for readers that write nothing.
    pub fn released_at(&self, now: i64) -> Result<StakePool> {
        let mut pool = *self;
        pool.release_vested(now)?;
        Ok(pool)
    }

    /// Starts releasing `rewards` with what earlier payouts have not yet released, until a time
    /// weighted by the two amounts (new rewards over `period` seconds from `now`, the rest by its
    /// own end), so frequent payouts never stretch an earlier one's release (a payout merged into
    /// the tail of a much larger one is released faster than `period`). A period of 0 releases
    /// everything at once. The caller has checked there are active shares.
    pub fn vest(&mut self, rewards: u64, now: i64, period: i64) -> Result<()> {
        self.release_vested(now)?;
        let left = self.vesting_total - self.vesting_released;
        let total = left
            .checked_add(rewards)
            .ok_or(GpuShareError::MathOverflow)?;
        let until = if period <= 0 || total == 0 {
            now
        } else {
            let left_for = self.vesting_until.saturating_sub(now).max(0).unsigned_abs();
            let weighted = (u128::from(left) * u128::from(left_for)
                + u128::from(rewards) * u128::from(period.unsigned_abs()))
                / u128::from(total);
            // A weighted mean of two durations ≤ the larger one, which fits i64.
            now.saturating_add(i64::try_from(weighted).unwrap_or(period))
        };
        self.vesting_total = total;
        self.vesting_released = 0;
        self.vesting_from = now;
        self.vesting_until = until;
        self.release_vested(now)
    }

    /// Brings the provider's own earnings up to the accumulator (released up to the last write).
    fn accrue_own(&mut self) -> Result<()> {
        let own = self.own_shares();
        self.own.accrue(own, self.reward_per_share)
    }

    /// Forgets the rewards no share is left to receive (the reward vault holding them is closing).
    pub fn forget_undistributed(&mut self) {
        self.reward_remainder = 0;
        self.vesting_total = 0;
        self.vesting_released = 0;
        self.own.owed = 0;
        self.own.carry = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_to_one_until_a_slash() {
        assert_eq!(shares_for(500, 1_000, 1_000).unwrap(), 500);
        assert_eq!(shares_to_burn(500, 1_000, 1_000).unwrap(), 500);
        assert_eq!(tokens_for(500, 1_000, 1_000).unwrap(), 500);
        // Half the tokens slashed: a share is worth half, a newcomer gets two per token.
        assert_eq!(tokens_for(1_000, 500, 1_000).unwrap(), 500);
        assert_eq!(shares_for(100, 500, 1_000).unwrap(), 199);
    }

    #[test]
    fn an_emptied_class_stays_open_and_worthless_shares_stay_worthless() {
        let minted = shares_for(1_000, 0, 5_000).unwrap();
        assert_eq!(minted, 5_001_000);
        assert_eq!(tokens_for(5_000, 1_000, 5_000 + minted).unwrap(), 0);
        assert!(tokens_for(minted, 1_000, 5_000 + minted).unwrap() >= 999);
    }

    proptest! {
        /// Joining and leaving at once never returns more than was put in, and every holder's
        /// worth together never exceeds the class's tokens.
        #[test]
        fn rounding_is_always_in_the_vaults_favour(tokens in 0u64..1 << 50, extra in 0u128..1 << 20, amount in 1u64..1 << 50, part in 0u128..1 << 52) {
            let shares = u128::from(tokens) + extra;
            let minted = shares_for(amount, tokens, shares).unwrap();
            let after = (tokens + amount, shares + minted);
            prop_assert!(tokens_for(minted, after.0, after.1).unwrap() <= amount);
            let part = part.min(after.1);
            let (mine, rest) = (tokens_for(part, after.0, after.1).unwrap(), tokens_for(after.1 - part, after.0, after.1).unwrap());
            prop_assert!(mine + rest <= after.0);
            let worth = tokens_for(part, after.0, after.1).unwrap();
            prop_assert!(shares_to_burn(worth, after.0, after.1).unwrap() <= part);
        }

        /// Payouts, joins, leaves, read-only claims and time in any order: what the holders are
        /// owed and have claimed never exceeds what was paid, and once every release is due it
        /// falls short only by rounding dust (under one token per holder and for the pool).
        #[test]
        fn stakers_receive_what_was_paid_and_never_more(period in 0i64..1_000, steps in prop::collection::vec((0u8..4, 0u64..1 << 40, 0i64..800, any::<bool>()), 1..40)) {
            let mut pool = StakePool { shares: 1_000, ..StakePool::default() };
            let (mut delegation, mut delegated, mut paid, mut claimed, mut now) =
                (Accrual::default(), 0u128, 0u64, 0u64, 0i64);
            for (kind, amount, wait, own) in steps {
                now += wait;
                match kind {
                    0 if pool.shares > 0 => {
                        pool.vest(amount, now, period).unwrap();
                        paid += amount;
                    }
                    1 | 2 => {
                        // A holder joins (1) or leaves (2) with `amount` shares, caught up first.
                        let held = if own { pool.own_shares() } else { delegated };
                        let change = if kind == 1 { u128::from(amount) } else { held.min(u128::from(amount)) };
                        pool.catch_up(now, own, if kind == 2 { change } else { 0 }).unwrap();
                        if !own {
                            delegation.accrue(delegated, pool.reward_per_share).unwrap();
                        }
                        if kind == 1 { pool.shares += change } else { pool.shares -= change }
                        if !own {
                            delegated = if kind == 1 { delegated + change } else { delegated - change };
                            pool.delegated_shares = delegated;
                        }
                        // An empty pool has nothing left vesting for whoever joins it next.
                        prop_assert!(pool.shares > 0 || pool.vesting_released == pool.vesting_total);
                    }
                    _ => {
                        // A claim reads the pool as released now without writing it.
                        let view = pool.released_at(now).unwrap();
                        delegation.accrue(delegated, view.reward_per_share).unwrap();
                        claimed += delegation.take();
                    }
                }
            }
            now += period + 1;
            pool.catch_up(now, true, 0).unwrap();
            delegation.accrue(delegated, pool.reward_per_share).unwrap();
            let received = claimed + delegation.owed + pool.own.owed;
            prop_assert!(received <= paid, "{received} of {paid}");
            prop_assert!(paid - received <= 3, "{received} of {paid}");
            prop_assert_eq!(pool.vesting_at(now), 0);
        }
    }
}
