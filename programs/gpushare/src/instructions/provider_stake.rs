//! The accounts shared by the instructions that move tokens between a provider's wallet and its
//! stake vault (`add_stake`, `withdraw_stake`), and their handlers.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{StakeAdded, StakeWithdrawn, emit_event};
use crate::state::{Network, Provider};
use crate::{seeds, token};

#[derive(Accounts)]
pub struct ProviderStake<'info> {
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
        constraint = authority_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = authority_token.owner == authority.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub authority_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// `add_stake`: a provider adds tokens to its own active stake.
impl ProviderStake<'_> {
    fn validate_add(&self, amount: u64) -> Result<()> {
        require!(amount > 0, GpuShareError::ZeroAmount);
        Ok(())
    }

    #[access_control(ctx.accounts.validate_add(amount))]
    pub fn add_stake(ctx: Context<Self>, amount: u64) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        token::transfer(
            &accounts.token_program,
            &accounts.mint,
            &accounts.authority_token,
            &accounts.stake_vault,
            accounts.authority.to_account_info(),
            &[],
            amount,
        )?;
        let warmup = accounts.network.params.stake_warmup;
        let now = Clock::get()?.unix_timestamp;
        let provider = &mut accounts.provider;
        let mut own = provider.own_warming;
        provider.stake_joins(&mut own, amount, false, now, warmup)?;
        provider.own_warming = own;
        emit_event(StakeAdded {
            provider: provider.key(),
            amount,
            stake: provider.stake,
            active_from: if warmup > 0 { own.until } else { now },
        });
        Ok(())
    }
}

/// `withdraw_stake`: after the unbonding period, the provider's own unbonding stake (what slashes
/// left of it) returns to its wallet.
impl ProviderStake<'_> {
    fn validate_withdraw(&self) -> Result<()> {
        require!(
            self.provider.pool.own_unbonding_shares > 0,
            GpuShareError::NothingUnbonding
        );
        let now = Clock::get()?.unix_timestamp;
        require!(
            now >= self.provider.unbonding_ends_at,
            GpuShareError::UnbondingNotOver
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate_withdraw())]
    pub fn withdraw_stake(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let own = accounts.provider.pool.own_unbonding_shares;
        let amount = accounts.provider.withdraw_unbonding(own, false)?;
        accounts.provider.with_signer(|signer| {
            token::transfer(
                &accounts.token_program,
                &accounts.mint,
                &accounts.stake_vault,
                &accounts.authority_token,
                accounts.provider.to_account_info(),
                signer,
                amount,
            )
        })?;
        accounts.provider.unbonding_ends_at = 0;
        emit_event(StakeWithdrawn {
            provider: accounts.provider.key(),
            amount,
        });
        Ok(())
    }
}
