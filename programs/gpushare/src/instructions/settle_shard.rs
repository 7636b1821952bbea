//! `settle_shard` (anyone): once every replica revealed or the reveal window closed, tally the
//! votes: quorum wins; no quorum opens one more replica, given out by a draw, while the cap allows
//! and the draw, its commit and its reveal fit before the job expires; else the shard's escrow is
//! refunded and nobody is slashed.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{ExtraReplicaOpened, ShardSettled, emit_event};
use crate::seeds;
use crate::state::{Job, Resolution, Shard, ShardOutcome};

#[derive(Accounts)]
pub struct SettleShard<'info> {
    #[account(
        mut,
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
}

impl SettleShard<'_> {
    fn validate(&self) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        self.shard
            .check_ready_to_settle(now, self.job.mode.is_spot_check())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let clock = Clock::get()?;
        let job = &mut ctx.accounts.job;
        let shard = &mut ctx.accounts.shard;
        let job_key = job.key();
        let (resolution, draw) = job.resolve_shard(shard, clock.unix_timestamp, clock.slot);
        match resolution {
            Resolution::ExtraReplica { replica } => {
                emit_event(ExtraReplicaOpened {
                    job: job_key,
                    shard_index: shard.index,
                    replica,
                    draw_closes_at: draw.closes_at,
                    commit_by: draw.commit_by,
                });
            }
            Resolution::Final(outcome) => {
                job.shards_settled += 1;
                if outcome == ShardOutcome::NoQuorum {
                    job.shards_refunded += 1;
                }
                emit_event(ShardSettled {
                    job: job_key,
                    shard_index: shard.index,
                    outcome,
                });
            }
        }
        Ok(())
    }
}
