//! `initialize_network`: creates a network for a mint, with its treasury and parameters.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{NetworkInitialized, emit_event};
use crate::seeds;
use crate::state::{Network, NetworkParams};

#[derive(Accounts)]
pub struct InitializeNetwork<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        constraint = treasury.mint == mint.key() @ GpuShareError::WrongMint,
        token::token_program = token_program,
    )]
    pub treasury: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init,
        payer = authority,
        space = 8 + Network::INIT_SPACE,
        seeds = [seeds::NETWORK, mint.key().as_ref()],
        bump,
    )]
    pub network: Box<Account<'info, Network>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl InitializeNetwork<'_> {
    fn validate(&self, params: &NetworkParams) -> Result<()> {
        params.validate()
    }

    #[access_control(ctx.accounts.validate(&params))]
    pub fn handler(ctx: Context<Self>, params: NetworkParams) -> Result<()> {
        let network = &mut ctx.accounts.network;
        network.set_inner(Network {
            authority: ctx.accounts.authority.key(),
            mint: ctx.accounts.mint.key(),
            treasury: ctx.accounts.treasury.key(),
            params,
            bump: ctx.bumps.network,
        });
        emit_event(NetworkInitialized {
            network: network.key(),
            authority: network.authority,
            mint: network.mint,
            treasury: network.treasury,
            params,
        });
        Ok(())
    }
}
