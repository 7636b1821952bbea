//! The accounts shared by the instructions with which a provider describes itself (`update_hardware`,
//! `set_endpoint`), and their handlers.
use anchor_lang::prelude::*;

use crate::constants::MAX_ENDPOINT_LEN;
use crate::errors::GpuShareError;
use crate::events::{EndpointUpdated, HardwareUpdated, emit_event};
use crate::seeds;
use crate::state::{HardwareProfile, Provider};

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

/// `update_hardware`: a provider updates its self-reported hardware profile.
impl ProviderProfile<'_> {
    pub fn update_hardware(ctx: Context<Self>, hardware: HardwareProfile) -> Result<()> {
        let provider = &mut ctx.accounts.provider;
        provider.hardware = hardware;
        emit_event(HardwareUpdated {
            provider: provider.key(),
            hardware,
        });
        Ok(())
    }
}

/// Refuses anything but an empty string or an http(s) URL of printable ASCII within the length.
fn validate_endpoint(endpoint: &str) -> Result<()> {
    let url = endpoint.len() <= MAX_ENDPOINT_LEN
        && (endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        && endpoint.bytes().all(|b| b.is_ascii_graphic());
    require!(endpoint.is_empty() || url, GpuShareError::InvalidEndpoint);
    Ok(())
}

/// `set_endpoint`: a provider publishes (or clears) the URL where clients fetch the outputs it computed.
impl ProviderProfile<'_> {
    #[access_control(validate_endpoint(&endpoint))]
    pub fn set_endpoint(ctx: Context<Self>, endpoint: String) -> Result<()> {
        let provider = &mut ctx.accounts.provider;
        provider.endpoint = endpoint.clone();
        emit_event(EndpointUpdated {
            provider: provider.key(),
            endpoint,
        });
        Ok(())
    }
}
