//! `activate_stake` (anyone): once its warm-up is over, stake that joined a provider — a
//! delegation's, or without one the provider's own — joins the active stake, backing claims and
//! earning from then on. Until then it backed nothing and earned nothing, so a payout never
//! reaches stake that joined after its claim was made, nor what is still vesting of a payout made
//! before the stake joined.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{StakeActivated, emit_event};
use crate::state::{Delegation, Provider};

#[derive(Accounts)]
pub struct ActivateStake<'info> {
    #[account(mut)]
    pub provider: Box<Account<'info, Provider>>,
    /// The delegation whose stake joins; none for the provider's own.
    #[account(mut, has_one = provider @ GpuShareError::WrongProvider)]
    pub delegation: Option<Box<Account<'info, Delegation>>>,
}

impl ActivateStake<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let accounts = &mut *ctx.accounts;
        let provider = &mut accounts.provider;
        let (delegator, amount, shares) = match accounts.delegation.as_mut() {
            Some(delegation) => {
                let amount = delegation.warming.amount;
                delegation.accrue(&provider.pool, now)?;
                let minted = provider.activate(&mut delegation.warming, true, now)?;
                delegation.shares = delegation
                    .shares
                    .checked_add(minted)
                    .ok_or(GpuShareError::MathOverflow)?;
                (Some(delegation.delegator), amount, minted)
            }
            None => {
                let mut own = provider.own_warming;
                let amount = own.amount;
                let minted = provider.activate(&mut own, false, now)?;
                provider.own_warming = own;
                (None, amount, minted)
            }
        };
        emit_event(StakeActivated {
            provider: provider.key(),
            delegator,
            amount,
            shares,
        });
        Ok(())
    }
}
