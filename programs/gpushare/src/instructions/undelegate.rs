//! `undelegate`: a delegator moves part or all of its delegation into unbonding, whatever claims its
//! provider holds: a provider cannot keep its delegators in place (say, through a commission raise)
//! by filling its claim slots. The stake stops earning and stops backing new claims at once, and
//! stays slashable, pro rata with everyone behind the provider, until it is withdrawn after the
//! network's unbonding period.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{Undelegated, emit_event};
use crate::seeds;
use crate::state::{Delegation, Network, Provider, tokens_for};

#[derive(Accounts)]
pub struct Undelegate<'info> {
    pub delegator: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(mut, has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        has_one = delegator @ GpuShareError::NotDelegator,
        has_one = provider @ GpuShareError::WrongProvider,
    )]
    pub delegation: Box<Account<'info, Delegation>>,
}

impl Undelegate<'_> {
    fn validate(&self, amount: u64) -> Result<()> {
        let provider = &self.provider;
        let worth = tokens_for(self.delegation.shares, provider.stake, provider.pool.shares)?;
        // Shares that slashes left worth nothing leave with an amount of 0, so that they never pin the
        // delegation (or the provider) open.
        require!(
            amount > 0 || (worth == 0 && self.delegation.shares > 0),
            GpuShareError::ZeroAmount
        );
        require!(amount <= worth, GpuShareError::InsufficientStake);
        let left = worth - amount;
        require!(
            left == 0 || left >= self.network.params.min_delegation,
            GpuShareError::DelegationBelowMinimum
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(amount))]
    pub fn handler(ctx: Context<Self>, amount: u64) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let period = ctx.accounts.network.params.unbonding_period;
        let (provider, delegation) = (&mut ctx.accounts.provider, &mut ctx.accounts.delegation);
        let (burned, minted) = provider.unbond(amount, delegation.shares, true, now)?;
        delegation.accrue(&provider.pool, now)?;
        delegation.shares -= burned;
        delegation.unbonding_shares = delegation
            .unbonding_shares
            .checked_add(minted)
            .ok_or(GpuShareError::MathOverflow)?;
        delegation.unbonding_ends_at = now.saturating_add(period);
        emit_event(Undelegated {
            provider: provider.key(),
            delegator: delegation.delegator,
            amount,
            unbonding_ends_at: delegation.unbonding_ends_at,
        });
        Ok(())
    }
}
