//! `claim_provider_rewards`: a provider takes what its own stake has earned from its reward vault
//! (settlements pay it along the way; this collects what a payout's release brought after the last).
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{RewardsClaimed, emit_event};
use crate::instructions::pay_from_reward_vault;
use crate::seeds;
use crate::state::{Network, Provider};

#[derive(Accounts)]
pub struct ClaimProviderRewards<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::PROVIDER, network.key().as_ref(), authority.key().as_ref()],
        bump = provider.bump,
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [seeds::REWARD_VAULT, provider.key().as_ref()],
        bump = provider.reward_vault_bump,
    )]
    pub reward_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        constraint = authority_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = authority_token.owner == authority.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub authority_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl ClaimProviderRewards<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let amount = accounts
            .provider
            .take_own_rewards(Clock::get()?.unix_timestamp)?;
        require!(amount > 0, GpuShareError::NothingToClaim);
        pay_from_reward_vault(
            &accounts.token_program,
            &accounts.mint,
            &accounts.reward_vault,
            &accounts.authority_token,
            &accounts.provider,
            amount,
        )?;
        emit_event(RewardsClaimed {
            provider: accounts.provider.key(),
            holder: accounts.authority.key(),
            amount,
        });
        Ok(())
    }
}
