//! `set_commission`: a provider sets the share of each paid replica it keeps before the rest goes to
//! everyone staked behind it. A cut applies at once; a raise only after the network's commission
//! delay, so delegators can leave before it bites.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{CommissionChanged, emit_event};
use crate::seeds;
use crate::state::{Network, Provider};

#[derive(Accounts)]
pub struct SetCommission<'info> {
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

impl SetCommission<'_> {
    fn validate(&self, commission_bps: u16) -> Result<()> {
        require!(
            commission_bps <= self.network.params.max_commission_bps,
            GpuShareError::CommissionTooHigh
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(commission_bps))]
    pub fn handler(ctx: Context<Self>, commission_bps: u16) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let delay = ctx.accounts.network.params.commission_delay;
        let pool = &mut ctx.accounts.provider.pool;
        pool.apply_due_commission(now);
        let effective_at = if commission_bps <= pool.commission_bps {
            pool.commission_bps = commission_bps;
            pool.pending_commission_bps = None;
            now
        } else {
            pool.pending_commission_bps = Some(commission_bps);
            pool.commission_effective_at = now.saturating_add(delay);
            pool.commission_effective_at
        };
        emit_event(CommissionChanged {
            provider: ctx.accounts.provider.key(),
            commission_bps,
            effective_at,
        });
        Ok(())
    }
}
