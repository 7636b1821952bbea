//! `write_proof_buffer`: writes witness bytes at `offset`, in any order: the buffer grows to hold
//! them, its rent paid by the provider, by at most 10 KiB a write (what an account may grow in one
//! instruction; `ProofBufferOffset` past it), so a provider sends a witness's pieces a wave at a
//! time instead of one by one. A piece never written leaves zeros, and the proof is refused, not
//! judged: no leaf hashes to its root with bytes missing.
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
        realloc = ProofBuffer::space(ProofBuffer::length_after(buffer.length, offset, bytes.len())),
        realloc::payer = authority,
        realloc::zero = false,
    )]
    pub buffer: Box<Account<'info, ProofBuffer>>,
    pub system_program: Program<'info, System>,
}

impl WriteProofBuffer<'_> {
    pub fn handler(ctx: Context<Self>, offset: u32, bytes: Vec<u8>) -> Result<()> {
        let buffer = &mut ctx.accounts.buffer;
        let end = offset as usize + bytes.len();
        let length = ProofBuffer::length_after(buffer.length, offset, bytes.len());
        require!(end <= length, GpuShareError::ProofBufferOffset);
        let start = ProofBuffer::HEADER + offset as usize;
        buffer.to_account_info().try_borrow_mut_data()?[start..start + bytes.len()]
            .copy_from_slice(&bytes);
        buffer.length = length as u32;
        Ok(())
    }
}
