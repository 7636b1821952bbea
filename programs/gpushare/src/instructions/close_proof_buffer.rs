//! `close_proof_buffer`: the provider closes a buffer it no longer needs (a witness it wrote
//! wrongly, or an assignment that settled), and gets its rent back.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::ProofBuffer;

#[derive(Accounts)]
pub struct CloseProofBuffer<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::PROOF_BUFFER, buffer.assignment.as_ref(), &[buffer.sample]],
        bump = buffer.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        close = authority,
    )]
    pub buffer: Box<Account<'info, ProofBuffer>>,
}

impl CloseProofBuffer<'_> {
    pub fn handler(_ctx: Context<Self>) -> Result<()> {
        Ok(())
    }
}
