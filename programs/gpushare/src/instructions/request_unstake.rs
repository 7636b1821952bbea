//! `request_unstake`: moves part of a provider's own active stake into unbonding; refused while open
//! claims need it.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{UnstakeRequested, emit_event};
use crate::seeds;
use crate::state::{Network, Provider};

#[derive(Accounts)]
pub struct RequestUnstake<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(
        mut,
        seeds = [seeds::PROVIDER, network.key().as_ref(), authority.key().as_ref()],
        bump = provider.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = network @ GpuShareError::WrongNetwork,
    )]
    pub provider: Box<Account<'info, Provider>>,
}

impl RequestUnstake<'_> {
    fn validate(&self, amount: u64) -> Result<()> {
        let provider = &self.provider;
        let own = provider.own_stake()?;
        // Own shares that slashes left worth nothing leave with an amount of 0 (see `undelegate`).
        require!(
            amount > 0 || (own == 0 && provider.pool.own_shares() > 0),
            GpuShareError::ZeroAmount
        );
        require!(amount <= own, GpuShareError::InsufficientStake);
        let params = &self.network.params;
        require!(
            provider.stake - amount >= provider.backing,
            GpuShareError::StakeLockedByClaims
        );
        // With claims open the provider keeps its own minimum at risk: it cannot leave its
        // delegators to carry the slashes alone.
        require!(
            provider.open_claims == 0 || own - amount >= params.min_stake,
            GpuShareError::StakeLockedByClaims
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(amount))]
    pub fn handler(ctx: Context<Self>, amount: u64) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let period = ctx.accounts.network.params.unbonding_period;
        let provider = &mut ctx.accounts.provider;
        let own = provider.pool.own_shares();
        provider.unbond(amount, own, false, now)?;
        provider.unbonding_ends_at = now.saturating_add(period);
        emit_event(UnstakeRequested {
            provider: provider.key(),
            amount,
            unbonding: provider.own_unbonding()?,
            unbonding_ends_at: provider.unbonding_ends_at,
        });
        Ok(())
    }
}
