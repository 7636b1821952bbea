//! `delegate`: any wallet backs a provider with tokens. They join the provider's active stake —
//! backing its claims and slashed with it — as shares that earn the delegators' part of every paid
//! replica.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{Delegated, emit_event};
use crate::seeds;
use crate::state::{Accrual, Delegation, Network, Provider, Warming};
use crate::token;

#[derive(Accounts)]
pub struct Delegate<'info> {
    #[account(mut)]
    pub delegator: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        init_if_needed,
        payer = delegator,
        space = 8 + Delegation::INIT_SPACE,
        seeds = [seeds::DELEGATION, provider.key().as_ref(), delegator.key().as_ref()],
        bump,
    )]
    pub delegation: Box<Account<'info, Delegation>>,
    #[account(
        mut,
        seeds = [seeds::STAKE_VAULT, provider.key().as_ref()],
        bump = provider.vault_bump,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        constraint = delegator_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = delegator_token.owner == delegator.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub delegator_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl Delegate<'_> {
    fn validate(&self, amount: u64) -> Result<()> {
        require!(
            self.delegator.key() != self.provider.authority,
            GpuShareError::SelfDelegation
        );
        require!(
            amount >= self.network.params.min_delegation,
            GpuShareError::DelegationBelowMinimum
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(amount))]
    pub fn handler(ctx: Context<Self>, amount: u64) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        token::transfer(
            &accounts.token_program,
            &accounts.mint,
            &accounts.delegator_token,
            &accounts.stake_vault,
            accounts.delegator.to_account_info(),
            &[],
            amount,
        )?;
        let now = Clock::get()?.unix_timestamp;
        let (provider, delegation) = (&mut accounts.provider, &mut accounts.delegation);
        if delegation.is_new() {
            delegation.set_inner(Delegation {
                delegator: accounts.delegator.key(),
                provider: provider.key(),
                shares: 0,
                accrual: Accrual::default(),
                unbonding_shares: 0,
                unbonding_ends_at: 0,
                warming: Warming::default(),
                bump: ctx.bumps.delegation,
            });
            provider.pool.delegations += 1;
        }
        let warmup = accounts.network.params.stake_warmup;
        delegation.accrue(&provider.pool, now)?;
        let minted = provider.stake_joins(&mut delegation.warming, amount, true, now, warmup)?;
        delegation.shares = delegation
            .shares
            .checked_add(minted)
            .ok_or(GpuShareError::MathOverflow)?;
        emit_event(Delegated {
            provider: provider.key(),
            delegator: delegation.delegator,
            amount,
            shares: minted,
            stake: provider.stake,
            active_from: if warmup > 0 {
                delegation.warming.until
            } else {
                now
            },
        });
        Ok(())
    }
}
