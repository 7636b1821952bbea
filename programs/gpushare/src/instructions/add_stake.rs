//! `add_stake`: a provider adds tokens to its own active stake.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{StakeAdded, emit_event};
use crate::instructions::ProviderStake;
use crate::token;

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
