//! `request_benchmark`: the provider, or anyone against it for the network's fee, opens a
//! benchmark. The provider sizes its own from its claimed throughput; a third party may
//! challenge only a proven figure no third party has challenged yet, sized from the larger of the
//! claimed and the proven throughput, so a provider cannot dodge challenges by claiming nothing
//! while its figure qualifies it for jobs, and nobody can grind it down by challenging again and
//! again. The terms of its slash are fixed now. Its seed comes from slots that do not exist yet;
//! its commitment deadline follows from the size.
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
    /// Written: a third party's challenge marks the proven figure challenged.
    #[account(mut, has_one = network @ GpuShareError::WrongNetwork)]
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
    /// Whether the provider challenges itself (for no fee).
    fn by_provider(&self) -> bool {
        self.requester.key() == self.provider.authority
    }

    /// The throughput the challenge is sized for.
    fn challenged_gops(&self) -> u64 {
        let claimed = self.provider.hardware.throughput_gops;
        if self.by_provider() {
            claimed
        } else {
            claimed.max(self.provider.proven.gops())
        }
    }

    fn validate(&self) -> Result<()> {
        require!(self.benchmark.is_new(), GpuShareError::BenchmarkOpen);
        require!(
            self.challenged_gops() > 0,
            GpuShareError::NoThroughputClaimed
        );
        let proven = &self.provider.proven;
        require!(
            self.by_provider() || (proven.mops > 0 && !proven.challenged),
            GpuShareError::NothingToChallenge
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
        let params = accounts.network.params;
        let by_provider = accounts.by_provider();
        let gops = accounts.challenged_gops();
        let fee = if by_provider { 0 } else { params.benchmark_fee };
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
        let devices = accounts.provider.hardware.devices.max(1);
        let size = BenchmarkSize::for_throughput(gops, params.benchmark_millis, devices);
        let slot = Clock::get()?.slot;
        let commit_deadline = slot
            .saturating_add(CHALLENGE_SLOTS as u64)
            .saturating_add(size.commit_slots(gops));
        accounts.benchmark.set_inner(Benchmark {
            provider: accounts.provider.key(),
            requester: accounts.requester.key(),
            fee,
            units: size.units,
            unit_rows: size.unit_rows,
            devices,
            claimed_gops: gops,
            slash_bps: params.miss_slash_bps,
            slash_obligation: params.stake_per_claim,
            unbonded_at_request: accounts.provider.unbonded_total,
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
        if !by_provider {
            accounts.provider.proven.challenged = true;
        }
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
