//! `close_job` (anyone): when no work is left, fees move to the network's program-owned fee vault,
//! the slashes the job held are burned (nobody who could cause a slash receives it), the rest of the
//! escrow returns to the client, and the vault and job close, rent back to the client. No account outside the program's control can stop a refund.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{JobClosed, emit_event};
use crate::seeds;
use crate::state::{Job, Network};
use crate::token;

#[derive(Accounts)]
pub struct CloseJob<'info> {
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    /// Written: the slashes the job holds are burned.
    #[account(mut, address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        close = client,
        seeds = [seeds::JOB, network.key().as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
        has_one = network @ GpuShareError::WrongNetwork,
        has_one = client @ GpuShareError::NotJobClient,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        seeds = [seeds::ESCROW_VAULT, job.key().as_ref()],
        bump = job.vault_bump,
    )]
    pub escrow_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the job's client; receives the rent of the job and its vault.
    #[account(mut)]
    pub client: UncheckedAccount<'info>,
    #[account(
        mut,
        constraint = client_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = client_token.owner == client.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub client_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        seeds = [seeds::FEE_VAULT, network.key().as_ref()],
        bump = network.fee_vault_bump,
    )]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl CloseJob<'_> {
    fn validate(&self) -> Result<()> {
        require!(
            self.job.is_closable(Clock::get()?.unix_timestamp),
            GpuShareError::JobStillOpen
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let job = &accounts.job;
        let to_treasury = job.fees_accrued;
        let burned = job.slashes_held;
        let to_client = accounts
            .escrow_vault
            .amount
            .checked_sub(to_treasury)
            .and_then(|left| left.checked_sub(burned))
            .ok_or(GpuShareError::MathOverflow)?;
        job.with_signer(|signer| {
            let authority = || job.to_account_info();
            token::transfer(
                &accounts.token_program,
                &accounts.mint,
                &accounts.escrow_vault,
                &accounts.fee_vault,
                authority(),
                signer,
                to_treasury,
            )?;
            token::burn(
                &accounts.token_program,
                &accounts.mint,
                &accounts.escrow_vault,
                authority(),
                signer,
                burned,
            )?;
            token::transfer(
                &accounts.token_program,
                &accounts.mint,
                &accounts.escrow_vault,
                &accounts.client_token,
                authority(),
                signer,
                to_client,
            )?;
            token::close_vault(
                &accounts.token_program,
                &accounts.escrow_vault,
                accounts.client.to_account_info(),
                authority(),
                signer,
            )
        })?;
        emit_event(JobClosed {
            job: job.key(),
            paid_out: job.paid_out,
            to_treasury,
            burned,
            to_client,
        });
        Ok(())
    }
}
