//! Accounts shared by the steps a provider takes on its own benchmark
//! (`commit_benchmark`, `prove_benchmark`).
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::{Benchmark, Provider};

#[derive(Accounts)]
pub struct ProviderBenchmark<'info> {
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
