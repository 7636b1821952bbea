//! `withdraw_stake`: after the unbonding period, unbonded stake returns to the provider's wallet.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{StakeWithdrawn, emit_event};
use crate::instructions::ProviderStake;
use crate::token;

impl ProviderStake<'_> {
    fn validate_withdraw(&self) -> Result<()> {
        require!(self.provider.unbonding > 0, GpuShareError::NothingUnbonding);
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
        let amount = accounts.provider.unbonding;
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
        accounts.provider.unbonding = 0;
        accounts.provider.unbonding_ends_at = 0;
        emit_event(StakeWithdrawn {
            provider: accounts.provider.key(),
            amount,
        });
        Ok(())
    }
}
