//! `cancel_job`: the client stops new shards from starting and gets their escrow back at once;
//! shards already started run to their end.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{JobCancelled, emit_event};
use crate::seeds;
use crate::state::{Job, Network};
use crate::token;

#[derive(Accounts)]
pub struct CancelJob<'info> {
    pub client: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::JOB, network.key().as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
        has_one = client @ GpuShareError::NotJobClient,
        has_one = network @ GpuShareError::WrongNetwork,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        seeds = [seeds::ESCROW_VAULT, job.key().as_ref()],
        bump = job.vault_bump,
    )]
    pub escrow_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        constraint = client_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = client_token.owner == client.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub client_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl CancelJob<'_> {
    fn validate(&self) -> Result<()> {
        require!(!self.job.cancelled, GpuShareError::JobCancelled);
        require!(
            !self.job.is_expired(Clock::get()?.unix_timestamp),
            GpuShareError::JobExpired
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let unstarted = u64::from(accounts.job.shards - accounts.job.shards_started);
        let refund = accounts
            .job
            .escrow_per_shard()?
            .checked_mul(unstarted)
            .ok_or(GpuShareError::MathOverflow)?;
        accounts.job.with_signer(|signer| {
            token::transfer(
                &accounts.token_program,
                &accounts.mint,
                &accounts.escrow_vault,
                &accounts.client_token,
                accounts.job.to_account_info(),
                signer,
                refund,
            )
        })?;
        let job = &mut accounts.job;
        job.cancelled = true;
        job.refunded += refund;
        emit_event(JobCancelled {
            job: job.key(),
            refunded: refund,
        });
        Ok(())
    }
}
