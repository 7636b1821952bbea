//! `settle_shard` (anyone): while a shard is committing, once its free slots stayed unclaimed for a
//! claim timeout (or no new claim could settle before the job expires), close them and open the
//! reveal window for the replicas that committed. Once every replica revealed or the reveal window
//! closed, tally the votes: quorum wins. Without quorum a seeded job's revealed replicas prove
//! samples that the program recomputes (a dispute, settled by this instruction again once decided
//! or over); any other job's shard is refunded, nobody who revealed slashed. No replica is added
//! after the roots are public, so no vote cast after them decides anything.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{ShardDisputed, ShardSettled, UnfilledReplicasClosed, emit_event};
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
        self.job.check_ready_to_settle(&self.shard, now)
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let clock = Clock::get()?;
        let job = &mut ctx.accounts.job;
        let shard = &mut ctx.accounts.shard;
        match job.resolve_shard(shard, clock.unix_timestamp, clock.slot) {
            Resolution::Unfilled {
                closed_mask,
                deadline,
            } => emit_event(UnfilledReplicasClosed {
                job: job.key(),
                shard_index: shard.index,
                closed_mask,
                reveal_deadline: deadline,
            }),
            Resolution::Disputed { deadline } => emit_event(ShardDisputed {
                job: job.key(),
                shard_index: shard.index,
                deadline,
            }),
            Resolution::Final(outcome) => {
                job.shards_settled += 1;
                if outcome == ShardOutcome::NoQuorum {
                    job.shards_refunded += 1;
                }
                emit_event(ShardSettled {
                    job: job.key(),
                    shard_index: shard.index,
                    outcome,
                });
            }
        }
        Ok(())
    }
}
