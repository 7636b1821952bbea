//! `settle_benchmark` (anyone): once a throughput challenge has its verdict — every sample proven,
//! a wrong leaf, or a deadline missed — records it and closes the challenge. Passing records the
//! proven throughput on the provider and pays it the fee; failing slashes the missed-claim share of
//! everything staked behind it into the fee vault, clears its proven throughput and refunds the fee.
//! The rent goes back to the requester either way.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{BenchmarkSettled, emit_event};
use crate::seeds;
use crate::state::{Benchmark, BenchmarkVerdict, Network, ProvenHardware, Provider};
use crate::token;

#[derive(Accounts)]
pub struct SettleBenchmark<'info> {
    #[account(
        mut,
        seeds = [seeds::BENCHMARK, provider.key().as_ref()],
        bump = benchmark.bump,
        close = requester,
    )]
    pub benchmark: Box<Account<'info, Benchmark>>,
    /// CHECK: receives the rent (and a refunded fee); must be the wallet that asked.
    #[account(mut, address = benchmark.requester @ GpuShareError::WrongRentReceiver)]
    pub requester: UncheckedAccount<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    /// CHECK: receives the fee when the provider passes; must be the provider's wallet.
    #[account(mut, address = provider.authority @ GpuShareError::NotProviderAuthority)]
    pub provider_authority: UncheckedAccount<'info>,
    #[account(
        mut,
        seeds = [seeds::STAKE_VAULT, provider.key().as_ref()],
        bump = provider.vault_bump,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        seeds = [seeds::FEE_VAULT, network.key().as_ref()],
        bump = network.fee_vault_bump,
    )]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl SettleBenchmark<'_> {
    pub fn handler(ctx: Context<Self>) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        let verdict = accounts
            .benchmark
            .verdict(Clock::get()?.slot)
            .ok_or(GpuShareError::BenchmarkNotOver)?;
        let (passed, mops, slashed) = match verdict {
            BenchmarkVerdict::Passed { mops } => {
                let benchmark = &accounts.benchmark;
                accounts.provider.proven = ProvenHardware {
                    mops,
                    slot: benchmark.committed_slot,
                    devices: benchmark.devices,
                };
                let fee = benchmark.fee;
                **benchmark.to_account_info().try_borrow_mut_lamports()? -= fee;
                **accounts.provider_authority.try_borrow_mut_lamports()? += fee;
                (true, mops, 0)
            }
            BenchmarkVerdict::Failed => {
                let provider = &mut accounts.provider;
                let amount = provider.slash(accounts.network.params.miss_slash_bps);
                provider.proven = ProvenHardware::default();
                provider.with_signer(|signer| {
                    token::transfer(
                        &accounts.token_program,
                        &accounts.mint,
                        &accounts.stake_vault,
                        &accounts.fee_vault,
                        provider.to_account_info(),
                        signer,
                        amount,
                    )
                })?;
                (false, 0, amount)
            }
        };
        emit_event(BenchmarkSettled {
            provider: accounts.provider.key(),
            passed,
            mops,
            slashed,
        });
        Ok(())
    }
}
