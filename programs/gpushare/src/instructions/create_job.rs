//! `create_job`: a client posts a job and escrows `shards × replicas × (price + fee)`.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::constants::{MAX_JOB_LIFETIME_SECONDS, MIN_WINDOW_SECONDS};
use crate::errors::GpuShareError;
use crate::events::{JobCreated, emit_event};
use crate::seeds;
use crate::state::{CreateJobArgs, Job, KernelSpec, Network, VerificationMode};
use crate::token;
use gpushare_core::embedding::check::{EMBEDDING_SAMPLES, dims_checkable};
use gpushare_core::spot_check::{SpotCheckRefusal, check_spot_check};

#[derive(Accounts)]
#[instruction(args: CreateJobArgs)]
pub struct CreateJob<'info> {
    #[account(mut)]
    pub client: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        init,
        payer = client,
        space = Job::space(args.shards),
        seeds = [seeds::JOB, network.key().as_ref(), client.key().as_ref(), &args.job_id.to_le_bytes()],
        bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        init,
        payer = client,
        seeds = [seeds::ESCROW_VAULT, job.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = job,
        token::token_program = token_program,
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
    pub system_program: Program<'info, System>,
}

impl CreateJob<'_> {
    fn validate(&self, args: &CreateJobArgs) -> Result<()> {
        let params = &self.network.params;
        args.kernel.validate()?;
        args.input.validate(&args.kernel)?;
        // A seed is public by nature: only a data input can be private.
        require!(
            args.private.is_none() || args.input.seed().is_none(),
            GpuShareError::PrivateJobNeedsData
        );
        // An embedding spot-check opens whole sequences of the input in its witnesses.
        require!(
            args.private.is_none() || !args.mode.is_spot_check(),
            GpuShareError::PrivateJobNeedsQuorum
        );
        require!(
            args.shards >= 1
                && args.shards <= params.max_shards
                && u64::from(args.shards) <= args.kernel.max_shards(),
            GpuShareError::InvalidShardCount
        );
        require!(
            args.kernel
                .to_core()
                .check_shard_size(u32::from(args.shards))
                .is_ok(),
            GpuShareError::ShardOutputTooLarge
        );
        require!(
            args.replicas >= 1 && args.replicas <= params.max_replicas,
            GpuShareError::InvalidReplicaCount
        );
        args.mode.validate(args.replicas)?;
        // Without evidence a tie is refunded: a lone wrong root must be outvoted, and slashed, by
        // the others instead of forcing one for free.
        if let VerificationMode::Quorum { q } = args.mode {
            require!(
                args.replicas > q || args.settles_ties_by_evidence(),
                GpuShareError::QuorumWithoutSpare
            );
        }
        if let VerificationMode::SpotCheck { samples } = args.mode {
            match args.kernel {
                KernelSpec::Embedding { dims, .. } => require!(
                    args.input.seed().is_none()
                        && samples == EMBEDDING_SAMPLES
                        && dims_checkable(dims),
                    GpuShareError::EmbeddingSpotCheckRefused
                ),
                _ => Self::validate_seeded_spot_check(args, samples)?,
            }
        }
        require!(args.price > 0, GpuShareError::InvalidPrice);
        require!(
            (MIN_WINDOW_SECONDS..=params.max_claim_timeout).contains(&args.claim_timeout),
            GpuShareError::InvalidWindow
        );
        let now = Clock::get()?.unix_timestamp;
        let earliest = now + args.min_lifetime(params.reveal_window);
        require!(
            (earliest..=now + MAX_JOB_LIFETIME_SECONDS).contains(&args.expires_at),
            GpuShareError::InvalidExpiry
        );
        Ok(())
    }

    /// A seeded kernel's spot-check: its leaves recomputed one per proof, each within the budget
    /// and a transaction, and not guessable.
    fn validate_seeded_spot_check(args: &CreateJobArgs, samples: u8) -> Result<()> {
        require!(
            args.input.seed().is_some(),
            GpuShareError::SpotCheckNeedsSeed
        );
        let kernel = args.kernel.to_core();
        require!(
            gpushare_core::spot_check::leaf_fits_budget(&kernel),
            GpuShareError::LeafTooExpensive
        );
        check_spot_check(&kernel, u32::from(args.shards), samples).map_err(|refusal| {
            error!(match refusal {
                SpotCheckRefusal::ProofTooLarge { .. } => GpuShareError::ProofTooLarge,
                SpotCheckRefusal::LeavesGuessable { .. } => GpuShareError::LeavesGuessable,
                SpotCheckRefusal::InvalidShape => GpuShareError::InvalidShardCount,
            })
        })
    }

    #[access_control(ctx.accounts.validate(&args))]
    pub fn handler(ctx: Context<Self>, args: CreateJobArgs) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let params = accounts.network.params;
        let ties_by_evidence = args.settles_ties_by_evidence();
        accounts.job.set_inner(Job {
            client: accounts.client.key(),
            network: accounts.network.key(),
            job_id: args.job_id,
            kernel: args.kernel,
            input: args.input,
            private: args.private,
            shards: args.shards,
            replicas: args.replicas,
            mode: args.mode,
            price: args.price,
            fee_per_slot: Job::fee_for(args.price, &params),
            ties_by_evidence,
            stake_per_claim: params.stake_per_claim,
            fraud_slash_bps: params.fraud_slash_bps,
            miss_slash_bps: params.miss_slash_bps,
            reveal_window: params.reveal_window,
            claim_timeout: args.claim_timeout,
            created_at: Clock::get()?.unix_timestamp,
            expires_at: args.expires_at,
            hardware: args.hardware,
            cancelled: false,
            shards_started: 0,
            started: vec![0; usize::from(args.shards).div_ceil(8)],
            shards_live: 0,
            shards_settled: 0,
            shards_refunded: 0,
            assignments_live: 0,
            paid_out: 0,
            fees_accrued: 0,
            slashes_held: 0,
            refunded: 0,
            bump: ctx.bumps.job,
            vault_bump: ctx.bumps.escrow_vault,
        });
        let escrow = accounts.job.escrow_total()?;
        token::transfer(
            &accounts.token_program,
            &accounts.mint,
            &accounts.client_token,
            &accounts.escrow_vault,
            accounts.client.to_account_info(),
            &[],
            escrow,
        )?;
        let job = &accounts.job;
        emit_event(JobCreated {
            job: job.key(),
            client: job.client,
            job_id: job.job_id,
            kernel: job.kernel,
            shards: job.shards,
            replicas: job.replicas,
            mode: job.mode,
            price: job.price,
            escrow,
            expires_at: job.expires_at,
        });
        Ok(())
    }
}
