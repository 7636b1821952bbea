//! `expire_claim` (anyone): an assignment that missed its commit deadline or its reveal window is
//! slashed the missed-claim share and closed; a slot that never committed reopens for others.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{ClaimExpired, emit_event};
use crate::instructions::AssignmentOutcome;
use crate::state::Verdict;

impl AssignmentOutcome<'_> {
    fn validate_expire(&self) -> Result<()> {
        require!(
            matches!(self.verdict()?, Verdict::SlashMissed { .. }),
            GpuShareError::NotMissed
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate_expire())]
    pub fn expire_claim(ctx: Context<Self>) -> Result<()> {
        let verdict = ctx.accounts.verdict()?;
        ctx.accounts.apply(verdict)?;
        let reopened = verdict == (Verdict::SlashMissed { reopens: true });
        emit_event(ClaimExpired {
            job: ctx.accounts.job.key(),
            shard_index: ctx.accounts.shard.index,
            replica: ctx.accounts.assignment.replica,
            reopened,
        });
        Ok(())
    }
}
