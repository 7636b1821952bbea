//! `update_network`: the authority retunes the parameters, within the protocol's bounds.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{NetworkUpdated, emit_event};
use crate::seeds;
use crate::state::{Network, NetworkParams};

#[derive(Accounts)]
pub struct UpdateNetwork<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::NETWORK, network.mint.as_ref()],
        bump = network.bump,
        has_one = authority @ GpuShareError::NotNetworkAuthority,
    )]
    pub network: Box<Account<'info, Network>>,
}

impl UpdateNetwork<'_> {
    fn validate(&self, params: &NetworkParams) -> Result<()> {
        params.validate()
    }

    #[access_control(ctx.accounts.validate(&params))]
    pub fn handler(ctx: Context<Self>, params: NetworkParams) -> Result<()> {
        let network = &mut ctx.accounts.network;
        network.params = params;
        emit_event(NetworkUpdated {
            network: network.key(),
            params,
        });
        Ok(())
    }
}
