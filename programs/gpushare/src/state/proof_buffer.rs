//! A staged proof: the witness of one embedding sample, too large for a transaction, written into
//! an account in pieces and read in place by `prove_embedding`.
use anchor_lang::prelude::*;

/// A proof buffer: PDA `[PROOF_BUFFER, assignment, sample]`, opened and paid for by the
/// assignment's provider, grown by each write, closed back to it by `prove_embedding` or
/// `close_proof_buffer`. One per sample, so that a provider stages all its samples at once. The
/// witness bytes follow this header in the account's data.
#[account]
#[derive(InitSpace)]
pub struct ProofBuffer {
    pub assignment: Pubkey,
    pub sample: u8,
    pub authority: Pubkey,
    /// Witness bytes written so far.
    pub length: u32,
    pub bump: u8,
}

impl ProofBuffer {
    /// Bytes before the witness: the discriminator and the header.
    pub const HEADER: usize = 8 + Self::INIT_SPACE;

    /// Account size holding `length` witness bytes.
    pub fn space(length: usize) -> usize {
        Self::HEADER + length
    }
}
