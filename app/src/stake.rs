//! A token holder's view of the network: delegate stake to providers, leave, claim rewards, and see
//! every delegation with what it is worth, what it can claim, what is unbonding and what it earned
//! over its provider's last settled replicas.
use anchor_lang::prelude::Pubkey;
use gpushare::events::ReplicaPaid;
use gpushare::state::{Delegation, Provider, Warming, tokens_for};
use gpushare_client::{filters, ix};

use crate::error::AppError;
use crate::jobs::ClientSession;

/// One of the wallet's delegations, as the chain has it now.
#[derive(Clone, Debug)]
pub struct DelegationView {
    /// The provider's account and wallet.
    pub provider: Pubkey,
    pub provider_authority: Pubkey,
    /// What its active shares are worth now, tokens.
    pub active: u64,
    /// Rewards it can claim now.
    pub claimable: u64,
    /// Its share of the payouts still being released to the delegated shares (if it stays until
    /// they are), and when the last of them is released.
    pub vesting: u64,
    pub vesting_ends_at: i64,
    /// What its unbonding shares are worth now, and when they can be withdrawn.
    pub unbonding: u64,
    pub unbonding_ends_at: i64,
    /// Stake waiting out the warm-up, and when it may be activated.
    pub warming: Warming,
    /// The provider's commission in force, bps.
    pub commission_bps: u16,
    pub recent: Earnings,
}

/// What a delegation earned over its provider's last settled replicas, at its current share of the
/// delegated stake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Earnings {
    pub replicas: usize,
    pub tokens: u64,
    /// From the oldest of those replicas to now.
    pub seconds: i64,
}

impl Earnings {
    /// Tokens a day at that pace, when the span is known.
    pub fn per_day(&self) -> Option<f64> {
        (self.seconds > 0).then(|| self.tokens as f64 * 86_400.0 / self.seconds as f64)
    }
}

impl ClientSession {
    /// Delegates `amount` to the provider whose wallet is `provider`.
    pub async fn delegate(&self, provider: &Pubkey, amount: u64) -> Result<(), AppError> {
        self.chain
            .submit(ix::delegate(&self.me, &self.net, provider, amount))
            .await?;
        Ok(())
    }

    /// Moves `amount` of the delegation (all of it when `None`) into unbonding.
    pub async fn undelegate(
        &self,
        provider: &Pubkey,
        amount: Option<u64>,
    ) -> Result<u64, AppError> {
        let amount = match amount {
            Some(amount) => amount,
            None => self.delegation(provider).await?.active,
        };
        self.chain
            .submit(ix::undelegate(
                &self.me.authority,
                &self.net.network,
                provider,
                amount,
            ))
            .await?;
        Ok(amount)
    }

    pub async fn withdraw_delegation(&self, provider: &Pubkey) -> Result<(), AppError> {
        self.chain
            .submit(ix::withdraw_delegation(&self.me, &self.net, provider))
            .await?;
        Ok(())
    }

    /// Joins this wallet's warmed stake behind the provider whose wallet is `provider`.
    pub async fn activate_delegation(&self, provider: &Pubkey) -> Result<(), AppError> {
        self.chain
            .submit(ix::activate_stake(
                &self.net,
                provider,
                Some(&self.me.authority),
            ))
            .await?;
        Ok(())
    }

    pub async fn claim_rewards(&self, provider: &Pubkey) -> Result<(), AppError> {
        self.chain
            .submit(ix::claim_rewards(&self.me, &self.net, provider))
            .await?;
        Ok(())
    }

    /// The delegation to the provider whose wallet is `provider`.
    pub async fn delegation(&self, provider: &Pubkey) -> Result<DelegationView, AppError> {
        let account = gpushare_client::pda::provider(&self.net.network, provider);
        let key = gpushare_client::pda::delegation(&account, &self.me.authority);
        let delegation: Delegation = self.chain.existing(&key).await?;
        let now = self.chain.clock().await?.unix_timestamp;
        self.view(delegation, 0, now).await
    }

    /// Every delegation of this wallet, with its earnings over the last `replicas` settled
    /// replicas of its provider.
    pub async fn delegations(&self, replicas: usize) -> Result<Vec<DelegationView>, AppError> {
        let mine = self
            .chain
            .program_accounts::<Delegation>(&[(
                filters::DELEGATION_DELEGATOR,
                self.me.authority.as_ref(),
            )])
            .await?;
        let now = self.chain.clock().await?.unix_timestamp;
        let mut views = Vec::new();
        for (_, delegation) in mine {
            views.push(self.view(delegation, replicas, now).await?);
        }
        Ok(views)
    }

    async fn view(
        &self,
        mut delegation: Delegation,
        replicas: usize,
        now: i64,
    ) -> Result<DelegationView, AppError> {
        let provider: Provider = self.chain.existing(&delegation.provider).await?;
        let pool = provider.pool;
        let worth = |part, tokens, shares| tokens_for(part, tokens, shares).map_err(AppError::from);
        let active = worth(delegation.shares, provider.stake, pool.shares)?;
        let unbonding = worth(
            delegation.unbonding_shares,
            provider.unbonding,
            pool.unbonding_shares,
        )?;
        delegation.accrue(&pool, now)?;
        let vesting = u128::from(pool.vesting_at(now)) * delegation.shares / pool.shares.max(1);
        let recent = if replicas == 0 || pool.delegated_shares == 0 {
            Earnings::default()
        } else {
            self.earnings(&delegation, &provider, replicas, now).await?
        };
        Ok(DelegationView {
            provider: delegation.provider,
            provider_authority: provider.authority,
            warming: delegation.warming,
            active,
            claimable: delegation.accrual.owed,
            vesting: u64::try_from(vesting).unwrap_or(u64::MAX),
            vesting_ends_at: pool.vesting_until,
            unbonding,
            unbonding_ends_at: delegation.unbonding_ends_at,
            commission_bps: pool.commission_at(now),
            recent,
        })
    }

    /// This delegation's part of what the provider's last `replicas` payments gave its stakers, at
    /// its current share of the active stake (an estimate where that share changed meanwhile).
    async fn earnings(
        &self,
        delegation: &Delegation,
        provider: &Provider,
        replicas: usize,
        now: i64,
    ) -> Result<Earnings, AppError> {
        // Every settlement writes the provider account; other transactions touch it too.
        let paid: Vec<(Option<i64>, ReplicaPaid)> = self
            .chain
            .recent_events::<ReplicaPaid>(&delegation.provider, replicas.saturating_mul(4))
            .await?
            .into_iter()
            .filter(|(_, event)| event.provider == delegation.provider)
            .take(replicas)
            .collect();
        let to_stakers: u128 = paid.iter().map(|(_, e)| u128::from(e.to_stakers)).sum();
        let tokens = to_stakers * delegation.shares / provider.pool.shares.max(1);
        let oldest = paid.iter().filter_map(|(time, _)| *time).min();
        Ok(Earnings {
            replicas: paid.len(),
            tokens: u64::try_from(tokens).unwrap_or(u64::MAX),
            seconds: oldest.map_or(0, |oldest| now - oldest),
        })
    }
}
