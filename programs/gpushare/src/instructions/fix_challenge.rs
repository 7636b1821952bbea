//! `fix_challenge` (anyone): once the slots after a spot-checked assignment's commitment exist, its
//! challenge is fixed from their hashes, whatever its shard's phase. The SlotHashes sysvar keeps
//! about 512 slots; fixing the challenge early means a replica's proof never depends on when the
//! shard's other replicas commit.
use anchor_lang::prelude::*;

use crate::constants::SLOT_HASHES_SYSVAR;
use crate::errors::GpuShareError;
use crate::events::{ChallengeFixed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job};

#[derive(Accounts)]
pub struct FixChallenge<'info> {
    #[account(
        seeds = [seeds::JOB, job.network.as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        seeds = [seeds::ASSIGNMENT, assignment.shard.as_ref(), &[assignment.replica]],
        bump = assignment.bump,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
    /// CHECK: the SlotHashes sysvar (address checked).
    #[account(address = SLOT_HASHES_SYSVAR @ GpuShareError::WrongSlotHashes)]
    pub slot_hashes: UncheckedAccount<'info>,
}

impl FixChallenge<'_> {
    fn validate(&self) -> Result<()> {
        require!(self.job.mode.is_spot_check(), GpuShareError::NotSpotCheck);
        require!(
            self.assignment.commitment.is_some(),
            GpuShareError::NotCommitted
        );
        require!(
            self.assignment.challenge.is_none(),
            GpuShareError::AlreadyChallenged
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let key = accounts.assignment.key();
        accounts
            .assignment
            .fix_challenge(&key, &accounts.slot_hashes.try_borrow_data()?)?;
        let assignment = &accounts.assignment;
        emit_event(ChallengeFixed {
            job: assignment.job,
            shard_index: assignment.shard_index,
            replica: assignment.replica,
            challenge: assignment.challenge.unwrap_or_default(),
        });
        Ok(())
    }
}
