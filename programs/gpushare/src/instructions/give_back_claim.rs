//! `give_back_claim`: a provider that cannot finish a claim returns it before its commit deadline.
//! The slot reopens at once and the provider is slashed half the missed-claim share: less than
//! letting the claim lapse, more than nothing (a free give-back would let anyone hold slots idle).
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{ClaimGivenBack, emit_event};
use crate::instructions::AssignmentOutcome;

impl AssignmentOutcome<'_> {
    /// The holder's wallet signs as the rent receiver; the claim is uncommitted and not yet late.
    fn validate_give_back(&self) -> Result<()> {
        require!(self.rent_receiver.is_signer, GpuShareError::NotHolder);
        require!(
            self.assignment.commitment.is_none(),
            GpuShareError::AlreadyCommitted
        );
        require!(
            Clock::get()?.unix_timestamp <= self.assignment.commit_deadline,
            GpuShareError::CommitTooLate
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate_give_back())]
    pub fn give_back_claim(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let slashed = accounts.slash(accounts.job.give_back_slash_bps())?;
        accounts.end_assignment()?;
        emit_event(ClaimGivenBack {
            job: accounts.job.key(),
            shard_index: accounts.shard.index,
            replica: accounts.assignment.replica,
            provider: accounts.provider.key(),
            slashed,
        });
        Ok(())
    }
}
