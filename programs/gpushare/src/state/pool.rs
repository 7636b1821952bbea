//! The stake behind one provider — its own and its delegators' — kept as shares of two classes,
//! active and unbonding, and the rewards its delegated shares have earned. A slash lowers a class's
//! tokens and every share of it loses the same fraction (O(1)); rewards are a per-share accumulator,
//! so a claim reads the pool and writes only the delegation. A payout's delegator part is released
//! into the accumulator linearly over the network's vesting period, so a delegation earns in
//! proportion to the time it backed the provider, not to its presence at the moment of a payout.
//! Embedded in `Provider`, whose `stake` and `unbonding` are the two classes' tokens.
use anchor_lang::prelude::*;

use crate::constants::REWARD_SCALE;
use crate::errors::GpuShareError;

/// The share accounting of a provider's stake and its delegators' rewards.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct StakePool {
    /// Shares of the active stake, the provider's own and its delegators'.
    pub shares: u128,
    /// Of those, the shares delegations hold: rewards are distributed over these.
    pub delegated_shares: u128,
    /// Shares of the unbonding stake.
    pub unbonding_shares: u128,
    /// Of those, the provider's own.
    pub own_unbonding_shares: u128,
    /// Rewards per delegated share since the pool began, × `REWARD_SCALE`.
    pub reward_per_share: u128,
    /// What the distributions so far could not divide evenly (× `REWARD_SCALE`), carried into the
    /// next one.
    pub reward_remainder: u128,
    /// Commission the provider keeps of each paid replica, in basis points.
    pub commission_bps: u16,
    /// A raised commission waiting out the network's commission delay.
    pub pending_commission_bps: Option<u16>,
    /// When `pending_commission_bps` takes effect.
    pub commission_effective_at: i64,
    /// Delegation accounts open on this provider.
    pub delegations: u32,
    /// Tokens being released to the delegated shares from `vesting_from` to `vesting_until`.
    pub vesting_total: u64,
    /// Of `vesting_total`, what is already in the accumulator.
    pub vesting_released: u64,
    /// When the current release began (the last payout).
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

    /// Adds `rewards` tokens for the delegated shares to the accumulator, carrying what does not
    /// divide; with no delegated shares all of it is carried to the next shares there are.
    fn add_rewards(&mut self, rewards: u64) -> Result<()> {
        let numerator = u128::from(rewards)
            .checked_mul(REWARD_SCALE)
            .and_then(|scaled| scaled.checked_add(self.reward_remainder))
            .ok_or(GpuShareError::MathOverflow)?;
        if self.delegated_shares == 0 {
            self.reward_remainder = numerator;
            return Ok(());
        }
        self.reward_per_share = self
            .reward_per_share
            .checked_add(numerator / self.delegated_shares)
            .ok_or(GpuShareError::MathOverflow)?;
        self.reward_remainder = numerator % self.delegated_shares;
        Ok(())
    }

    /// Of `vesting_total`, what is due at `now` (rounded down; all of it once the period is over).
    /// It depends on `now` alone, so releasing at several moments or once gives the same result.
    fn vesting_due(&self, now: i64) -> u64 {
        if now >= self.vesting_until {
            return self.vesting_total;
        }
        let elapsed = now.saturating_sub(self.vesting_from).max(0).unsigned_abs();
        let period = self.vesting_until.saturating_sub(self.vesting_from).unsigned_abs();
        // elapsed < period here, so the quotient is below `vesting_total`.
        (u128::from(self.vesting_total) * u128::from(elapsed) / u128::from(period.max(1))) as u64
    }

    /// Tokens paid to the delegated shares but not yet released to them at `now`.
    pub fn vesting_at(&self, now: i64) -> u64 {
        self.vesting_total - self.vesting_due(now)
    }

    /// Moves what is due at `now` into the accumulator. Call before `delegated_shares` changes.
    pub fn release_vested(&mut self, now: i64) -> Result<()> {
        let due = self.vesting_due(now);
        if due > self.vesting_released {
            self.add_rewards(due - self.vesting_released)?;
            self.vesting_released = due;
        }
        Ok(())
    }

    /// The pool as `release_vested(now)` would leave it, for readers that write nothing.
    pub fn released_at(&self, now: i64) -> Result<StakePool> {
        let mut pool = *self;
        pool.release_vested(now)?;
        Ok(pool)
    }

    /// Starts releasing `rewards` (with what the last payout has not yet released) over `period`
    /// seconds from `now`; a period of 0 releases everything at once.
    pub fn vest(&mut self, rewards: u64, now: i64, period: i64) -> Result<()> {
        self.release_vested(now)?;
        let total = (self.vesting_total - self.vesting_released)
            .checked_add(rewards)
            .ok_or(GpuShareError::MathOverflow)?;
        self.vesting_total = total;
        self.vesting_released = 0;
        self.vesting_from = now;
        self.vesting_until = now.saturating_add(period.max(0));
        self.release_vested(now)
    }

    /// Forgets the rewards no share is left to receive (the reward vault holding them is closing).
    pub fn forget_undistributed(&mut self) {
        self.reward_remainder = 0;
        self.vesting_total = 0;
        self.vesting_released = 0;
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

        /// Releasing a payout at any number of moments moves exactly what releasing it once at
        /// the last of them does, and never more than was paid.
        #[test]
        fn releases_depend_on_the_time_alone(rewards in 0u64..1 << 50, shares in 1u128..1 << 70, period in 0i64..1 << 20, moments in prop::collection::vec(0i64..1 << 21, 0..8)) {
            let mut stepwise = StakePool { delegated_shares: shares, ..StakePool::default() };
            stepwise.vest(rewards, 0, period).unwrap();
            let mut moments = moments;
            moments.sort_unstable();
            let last = moments.last().copied().unwrap_or(0);
            let once = stepwise.released_at(last).unwrap();
            for moment in moments {
                stepwise.release_vested(moment).unwrap();
            }
            prop_assert_eq!(stepwise, once);
            let released = u128::from(once.vesting_released) * REWARD_SCALE;
            prop_assert_eq!(once.reward_per_share * shares + once.reward_remainder, released);
            prop_assert_eq!(once.vesting_at(last) + once.vesting_released, rewards);
        }
    }
}
