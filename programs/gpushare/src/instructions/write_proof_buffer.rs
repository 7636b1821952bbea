//! `write_proof_buffer`: appends witness bytes at `offset`, which must be what the buffer holds so
//! far (a write sent twice is refused instead of appended twice). The account grows by the bytes,
//! its rent paid by the provider.
use anchor_lang::prelude::*;

use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::ProofBuffer;

#[derive(Accounts)]
#[instruction(offset: u32, bytes: Vec<u8>)]
pub struct WriteProofBuffer<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [seeds::PROOF_BUFFER, buffer.assignment.as_ref(), &[buffer.sample]],
        bump = buffer.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        realloc = ProofBuffer::space(buffer.length as usize + bytes.len()),
        realloc::payer = authority,
        realloc::zero = false,
    )]
    pub buffer: Box<Account<'info, ProofBuffer>>,
    pub system_program: Program<'info, System>,
}

impl WriteProofBuffer<'_> {
    pub fn handler(ctx: Context<Self>, offset: u32, bytes: Vec<u8>) -> Result<()> {
        let buffer = &mut ctx.accounts.buffer;
        require!(offset == buffer.length, GpuShareError::ProofBufferOffset);
        let start = ProofBuffer::HEADER + offset as usize;
        buffer.to_account_info().try_borrow_mut_data()?[start..start + bytes.len()]
            .copy_from_slice(&bytes);
        buffer.length = offset
            .checked_add(bytes.len() as u32)
            .ok_or(GpuShareError::ProofBufferOffset)?;
        Ok(())
    }
}
