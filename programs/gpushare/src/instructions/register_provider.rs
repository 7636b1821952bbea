//! `register_provider`: a wallet joins the network with an initial stake and its hardware profile.
//! A provider that left (`close_provider`) comes back to the same account: its track record
//! (completed, failed, missed, slashed, earned, registration time) is never reset.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{ProviderRegistered, emit_event};
use crate::seeds;
use crate::state::{HardwareProfile, Network, ProvenHardware, Provider, StakePool, Warming};
use crate::token;

#[derive(Accounts)]
pub struct RegisterProvider<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(seeds = [seeds::NETWORK, network.mint.as_ref()], bump = network.bump)]
    pub network: Box<Account<'info, Network>>,
    #[account(address = network.mint @ GpuShareError::WrongMint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        init_if_needed,
        payer = authority,
        space = 8 + Provider::INIT_SPACE,
        seeds = [seeds::PROVIDER, network.key().as_ref(), authority.key().as_ref()],
        bump,
    )]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        init_if_needed,
        payer = authority,
        seeds = [seeds::STAKE_VAULT, provider.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = provider,
        token::token_program = token_program,
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init_if_needed,
        payer = authority,
        seeds = [seeds::REWARD_VAULT, provider.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = provider,
        token::token_program = token_program,
    )]
    pub reward_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        constraint = authority_token.mint == mint.key() @ GpuShareError::WrongMint,
        constraint = authority_token.owner == authority.key() @ GpuShareError::WrongTokenOwner,
        token::token_program = token_program,
    )]
    pub authority_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl RegisterProvider<'_> {
    fn validate(&self, stake: u64) -> Result<()> {
        require!(
            self.provider.is_new() || self.provider.is_empty(),
            GpuShareError::ProviderNotEmpty
        );
        require!(
            stake >= self.network.params.min_stake,
            GpuShareError::StakeBelowMinimum
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(stake))]
    pub fn handler(ctx: Context<Self>, stake: u64, hardware: HardwareProfile) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        token::transfer(
            &accounts.token_program,
            &accounts.mint,
            &accounts.authority_token,
            &accounts.stake_vault,
            accounts.authority.to_account_info(),
            &[],
            stake,
        )?;
        let provider = &mut accounts.provider;
        if provider.is_new() {
            provider.set_inner(Provider {
                authority: accounts.authority.key(),
                network: accounts.network.key(),
                stake: 0,
                unbonding: 0,
                unbonded_total: 0,
                warming: 0,
                own_warming: Warming::default(),
                unbonding_ends_at: 0,
                open_claims: 0,
                backing: 0,
                completed: 0,
                failed: 0,
                missed: 0,
                slashed: 0,
                earned: 0,
                hardware,
                registered_at: Clock::get()?.unix_timestamp,
                bump: ctx.bumps.provider,
                vault_bump: ctx.bumps.stake_vault,
                endpoint: String::new(),
                pool: StakePool::default(),
                reward_vault_bump: ctx.bumps.reward_vault,
                proven: ProvenHardware::default(),
            });
        }
        provider.reward_vault_bump = ctx.bumps.reward_vault;
        let now = Clock::get()?.unix_timestamp;
        provider.join(stake, false, now)?;
        provider.hardware = hardware;
        emit_event(ProviderRegistered {
            provider: accounts.provider.key(),
            authority: accounts.authority.key(),
            stake,
        });
        Ok(())
    }
}
