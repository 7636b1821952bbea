//! `close_provider`: a provider with no stake, nothing unbonding and no claims leaves; its stake
//! vault closes, rent back to its wallet. The provider account stays: it is the provider's track
//! record, which leaving and registering again must not wipe.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{ProviderClosed, emit_event};
use crate::seeds;
use crate::state::{Network, Provider};
use crate::token;

#[derive(Accounts)]
pub struct CloseProvider<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        seeds = [seeds::PROVIDER, network.key().as_ref(), authority.key().as_ref()],
        bump = provider.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = network @ GpuShareError::WrongNetwork,
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [seeds::STAKE_VAULT, provider.key().as_ref()],
        bump = provider.vault_bump,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Receives any tokens sent to the vault from outside the program.
    #[account(
        mut,
        constraint = authority_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = authority_token.owner == authority.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub authority_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl CloseProvider<'_> {
    fn validate(&self) -> Result<()> {
        require!(self.provider.is_empty(), GpuShareError::ProviderNotEmpty);
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let stray = accounts.stake_vault.amount;
        accounts.provider.with_signer(|signer| {
            token::transfer(
                &accounts.token_program,
                &accounts.mint,
                &accounts.stake_vault,
                &accounts.authority_token,
                accounts.provider.to_account_info(),
                signer,
                stray,
            )?;
            token::close_vault(
                &accounts.token_program,
                &accounts.stake_vault,
                accounts.authority.to_account_info(),
                accounts.provider.to_account_info(),
                signer,
            )
        })?;
        emit_event(ProviderClosed {
            provider: accounts.provider.key(),
        });
        Ok(())
    }
}
