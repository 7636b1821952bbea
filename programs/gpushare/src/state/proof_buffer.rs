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

    /// Most a write may grow a buffer: what an account may grow in one instruction.
    pub const MAX_GROWTH: usize = 10 * 1024;
    /// Most witness bytes a buffer holds (the largest witness of a model `shape_checkable` admits is
    /// under 24 KB).
    pub const MAX_WITNESS: usize = 64 * 1024;

    /// The buffer's length once `bytes` bytes are written at `offset` into one of `length`: what
    /// they reach, but at most [`Self::MAX_GROWTH`] more and [`Self::MAX_WITNESS`] in all (a write
    /// past that is refused).
    pub fn length_after(length: u32, offset: u32, bytes: usize) -> usize {
        let length = length as usize;
        let end = (offset as usize).saturating_add(bytes);
        end.min(length + Self::MAX_GROWTH)
            .min(Self::MAX_WITNESS)
            .max(length)
    }
}
