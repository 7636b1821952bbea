//! `publish_claim_key`: the holder of a private job's slot publishes the X25519 key its client is to
//! seal the data key to, one fresh key per claim, in the claim's own transaction.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{ClaimKeyPublished, emit_event};
use crate::state::{Assignment, Job};

#[derive(Accounts)]
pub struct PublishClaimKey<'info> {
    pub authority: Signer<'info>,
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
}

impl PublishClaimKey<'_> {
    fn validate(&self) -> Result<()> {
        require!(self.job.private.is_some(), GpuShareError::NotPrivateJob);
        require!(
            self.assignment.key_exchange.claim_key.is_none(),
            GpuShareError::ClaimKeyAlreadyPublished
        );
        require!(
            self.assignment.commitment.is_none(),
            GpuShareError::AlreadyCommitted
        );
        // Published later, a key would turn a stalled claim's miss into a free unkeyed lapse.
        require!(
            Clock::get()?.unix_timestamp == self.assignment.claimed_at,
            GpuShareError::ClaimKeyTooLate
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>, claim_key: [u8; 32]) -> Result<()> {
        let assignment = &mut ctx.accounts.assignment;
        assignment.key_exchange.claim_key = Some(claim_key);
        emit_event(ClaimKeyPublished {
            job: assignment.job,
            shard_index: assignment.shard_index,
            replica: assignment.replica,
            provider: assignment.provider,
            claim_key,
        });
        Ok(())
    }
}
