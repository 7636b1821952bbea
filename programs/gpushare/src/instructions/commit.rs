//! `commit`: before its claim deadline the provider posts the commitment to its output's root.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{RevealOpened, WorkCommitted, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job, Network, Shard, ShardPhase};

#[derive(Accounts)]
pub struct Commit<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(
        seeds = [seeds::JOB, network.key().as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
        has_one = network @ GpuShareError::WrongNetwork,
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
}

impl Commit<'_> {
    fn validate(&self) -> Result<()> {
        require!(
            self.assignment.commitment.is_none(),
            GpuShareError::AlreadyCommitted
        );
        let now = Clock::get()?.unix_timestamp;
        require!(
            now <= self.assignment.commit_deadline,
            GpuShareError::CommitTooLate
        );
        require!(!self.job.is_expired(now), GpuShareError::JobExpired);
        self.assignment.check_keyed(&self.job)?;
        require!(
            self.shard.phase == ShardPhase::Committing,
            GpuShareError::CommitClosed
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>, commitment: [u8; 32]) -> Result<()> {
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        let accounts = &mut *ctx.accounts;
        let assignment = &mut accounts.assignment;
        let shard = &mut accounts.shard;
        assignment.commitment = Some(commitment);
        assignment.commit_slot = clock.slot;
        assignment.return_refusal(shard);
        shard.record_commit(assignment.replica, now, accounts.job.reveal_window);
        let job = accounts.job.key();
        emit_event(WorkCommitted {
            job,
            shard_index: shard.index,
            replica: assignment.replica,
            provider: assignment.provider,
            commitment,
        });
        if let ShardPhase::Revealing { deadline } = shard.phase {
            emit_event(RevealOpened {
                job,
                shard_index: shard.index,
                deadline,
            });
        }
        Ok(())
    }
}
