//! `claim_rewards`: a delegator takes the rewards its shares earned. It reads the provider's pool
//! and writes only the delegation, the pool's reward vault and the delegator's token account, so
//! claims never wait on one another or on a network-wide account.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{RewardsClaimed, emit_event};
use crate::seeds;
use crate::state::{Delegation, Network, Provider};
use crate::token;

#[derive(Accounts)]
pub struct ClaimRewards<'info> {
    pub delegator: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        has_one = delegator @ GpuShareError::NotDelegator,
        has_one = provider @ GpuShareError::WrongProvider,
    )]
    pub delegation: Box<Account<'info, Delegation>>,
    #[account(
        mut,
        seeds = [seeds::REWARD_VAULT, provider.key().as_ref()],
        bump = provider.reward_vault_bump,
    )]
    pub reward_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        constraint = delegator_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = delegator_token.owner == delegator.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub delegator_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl ClaimRewards<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let now = Clock::get()?.unix_timestamp;
        accounts.delegation.accrue(&accounts.provider.pool, now)?;
        require!(
            accounts.delegation.accrual.owed > 0,
            GpuShareError::NothingToClaim
        );
        pay_rewards(
            &accounts.token_program,
            &accounts.mint,
            &accounts.reward_vault,
            &accounts.delegator_token,
            &accounts.provider,
            &mut accounts.delegation,
        )
    }
}

/// Pays a delegation's accrued rewards from its provider's reward vault into `to`, and logs it.
pub(crate) fn pay_rewards<'info>(
    token_program: &Interface<'info, TokenInterface>,
    mint: &InterfaceAccount<'info, Mint>,
    reward_vault: &InterfaceAccount<'info, TokenAccount>,
    to: &InterfaceAccount<'info, TokenAccount>,
    provider: &Account<'info, Provider>,
    delegation: &mut Delegation,
) -> Result<()> {
    let amount = delegation.accrual.take();
    pay_from_reward_vault(token_program, mint, reward_vault, to, provider, amount)?;
    if amount > 0 {
        emit_event(RewardsClaimed {
            provider: provider.key(),
            holder: delegation.delegator,
            amount,
        });
    }
    Ok(())
}

/// Transfers `amount` from the provider's reward vault into `to`.
pub(crate) fn pay_from_reward_vault<'info>(
    token_program: &Interface<'info, TokenInterface>,
    mint: &InterfaceAccount<'info, Mint>,
    reward_vault: &InterfaceAccount<'info, TokenAccount>,
    to: &InterfaceAccount<'info, TokenAccount>,
    provider: &Account<'info, Provider>,
    amount: u64,
) -> Result<()> {
    provider.with_signer(|signer| {
        token::transfer(
            token_program,
            mint,
            reward_vault,
            to,
            provider.to_account_info(),
            signer,
            amount,
        )
    })
}
