//! `claim`: an eligible provider takes one (shard, replica) slot; the slot's assignment account is
//! created here, so one slot has one holder.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{SlotClaimed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job, KeyExchange, Network, Provider, Shard, ShardPhase};

#[derive(Accounts)]
#[instruction(shard_index: u16, replica: u8)]
pub struct Claim<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(
        mut,
        seeds = [seeds::PROVIDER, network.key().as_ref(), authority.key().as_ref()],
        bump = provider.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = network @ GpuShareError::WrongNetwork,
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [seeds::JOB, network.key().as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
        has_one = network @ GpuShareError::WrongNetwork,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        init_if_needed,
        payer = authority,
        space = 8 + Shard::INIT_SPACE,
        seeds = [seeds::SHARD, job.key().as_ref(), &shard_index.to_le_bytes()],
        bump,
    )]
    pub shard: Box<Account<'info, Shard>>,
    #[account(
        init_if_needed,
        payer = authority,
        space = 8 + Assignment::INIT_SPACE,
        seeds = [seeds::ASSIGNMENT, shard.key().as_ref(), &[replica]],
        bump,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
    pub system_program: Program<'info, System>,
}

impl Claim<'_> {
    fn validate(&self, shard_index: u16, replica: u8) -> Result<()> {
        let job = &self.job;
        let now = Clock::get()?.unix_timestamp;
        require!(shard_index < job.shards, GpuShareError::InvalidShardIndex);
        require!(!job.is_expired(now), GpuShareError::JobExpired);
        require!(self.assignment.is_new(), GpuShareError::SlotTaken);
        self.provider
            .check_can_claim(&self.network.params, job.stake_per_claim)?;
        self.provider.check_hardware(
            &job.hardware,
            self.network.params.proof_validity_slots,
            Clock::get()?.slot,
        )?;
        if self.shard.is_new() {
            job.check_can_start_shard(shard_index, replica, now)
        } else {
            job.check_can_join(&self.shard, replica, &self.provider.key(), now)
        }
    }

    #[access_control(ctx.accounts.validate(shard_index, replica))]
    pub fn handler(ctx: Context<Self>, shard_index: u16, replica: u8) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let now = Clock::get()?.unix_timestamp;
        let commit_deadline = now.saturating_add(accounts.job.claim_timeout);
        let job_key = accounts.job.key();
        let job = &mut accounts.job;
        let shard = &mut accounts.shard;
        if shard.is_new() {
            shard.set_inner(Shard {
                job: job_key,
                index: shard_index,
                payer: accounts.authority.key(),
                replicas_open: job.replicas,
                closed_mask: 0,
                waiting_since: now,
                phase: ShardPhase::Committing,
                holders: Default::default(),
                held_mask: 0,
                committed_mask: 0,
                revealed_mask: 0,
                missed_mask: 0,
                passed_mask: 0,
                failed_mask: 0,
                roots: Default::default(),
                votes: Default::default(),
                distinct_roots: 0,
                root_of: Default::default(),
                free_refusals: 0,
                bump: ctx.bumps.shard,
            });
            job.mark_started(shard_index);
        }
        let provider_key = accounts.provider.key();
        let private = job.private.is_some();
        shard.hold(replica, provider_key);
        job.assignments_live += 1;
        accounts.provider.open_claim(job.stake_per_claim);
        accounts.assignment.set_inner(Assignment {
            job: job_key,
            shard: shard.key(),
            shard_index,
            replica,
            provider: provider_key,
            authority: accounts.authority.key(),
            claimed_at: now,
            commission_bps: accounts.provider.pool.commission_at(now),
            unbonded_at_claim: accounts.provider.unbonded_total,
            commit_deadline,
            commitment: None,
            commit_slot: 0,
            challenge: None,
            proven: 0,
            root: None,
            key_exchange: KeyExchange {
                refusal_reserved: private && shard.reserve_free_refusal(),
                ..Default::default()
            },
            bump: ctx.bumps.assignment,
        });
        emit_event(SlotClaimed {
            job: job_key,
            shard_index,
            replica,
            provider: provider_key,
            commit_deadline,
        });
        Ok(())
    }
}
