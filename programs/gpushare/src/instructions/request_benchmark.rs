//! `request_benchmark`: the provider, or anyone against it for the network's fee, opens a
//! throughput challenge sized from the provider's claimed throughput. Its seed comes from slots
//! that do not exist yet; its commitment deadline follows from the size.
use anchor_lang::prelude::*;
use anchor_lang::system_program::{Transfer, transfer};
use gpushare_core::benchmark::BenchmarkSize;
use gpushare_core::spot_check::CHALLENGE_SLOTS;

use crate::errors::GpuShareError;
use crate::events::{BenchmarkRequested, emit_event};
use crate::seeds;
use crate::state::{Benchmark, Network, Provider};

#[derive(Accounts)]
pub struct RequestBenchmark<'info> {
    #[account(mut)]
    pub requester: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        init_if_needed,
        payer = requester,
        space = 8 + Benchmark::INIT_SPACE,
        seeds = [seeds::BENCHMARK, provider.key().as_ref()],
        bump,
    )]
    pub benchmark: Box<Account<'info, Benchmark>>,
    pub system_program: Program<'info, System>,
}

impl RequestBenchmark<'_> {
    fn validate(&self) -> Result<()> {
        require!(self.benchmark.is_new(), GpuShareError::BenchmarkOpen);
        require!(
            self.provider.hardware.throughput_gops > 0,
            GpuShareError::NoThroughputClaimed
        );
        require!(
            self.provider.own_stake()? >= self.network.params.min_stake,
            GpuShareError::StakeBelowMinimum
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate())]
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let params = &accounts.network.params;
        let hardware = accounts.provider.hardware;
        let fee = if accounts.requester.key() == accounts.provider.authority {
            0
        } else {
            params.benchmark_fee
        };
        transfer(
            CpiContext::new(
                accounts.system_program.key(),
                Transfer {
                    from: accounts.requester.to_account_info(),
                    to: accounts.benchmark.to_account_info(),
                },
            ),
            fee,
        )?;
        let devices = hardware.devices.max(1);
        let size = BenchmarkSize::for_throughput(
            hardware.throughput_gops,
            params.benchmark_millis,
            devices,
        );
        let slot = Clock::get()?.slot;
        let commit_deadline = slot
            .saturating_add(CHALLENGE_SLOTS as u64)
            .saturating_add(size.commit_slots(hardware.throughput_gops));
        accounts.benchmark.set_inner(Benchmark {
            provider: accounts.provider.key(),
            requester: accounts.requester.key(),
            fee,
            units: size.units,
            unit_rows: size.unit_rows,
            devices,
            claimed_gops: hardware.throughput_gops,
            requested_slot: slot,
            seed: None,
            seed_slot: 0,
            commit_deadline,
            root: None,
            committed_slot: 0,
            challenge: None,
            unit_roots: Default::default(),
            units_proven: 0,
            proven: 0,
            failed: false,
            bump: ctx.bumps.benchmark,
        });
        emit_event(BenchmarkRequested {
            provider: accounts.provider.key(),
            requester: accounts.requester.key(),
            units: size.units,
            unit_rows: size.unit_rows,
            commit_deadline,
        });
        Ok(())
    }
}
