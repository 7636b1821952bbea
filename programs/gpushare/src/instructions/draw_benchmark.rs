//! `draw_benchmark` (anyone): once the slots after a challenge's request exist, draws its seed from
//! their hashes (the measured window starts at the newest of them); once the slots after its
//! commitment exist, draws which leaves must be proven.
use anchor_lang::prelude::*;

use crate::constants::SLOT_HASHES_SYSVAR;
use crate::errors::GpuShareError;
use crate::events::{BenchmarkDrawn, emit_event};
use crate::seeds;
use crate::state::Benchmark;

#[derive(Accounts)]
pub struct DrawBenchmark<'info> {
    #[account(
        mut,
        seeds = [seeds::BENCHMARK, benchmark.provider.as_ref()],
        bump = benchmark.bump,
    )]
    pub benchmark: Box<Account<'info, Benchmark>>,
    /// CHECK: the SlotHashes sysvar (address checked).
    #[account(address = SLOT_HASHES_SYSVAR @ GpuShareError::WrongSlotHashes)]
    pub slot_hashes: UncheckedAccount<'info>,
}

impl DrawBenchmark<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let key = accounts.benchmark.key();
        accounts
            .benchmark
            .draw(&key, &accounts.slot_hashes.try_borrow_data()?)?;
        let benchmark = &accounts.benchmark;
        let (challenge, value) = match (benchmark.challenge, benchmark.seed) {
            (Some(challenge), _) => (true, challenge),
            (None, seed) => (false, seed.unwrap_or_default()),
        };
        emit_event(BenchmarkDrawn {
            provider: benchmark.provider,
            challenge,
            value,
        });
        Ok(())
    }
}
