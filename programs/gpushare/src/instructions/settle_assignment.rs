//! `settle_assignment` (anyone): once its shard is settled, or the job expired, an assignment is
//! paid, slashed for fraud, or released; its account closes, rent back to the provider.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::instructions::AssignmentOutcome;
use crate::state::Verdict;

impl AssignmentOutcome<'_> {
    fn validate_settle(&self) -> Result<()> {
        let settleable = matches!(
            self.verdict()?,
            Verdict::Pay | Verdict::SlashFraud | Verdict::Release
        );
        require!(settleable, GpuShareError::AssignmentNotSettleable);
        Ok(())
    }

    #[access_control(ctx.accounts.validate_settle())]
    pub fn settle_assignment(ctx: Context<Self>) -> Result<()> {
        let verdict = ctx.accounts.verdict()?;
        ctx.accounts.apply(verdict)
    }
}
