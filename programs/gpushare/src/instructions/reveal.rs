//! `reveal`: once its shard's reveal window is open, the provider reveals root and salt; they
//! must hash to its commitment under its own key.
use anchor_lang::prelude::*;

use crate::commitment::work_commitment;
use crate::errors::GpuShareError;
use crate::events::{WorkRevealed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Shard};

#[derive(Accounts)]
pub struct Reveal<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::SHARD, shard.job.as_ref(), &shard.index.to_le_bytes()],
        bump = shard.bump,
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
}

impl Reveal<'_> {
    fn validate(&self, root: &[u8; 32], salt: &[u8; 32]) -> Result<()> {
        let assignment = &self.assignment;
        let commitment = assignment.commitment.ok_or(GpuShareError::NotCommitted)?;
        require!(assignment.root.is_none(), GpuShareError::AlreadyRevealed);
        self.shard.check_reveal_open(Clock::get()?.unix_timestamp)?;
        require!(
            work_commitment(root, &assignment.authority, salt) == commitment,
            GpuShareError::CommitmentMismatch
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(&root, &salt))]
    pub fn handler(ctx: Context<Self>, root: [u8; 32], salt: [u8; 32]) -> Result<()> {
        let assignment = &mut ctx.accounts.assignment;
        let shard = &mut ctx.accounts.shard;
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
