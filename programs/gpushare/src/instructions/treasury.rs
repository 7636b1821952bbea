//! The treasury side of the network, off every job's path: `collect_fees` (anyone) moves what
//! closed jobs left in the program-owned fee vault to the treasury; `set_treasury` lets the
//! authority name another treasury account. A closed or frozen treasury holds up only its own
//! fees, never a job's refund.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{FeesCollected, TreasuryChanged, emit_event};
use crate::seeds;
use crate::state::Network;
use crate::token;

#[derive(Accounts)]
pub struct CollectFees<'info> {
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::FEE_VAULT, network.key().as_ref()],
        bump = network.fee_vault_bump,
    )]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = network.treasury @ GpuShareError::WrongTreasury)]
    pub treasury: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl CollectFees<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let amount = accounts.fee_vault.amount;
        accounts.network.with_signer(|signer| {
            token::transfer(
                &accounts.token_program,
                &accounts.mint,
                &accounts.fee_vault,
                &accounts.treasury,
                accounts.network.to_account_info(),
                signer,
                amount,
            )
        })?;
        emit_event(FeesCollected {
            network: accounts.network.key(),
            treasury: accounts.treasury.key(),
            amount,
        });
        Ok(())
    }
}

#[derive(Accounts)]
pub struct SetTreasury<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::NETWORK, network.mint.as_ref()],
        bump = network.bump,
        has_one = authority @ GpuShareError::NotNetworkAuthority,
    )]
    pub network: Box<Account<'info, Network>>,
    #[account(constraint = treasury.mint == network.mint @ GpuShareError::WrongMint)]
    pub treasury: Box<InterfaceAccount<'info, TokenAccount>>,
}

impl SetTreasury<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let network = &mut ctx.accounts.network;
        network.treasury = ctx.accounts.treasury.key();
        emit_event(TreasuryChanged {
            network: network.key(),
            treasury: network.treasury,
        });
        Ok(())
    }
}
