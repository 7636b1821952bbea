//! `close_shard`: a shard that is settled, or whose job expired, and holds no live assignment
//! closes; rent back to the provider that created it. Before the job expires only its client may
//! close it, so nobody can take away the settled root the client's results are checked against.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{ShardClosed, emit_event};
use crate::seeds;
use crate::state::{Job, Shard};

#[derive(Accounts)]
pub struct CloseShard<'info> {
    #[account(
        mut,
        seeds = [seeds::JOB, job.network.as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        close = rent_receiver,
        seeds = [seeds::SHARD, job.key().as_ref(), &shard.index.to_le_bytes()],
        bump = shard.bump,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub shard: Box<Account<'info, Shard>>,
    /// CHECK: receives the shard's rent; must be the wallet that paid it.
    #[account(mut, address = shard.payer @ GpuShareError::WrongRentReceiver)]
    pub rent_receiver: UncheckedAccount<'info>,
    /// The job's client until the job expires (the settled shard holds the root its results are
    /// verified against, and results are served only while it does); anyone after.
    pub closer: Signer<'info>,
}

impl CloseShard<'_> {
    fn validate(&self) -> Result<()> {
        let expired = self.job.is_expired(Clock::get()?.unix_timestamp);
        require!(
            (self.shard.is_settled() || expired) && self.shard.held_mask == 0,
            GpuShareError::ShardStillOpen
        );
        require!(
            expired || self.closer.key() == self.job.client,
            GpuShareError::NotJobClient
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let job = &mut ctx.accounts.job;
        job.shards_live -= 1;
        emit_event(ShardClosed {
            job: job.key(),
            shard_index: ctx.accounts.shard.index,
        });
        Ok(())
    }
}
