//! `initialize_network`: the mint's authority creates the mint's network, with its treasury, its fee
//! vault and its parameters. Mints that can be frozen, or whose Token-2022 extensions could take,
//! hold back or freeze escrowed tokens, are refused.
use anchor_lang::prelude::*;
use anchor_spl::token_2022::spl_token_2022;
use anchor_spl::token_2022::spl_token_2022::extension::{
    BaseStateWithExtensions, ExtensionType, StateWithExtensions,
};
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::GpuShareError;
use crate::events::{NetworkInitialized, emit_event};
use crate::seeds;
use crate::state::{Network, NetworkParams};

#[derive(Accounts)]
pub struct InitializeNetwork<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(
        mint::token_program = token_program,
        constraint = mint.mint_authority == Some(authority.key()).into() @ GpuShareError::NotMintAuthority,
        constraint = mint.freeze_authority.is_none() @ GpuShareError::FreezableMint,
    )]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        constraint = treasury.mint == mint.key() @ GpuShareError::WrongMint,
        token::token_program = token_program,
    )]
    pub treasury: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init,
        payer = authority,
        space = 8 + Network::INIT_SPACE,
        seeds = [seeds::NETWORK, mint.key().as_ref()],
        bump,
    )]
    pub network: Box<Account<'info, Network>>,
    #[account(
        init,
        payer = authority,
        seeds = [seeds::FEE_VAULT, network.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = network,
        token::token_program = token_program,
    )]
    pub fee_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Token-2022 mint extensions that change nothing about how much a transfer moves or who can move it.
const SAFE_MINT_EXTENSIONS: [ExtensionType; 8] = [
    ExtensionType::MintCloseAuthority,
    ExtensionType::InterestBearingConfig,
    ExtensionType::MetadataPointer,
    ExtensionType::TokenMetadata,
    ExtensionType::GroupPointer,
    ExtensionType::TokenGroup,
    ExtensionType::GroupMemberPointer,
    ExtensionType::TokenGroupMember,
];

/// Refuses Token-2022 mints with extensions that would break exact escrow accounting or let someone
/// else move or freeze vault tokens (transfer fees and hooks, permanent delegates, pausing, default
/// frozen accounts, non-transferable or confidential tokens).
fn check_mint_extensions(mint: &AccountInfo) -> Result<()> {
    if *mint.owner != spl_token_2022::ID {
        return Ok(());
    }
    let data = mint.try_borrow_data()?;
    let state = StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data)
        .map_err(|_| GpuShareError::WrongMint)?;
    let extensions = state
        .get_extension_types()
        .map_err(|_| GpuShareError::WrongMint)?;
    require!(
        extensions
            .iter()
            .all(|extension| SAFE_MINT_EXTENSIONS.contains(extension)),
        GpuShareError::UnsupportedMintExtension
    );
    Ok(())
}

impl InitializeNetwork<'_> {
    fn validate(&self, params: &NetworkParams) -> Result<()> {
        params.validate()?;
        check_mint_extensions(&self.mint.to_account_info())
    }

    #[access_control(ctx.accounts.validate(&params))]
    pub fn handler(ctx: Context<Self>, params: NetworkParams) -> Result<()> {
        let network = &mut ctx.accounts.network;
        network.set_inner(Network {
            authority: ctx.accounts.authority.key(),
            mint: ctx.accounts.mint.key(),
            treasury: ctx.accounts.treasury.key(),
            params,
            pending: None,
            pending_effective_at: 0,
            bump: ctx.bumps.network,
            fee_vault_bump: ctx.bumps.fee_vault,
        });
        emit_event(NetworkInitialized {
            network: network.key(),
            authority: network.authority,
            mint: network.mint,
            treasury: network.treasury,
            params,
        });
        Ok(())
    }
}
