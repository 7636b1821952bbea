//! `commit_benchmark`: before the challenge's deadline the provider posts the Merkle root of the
//! whole seeded output; the slot it lands in ends the measured window.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::events::{BenchmarkCommitted, emit_event};
use crate::instructions::ProviderBenchmark;

impl ProviderBenchmark<'_> {
    fn validate_commit(&self) -> Result<()> {
        let benchmark = &self.benchmark;
        require!(benchmark.seed.is_some(), GpuShareError::BenchmarkNotStarted);
        require!(benchmark.root.is_none(), GpuShareError::BenchmarkCommitted);
        require!(
            Clock::get()?.slot <= benchmark.commit_deadline,
            GpuShareError::BenchmarkDeadlinePassed
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate_commit())]
    pub fn commit_benchmark(ctx: Context<Self>, root: [u8; 32]) -> Result<()> {
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
