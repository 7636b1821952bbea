//! `fix_challenge` (anyone): once the slots after a spot-checked assignment's commitment exist, or
//! after its shard's dispute opened, its challenge is fixed from their hashes. The SlotHashes sysvar
//! keeps about 512 slots; fixing a spot-check's challenge early means a replica's proof never
//! depends on when the shard's other replicas commit.
use anchor_lang::prelude::*;

use crate::constants::SLOT_HASHES_SYSVAR;
use crate::errors::GpuShareError;
use crate::events::{ChallengeFixed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job, Shard};

#[derive(Accounts)]
pub struct FixChallenge<'info> {
    #[account(
        seeds = [seeds::JOB, job.network.as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        seeds = [seeds::SHARD, job.key().as_ref(), &shard.index.to_le_bytes()],
        bump = shard.bump,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub shard: Box<Account<'info, Shard>>,
    #[account(
        mut,
        seeds = [seeds::ASSIGNMENT, shard.key().as_ref(), &[assignment.replica]],
        bump = assignment.bump,
        has_one = shard @ GpuShareError::WrongJob,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
    /// CHECK: the SlotHashes sysvar (address checked).
    #[account(address = SLOT_HASHES_SYSVAR @ GpuShareError::WrongSlotHashes)]
    pub slot_hashes: UncheckedAccount<'info>,
}

impl FixChallenge<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let after = accounts
            .job
            .challenge_after(&accounts.shard, &accounts.assignment)?;
        let key = accounts.assignment.key();
        accounts
            .assignment
            .fix_challenge(&key, &accounts.slot_hashes.try_borrow_data()?, after)?;
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
