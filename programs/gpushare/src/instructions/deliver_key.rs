//! `deliver_key`: a private job's client delivers the data key sealed to one holder's claim key
//! (`gpushare_privacy::KeyEnvelope`, bound to the slot). Once per claim; the commit deadline then
//! runs from the delivery, so the wait for the key costs the holder none of its time to work.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{KeyDelivered, emit_event};
use crate::state::{Assignment, Job, KEY_ENVELOPE_BYTES};

#[derive(Accounts)]
pub struct DeliverKey<'info> {
    pub client: Signer<'info>,
    #[account(has_one = client @ GpuShareError::NotJobClient)]
    pub job: Box<Account<'info, Job>>,
    #[account(mut, has_one = job @ GpuShareError::WrongJob)]
    pub assignment: Box<Account<'info, Assignment>>,
}

impl DeliverKey<'_> {
    /// `claim_key` names the key the envelope was sealed to: a delivery meant for an earlier claim
    /// of the same slot (the assignment's address is the slot's) cannot land on a later one.
    fn validate(&self, claim_key: &[u8; 32]) -> Result<()> {
        require!(self.job.private.is_some(), GpuShareError::NotPrivateJob);
        let exchange = &self.assignment.key_exchange;
        let published = exchange.claim_key.ok_or(GpuShareError::NoClaimKey)?;
        require!(published == *claim_key, GpuShareError::WrongClaimKey);
        require!(
            exchange.envelope.is_none(),
            GpuShareError::KeyAlreadyDelivered
        );
        self.assignment
            .check_uncommitted_in_time(Clock::get()?.unix_timestamp)
    }

    #[access_control(ctx.accounts.validate(&claim_key))]
    pub fn handler(
        ctx: Context<Self>,
        claim_key: [u8; 32],
        envelope: [u8; KEY_ENVELOPE_BYTES],
    ) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let claim_timeout = ctx.accounts.job.claim_timeout;
        let assignment = &mut ctx.accounts.assignment;
        assignment.key_exchange.envelope = Some(envelope);
        assignment.key_exchange.delivered_at = now;
        assignment.commit_deadline = now.saturating_add(claim_timeout);
        emit_event(KeyDelivered {
            job: assignment.job,
            shard_index: assignment.shard_index,
            replica: assignment.replica,
            provider: assignment.provider,
            commit_deadline: assignment.commit_deadline,
        });
        Ok(())
    }
}
