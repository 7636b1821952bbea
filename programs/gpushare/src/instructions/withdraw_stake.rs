//! `withdraw_stake`: after the unbonding period, the provider's own unbonding stake (what slashes
//! left of it) returns to its wallet.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{StakeWithdrawn, emit_event};
use crate::instructions::ProviderStake;
use crate::token;

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
