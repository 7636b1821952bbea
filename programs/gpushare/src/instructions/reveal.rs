//! `reveal`: once its shard's reveal window is open, the provider reveals root and salt; they
//! must hash to its commitment under its own key. On a spot-checked job this also fixes the
//! challenge if `fix_challenge` has not already.
use anchor_lang::prelude::*;

use crate::commitment::work_commitment;
use crate::constants::SLOT_HASHES_SYSVAR;
use crate::errors::GpuShareError;
use crate::events::{WorkRevealed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job, Shard};

#[derive(Accounts)]
pub struct Reveal<'info> {
    pub authority: Signer<'info>,
    #[account(
        seeds = [seeds::JOB, job.network.as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        seeds = [seeds::SHARD, job.key().as_ref(), &shard.index.to_le_bytes()],
        bump = shard.bump,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub shard: Box<Account<'info, Shard>>,
    #[account(
        mut,
        seeds = [seeds::ASSIGNMENT, shard.key().as_ref(), &[assignment.replica]],
        bump = assignment.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = shard @ GpuShareError::WrongJob,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
    /// CHECK: the SlotHashes sysvar (address checked); read only on spot-checked jobs.
    #[account(address = SLOT_HASHES_SYSVAR @ GpuShareError::WrongSlotHashes)]
    pub slot_hashes: UncheckedAccount<'info>,
}

impl Reveal<'_> {
    fn validate(&self, root: &[u8; 32], salt: &[u8; 32]) -> Result<()> {
        let assignment = &self.assignment;
        let commitment = assignment.commitment.ok_or(GpuShareError::NotCommitted)?;
        require!(assignment.root.is_none(), GpuShareError::AlreadyRevealed);
        self.shard
            .check_can_reveal(assignment.replica, Clock::get()?.unix_timestamp)?;
        require!(
            work_commitment(root, &assignment.authority, salt) == commitment,
            GpuShareError::CommitmentMismatch
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(&root, &salt))]
    pub fn handler(ctx: Context<Self>, root: [u8; 32], salt: [u8; 32]) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        if accounts.job.mode.is_spot_check() && accounts.assignment.challenge.is_none() {
            let key = accounts.assignment.key();
            let after = accounts.assignment.commit_slot;
            accounts.assignment.fix_challenge(
                &key,
                &accounts.slot_hashes.try_borrow_data()?,
                after,
            )?;
        }
        let assignment = &mut accounts.assignment;
        let shard = &mut accounts.shard;
        assignment.root = Some(root);
        shard.record_reveal(assignment.replica, root);
        emit_event(WorkRevealed {
            job: shard.job,
            shard_index: shard.index,
            replica: assignment.replica,
            provider: assignment.provider,
            root,
        });
        Ok(())
    }
}
