//! Token movements: checked transfers, burns of slashed stake and vault closes through the token
//! interface, so SPL Token and Token-2022 mints both work.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{
    self, BurnChecked, CloseAccount, Mint, TokenAccount, TokenInterface, TransferChecked,
};

/// Moves `amount` from `from` to `to`, signed by `authority` (a PDA when `signer_seeds` is set).
/// Moving nothing is a no-op.
pub fn transfer<'info>(
    token_program: &Interface<'info, TokenInterface>,
    mint: &InterfaceAccount<'info, Mint>,
    from: &InterfaceAccount<'info, TokenAccount>,
    to: &InterfaceAccount<'info, TokenAccount>,
    authority: AccountInfo<'info>,
    signer_seeds: &[&[&[u8]]],
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let accounts = TransferChecked {
        from: from.to_account_info(),
        mint: mint.to_account_info(),
        to: to.to_account_info(),
        authority,
    };
    let ctx = CpiContext::new_with_signer(token_program.key(), accounts, signer_seeds);
    token_interface::transfer_checked(ctx, amount, mint.decimals)
}

/// Burns `amount` held in `from`, signed by its owner `authority` (a PDA): slashed stake leaves the
/// supply, so nobody who can cause a slash — the treasury's owner included — receives it. Burning
/// nothing is a no-op.
pub fn burn<'info>(
    token_program: &Interface<'info, TokenInterface>,
    mint: &InterfaceAccount<'info, Mint>,
    from: &InterfaceAccount<'info, TokenAccount>,
    authority: AccountInfo<'info>,
    signer_seeds: &[&[&[u8]]],
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let accounts = BurnChecked {
        mint: mint.to_account_info(),
        from: from.to_account_info(),
        authority,
    };
    let ctx = CpiContext::new_with_signer(token_program.key(), accounts, signer_seeds);
    token_interface::burn_checked(ctx, amount, mint.decimals)
}

/// Closes the PDA-owned token account `vault`, its rent going to `destination`.
pub fn close_vault<'info>(
    token_program: &Interface<'info, TokenInterface>,
    vault: &InterfaceAccount<'info, TokenAccount>,
    destination: AccountInfo<'info>,
    authority: AccountInfo<'info>,
    signer_seeds: &[&[&[u8]]],
) -> Result<()> {
    let accounts = CloseAccount {
        account: vault.to_account_info(),
        destination,
        authority,
    };
    let ctx = CpiContext::new_with_signer(token_program.key(), accounts, signer_seeds);
    token_interface::close_account(ctx)
}
