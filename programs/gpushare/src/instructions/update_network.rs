//! `update_network`: the authority queues new parameters, within the protocol's bounds. They take
//! effect `update_delay` seconds later (the delay in force when queued), through
//! `apply_network_update`, so providers see every change coming; with no delay they apply at once.
//! Jobs keep the terms they were created with.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{NetworkUpdateQueued, NetworkUpdated, emit_event};
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
        let now = Clock::get()?.unix_timestamp;
        let network = &mut ctx.accounts.network;
        let effective_at = now.saturating_add(network.params.update_delay);
        network.pending = Some(params);
        network.pending_effective_at = effective_at;
        emit_event(NetworkUpdateQueued {
            network: network.key(),
            params,
            effective_at,
        });
        if network.params.update_delay == 0 {
            apply_pending(network, now)?;
        }
        Ok(())
    }
}

/// `apply_network_update` (anyone): puts queued parameters in force once their time has come.
#[derive(Accounts)]
pub struct ApplyNetworkUpdate<'info> {
    #[account(
        mut,
        seeds = [seeds::NETWORK, network.mint.as_ref()],
        bump = network.bump,
    )]
    pub network: Box<Account<'info, Network>>,
}

impl ApplyNetworkUpdate<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        apply_pending(&mut ctx.accounts.network, now)
    }
}

/// Puts `network`'s queued parameters in force; refused when none are queued or they are not due
/// at `now`.
fn apply_pending(network: &mut Account<Network>, now: i64) -> Result<()> {
    let params = network.pending.ok_or(GpuShareError::NoPendingUpdate)?;
    require!(
        now >= network.pending_effective_at,
        GpuShareError::UpdateNotDue
    );
    network.params = params;
    network.pending = None;
    network.pending_effective_at = 0;
    emit_event(NetworkUpdated {
        network: network.key(),
        params,
    });
    Ok(())
}
