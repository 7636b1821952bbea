//! `set_endpoint`: a provider publishes (or clears) the URL where clients fetch the outputs it computed.
use anchor_lang::prelude::*;

use crate::constants::MAX_ENDPOINT_LEN;
use crate::errors::GpuShareError;
use crate::events::{EndpointUpdated, emit_event};
use crate::seeds;
use crate::state::Provider;

#[derive(Accounts)]
pub struct SetEndpoint<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::PROVIDER, provider.network.as_ref(), authority.key().as_ref()],
        bump = provider.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
    )]
    pub provider: Box<Account<'info, Provider>>,
}

impl SetEndpoint<'_> {
    /// Refuses anything but an empty string or an http(s) URL of printable ASCII within the length.
    fn validate(endpoint: &str) -> Result<()> {
        let url = endpoint.len() <= MAX_ENDPOINT_LEN
            && (endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            && endpoint.bytes().all(|b| b.is_ascii_graphic());
        require!(endpoint.is_empty() || url, GpuShareError::InvalidEndpoint);
        Ok(())
    }

    #[access_control(Self::validate(&endpoint))]
    pub fn handler(ctx: Context<Self>, endpoint: String) -> Result<()> {
        let provider = &mut ctx.accounts.provider;
        provider.endpoint = endpoint.clone();
        emit_event(EndpointUpdated {
            provider: provider.key(),
            endpoint,
        });
        Ok(())
    }
}
