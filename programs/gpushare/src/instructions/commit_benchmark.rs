//! `commit_benchmark`: before the challenge's deadline the provider posts the Merkle root of the
//! whole seeded output; the slot it lands in ends the measured window.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{BenchmarkCommitted, emit_event};
use crate::seeds;
use crate::state::{Benchmark, Provider};

#[derive(Accounts)]
pub struct CommitBenchmark<'info> {
    pub authority: Signer<'info>,
    #[account(has_one = authority @ GpuShareError::NotProviderAuthority)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [seeds::BENCHMARK, provider.key().as_ref()],
        bump = benchmark.bump,
    )]
    pub benchmark: Box<Account<'info, Benchmark>>,
}

impl CommitBenchmark<'_> {
    fn validate(&self) -> Result<()> {
        let benchmark = &self.benchmark;
        require!(benchmark.seed.is_some(), GpuShareError::BenchmarkNotStarted);
        require!(benchmark.root.is_none(), GpuShareError::BenchmarkCommitted);
        require!(
            Clock::get()?.slot <= benchmark.commit_deadline,
            GpuShareError::BenchmarkDeadlinePassed
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>, root: [u8; 32]) -> Result<()> {
        let slot = Clock::get()?.slot;
        let benchmark = &mut ctx.accounts.benchmark;
        benchmark.root = Some(root);
        benchmark.committed_slot = slot;
        emit_event(BenchmarkCommitted {
            provider: benchmark.provider,
            root,
            slot,
        });
        Ok(())
    }
}
