//! `close_provider`: a provider with no stake, nothing unbonding, no claims, no delegations and no
//! open benchmark leaves; its stake and reward vaults close, what is left in them (rounding dust no share owns,
//! tokens sent from outside) and their rent back to its wallet. The provider account stays: it is the provider's track
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
        mut,
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
    #[account(
        mut,
        seeds = [seeds::REWARD_VAULT, provider.key().as_ref()],
        bump = provider.reward_vault_bump,
    )]
    pub reward_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the address of the provider's benchmark, which must not be open: its
    /// settlement needs the stake vault, and its requester's lamports would be stuck.
    #[account(seeds = [seeds::BENCHMARK, provider.key().as_ref()], bump)]
    pub benchmark: UncheckedAccount<'info>,
    /// Receives what is left in the vaults.
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
        require!(
            self.provider.pool.delegations == 0,
            GpuShareError::ProviderHasDelegations
        );
        require!(self.provider.is_empty(), GpuShareError::ProviderNotEmpty);
        require!(self.benchmark.data_is_empty(), GpuShareError::BenchmarkOpen);
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        for vault in [&accounts.stake_vault, &accounts.reward_vault] {
            accounts.provider.with_signer(|signer| {
                token::transfer(
                    &accounts.token_program,
                    &accounts.mint,
                    vault,
                    &accounts.authority_token,
                    accounts.provider.to_account_info(),
                    signer,
                    vault.amount,
                )?;
                token::close_vault(
                    &accounts.token_program,
                    vault,
                    accounts.authority.to_account_info(),
                    accounts.provider.to_account_info(),
                    signer,
                )
            })?;
        }
        accounts.provider.stake = 0;
        accounts.provider.unbonding = 0;
        // What no share received belonged to the swept reward vault; a new pool starts without it.
        accounts.provider.pool.forget_undistributed();
        emit_event(ProviderClosed {
            provider: accounts.provider.key(),
        });
        Ok(())
    }
}
