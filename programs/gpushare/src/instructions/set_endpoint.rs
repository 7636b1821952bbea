//! `set_endpoint`: a provider publishes (or clears) the URL where clients fetch the outputs it computed.
use anchor_lang::prelude::*;

use crate::constants::MAX_ENDPOINT_LEN;
use crate::errors::GpuShareError;
use crate::events::{EndpointUpdated, emit_event};
use crate::instructions::ProviderProfile;

/// Refuses anything but an empty string or an http(s) URL of printable ASCII within the length.
fn validate_endpoint(endpoint: &str) -> Result<()> {
    let url = endpoint.len() <= MAX_ENDPOINT_LEN
        && (endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        && endpoint.bytes().all(|b| b.is_ascii_graphic());
    require!(endpoint.is_empty() || url, GpuShareError::InvalidEndpoint);
    Ok(())
}

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
