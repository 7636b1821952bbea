//! `settle_benchmark` (anyone): once a benchmark has its verdict — every sample proven,
//! a wrong leaf, or a deadline missed — records it and closes the challenge. Passing records the
//! proven throughput on the provider and pays it the fee; failing burns the share fixed when the
//! challenge opened of one claim's stake (from the stake behind the provider), clears its proven
//! throughput and burns the fee: a challenge always costs its challenger, and failing never pays
//! the provider.
//! The rent goes back to the requester either way.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::constants::INCINERATOR;
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
    /// Written: a failed challenge's slash is burned.
    #[account(mut, address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, has_one = network @ GpuShareError::WrongNetwork)]
    pub provider: Box<Account<'info, Provider>>,
    /// CHECK: the incinerator (address checked): burns the fee when the provider fails.
    #[account(mut, address = INCINERATOR @ GpuShareError::WrongIncinerator)]
    pub incinerator: UncheckedAccount<'info>,
    /// CHECK: receives the fee when the provider passes; must be the provider's wallet.
    #[account(mut, address = provider.authority @ GpuShareError::NotProviderAuthority)]
    pub provider_authority: UncheckedAccount<'info>,
    #[account(
        mut,
        seeds = [seeds::STAKE_VAULT, provider.key().as_ref()],
        bump = provider.vault_bump,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
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
                    challenged: false,
                };
                move_fee(benchmark, &accounts.provider_authority)?;
                (true, mops, 0)
            }
            BenchmarkVerdict::Failed => {
                let benchmark = &accounts.benchmark;
                move_fee(benchmark, &accounts.incinerator)?;
                let provider = &mut accounts.provider;
                let amount = provider.slash(
                    benchmark.slash_bps,
                    benchmark.slash_obligation,
                    benchmark.unbonded_at_request,
                );
                provider.proven = ProvenHardware::default();
                provider.with_signer(|signer| {
                    token::burn(
                        &accounts.token_program,
                        &accounts.mint,
                        &accounts.stake_vault,
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

/// Moves the challenge's fee out of `benchmark` to `to`; the rest (its rent) goes back to the
/// requester when the account closes.
fn move_fee(benchmark: &Account<'_, Benchmark>, to: &AccountInfo<'_>) -> Result<()> {
    let fee = benchmark.fee;
    **benchmark.to_account_info().try_borrow_mut_lamports()? -= fee;
    **to.try_borrow_mut_lamports()? += fee;
    Ok(())
}
