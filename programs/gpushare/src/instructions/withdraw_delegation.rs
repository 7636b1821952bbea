//! `withdraw_delegation`: after its unbonding period, a delegation's unbonding stake (what is left of
//! it after slashes) returns to the delegator, with any stake still warming (it backed nothing). When nothing stays active, its unclaimed rewards are
//! paid too and the delegation closes, rent back to the delegator.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{DelegationWithdrawn, emit_event};
use crate::instructions::pay_rewards;
use crate::seeds;
use crate::state::{Delegation, Network, Provider};
use crate::token;

#[derive(Accounts)]
pub struct WithdrawDelegation<'info> {
    #[account(mut)]
    pub delegator: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        has_one = delegator @ GpuShareError::NotDelegator,
        has_one = provider @ GpuShareError::WrongProvider,
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

impl WithdrawDelegation<'_> {
    fn validate(&self) -> Result<()> {
        let delegation = &self.delegation;
        // Stake still warming backed nothing and comes back at any time, whatever else is unbonding.
        if delegation.warming.amount > 0 {
            return Ok(());
        }
        // A delegation with nothing active and nothing unbonding can still leave (with its rewards).
        require!(
            delegation.unbonding_shares > 0 || delegation.shares == 0,
            GpuShareError::NothingUnbonding
        );
        require!(self.unbonding_due()?, GpuShareError::UnbondingNotOver);
        Ok(())
    }

    /// Whether the delegation's unbonding stake (if any) may be withdrawn now.
    fn unbonding_due(&self) -> Result<bool> {
        let delegation = &self.delegation;
        Ok(delegation.unbonding_shares == 0
            || Clock::get()?.unix_timestamp >= delegation.unbonding_ends_at)
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let part = accounts.delegation.unbonding_shares;
        // With stake warming to take back, unbonding stake that may not leave yet waits (the
        // delegation stays open for it) instead of holding the warming stake too.
        let warming = accounts.delegation.warming.amount > 0;
        let withdrawable = part > 0
            && accounts.unbonding_due()?
            && (!warming || accounts.provider.can_withdraw_unbonding(part)?);
        let unbonded = if withdrawable {
            let tokens = accounts.provider.withdraw_unbonding(part, true)?;
            accounts.delegation.unbonding_shares = 0;
            accounts.delegation.unbonding_ends_at = 0;
            tokens
        } else {
            0
        };
        let amount = unbonded
            + accounts
                .provider
                .take_back_warming(&mut accounts.delegation.warming);
        accounts.provider.with_signer(|signer| {
            token::transfer(
                &accounts.token_program,
                &accounts.mint,
                &accounts.stake_vault,
                &accounts.delegator_token,
                accounts.provider.to_account_info(),
                signer,
                amount,
            )
        })?;
        let closing = accounts.delegation.shares == 0 && accounts.delegation.unbonding_shares == 0;
        if closing {
            pay_rewards(
                &accounts.token_program,
                &accounts.mint,
                &accounts.reward_vault,
                &accounts.delegator_token,
                &accounts.provider,
                &mut accounts.delegation,
            )?;
            accounts.provider.pool.delegations -= 1;
            accounts
                .delegation
                .close(accounts.delegator.to_account_info())?;
        }
        emit_event(DelegationWithdrawn {
            provider: accounts.provider.key(),
            delegator: accounts.delegator.key(),
            amount,
            closed: closing,
        });
        Ok(())
    }
}
