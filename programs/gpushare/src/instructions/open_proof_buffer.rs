//! `open_proof_buffer`: a provider opens the buffer it stages one embedding sample's witness in.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::{Assignment, ProofBuffer};

#[derive(Accounts)]
#[instruction(sample: u8)]
pub struct OpenProofBuffer<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(has_one = authority @ GpuShareError::NotProviderAuthority)]
    pub assignment: Box<Account<'info, Assignment>>,
    #[account(
        init,
        payer = authority,
        space = ProofBuffer::space(0),
        seeds = [seeds::PROOF_BUFFER, assignment.key().as_ref(), &[sample]],
        bump,
    )]
    pub buffer: Box<Account<'info, ProofBuffer>>,
    pub system_program: Program<'info, System>,
}

impl OpenProofBuffer<'_> {
    pub fn handler(ctx: Context<Self>, sample: u8) -> Result<()> {
        ctx.accounts.buffer.set_inner(ProofBuffer {
            assignment: ctx.accounts.assignment.key(),
            sample,
            authority: ctx.accounts.authority.key(),
            length: 0,
            bump: ctx.bumps.buffer,
        });
        Ok(())
    }
}
