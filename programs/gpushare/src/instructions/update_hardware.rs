//! `update_hardware`: a provider updates its self-reported hardware profile.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{HardwareUpdated, emit_event};
use crate::seeds;
use crate::state::{HardwareProfile, Provider};

#[derive(Accounts)]
pub struct UpdateHardware<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::PROVIDER, provider.network.as_ref(), authority.key().as_ref()],
        bump = provider.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
    )]
    pub provider: Box<Account<'info, Provider>>,
}

impl UpdateHardware<'_> {
    pub fn handler(ctx: Context<Self>, hardware: HardwareProfile) -> Result<()> {
        let provider = &mut ctx.accounts.provider;
        provider.hardware = hardware;
        emit_event(HardwareUpdated {
            provider: provider.key(),
            hardware,
        });
        Ok(())
    }
}
