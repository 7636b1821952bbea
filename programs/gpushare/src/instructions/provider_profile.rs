//! Accounts shared by the instructions with which a provider describes itself (`update_hardware`,
//! `set_endpoint`).
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::Provider;

#[derive(Accounts)]
pub struct ProviderProfile<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::PROVIDER, provider.network.as_ref(), authority.key().as_ref()],
        bump = provider.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
    )]
    pub provider: Box<Account<'info, Provider>>,
}
