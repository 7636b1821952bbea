//! `activate_stake` (the delegator, or for its own stake the provider): within its activation window
//! after the warm-up, stake that joined a provider joins the active stake, backing claims and
//! earning from then on. Until then it backed nothing and earned nothing; its holder alone decides
//! to join (nobody can push a pending slash onto it), and only within the window, so when it joins
//! was fixed a whole warm-up ahead and cannot wait for a payout worth joining.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{StakeActivated, emit_event};
use crate::state::{Delegation, Provider};

#[derive(Accounts)]
pub struct ActivateStake<'info> {
    /// The delegator, or (with no delegation) the provider's wallet.
    pub authority: Signer<'info>,
    #[account(mut)]
    pub provider: Box<Account<'info, Provider>>,
    /// The delegation whose stake joins; none for the provider's own.
    #[account(mut, has_one = provider @ GpuShareError::WrongProvider)]
    pub delegation: Option<Box<Account<'info, Delegation>>>,
}

impl ActivateStake<'_> {
    fn validate(&self) -> Result<()> {
        let holder = match self.delegation.as_ref() {
            Some(delegation) => delegation.delegator,
            None => self.provider.authority,
        };
        require!(
            self.authority.key() == holder,
            GpuShareError::NotStakeHolder
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
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
