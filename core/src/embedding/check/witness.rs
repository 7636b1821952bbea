//! The bytes of one sample's witness, and their reading: a list of openings, each a contiguous
//! range of one Merkle tree's leaves with its range proof ([`crate::merkle::verify_range`]), read in
//! the order the sample's plan asks for them and checked against the tree as they are read. Leaves
//! are borrowed from the witness, never copied: a witness staged in an account is read in place.
//!
//! An opening is `u32 count ‖ (u32 length ‖ bytes) × count ‖ u32 hashes ‖ 32 × hashes`, all LE; the
//! sampled sequence's index is a u32 on its own before its opening, and the trace's Merkle root
//! (before it is bound to the job) 32 bytes on its own.
use alloc::vec::Vec;
use core::ops::Range;

use crate::merkle::{Hash, MerkleError, MerkleTree, leaf_hash, verify_range};

use super::CheckError;

/// Reads a witness's openings in order.
pub struct WitnessReader<'a> {
    bytes: &'a [u8],
}

impl<'a> WitnessReader<'a> {
    /// A reader over a whole witness.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CheckError> {
        if n > self.bytes.len() {
            return Err(CheckError::Malformed);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// A u32 LE.
    pub fn word(&mut self) -> Result<usize, CheckError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// The first leaf of the next opening, without reading past it: the weights header's width
    /// gives the tree's size its proof is checked against.
    pub fn peek_leaf(&self) -> Result<&'a [u8], CheckError> {
        let mut peek = WitnessReader { bytes: self.bytes };
        if peek.word()? == 0 {
            return Err(CheckError::Malformed);
        }
        let length = peek.word()?;
        peek.take(length)
    }

    /// A 32-byte hash.
    pub fn hash(&mut self) -> Result<Hash, CheckError> {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(self.take(32)?);
        Ok(hash)
    }

    /// The next opening, which must be leaves `range` of the tree of `size` leaves with root
    /// `root`: its leaves, borrowed.
    pub fn opening(
        &mut self,
        range: Range<u64>,
        size: u64,
        root: &Hash,
    ) -> Result<Vec<&'a [u8]>, CheckError> {
        let count = self.word()?;
        if count as u64 != range.end.saturating_sub(range.start) {
            return Err(CheckError::Malformed);
        }
        let mut leaves = Vec::with_capacity(count);
        // Two spare slots: `verify_range` completes each level in this buffer.
        let mut hashes = Vec::with_capacity(count + 2);
        for _ in 0..count {
            let length = self.word()?;
            let leaf = self.take(length)?;
            hashes.push(leaf_hash(leaf));
            leaves.push(leaf);
        }
        let proof_hashes = self.word()?;
        let proof_bytes = self.take(proof_hashes.checked_mul(32).ok_or(CheckError::Malformed)?)?;
        let (proof, _) = proof_bytes.as_chunks::<32>();
        if !verify_range(range, size, hashes, proof, root) {
            return Err(CheckError::InvalidProof);
        }
        Ok(leaves)
    }

    /// Refuses bytes left over after the last opening.
    pub fn finish(self) -> Result<(), CheckError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(CheckError::Malformed)
        }
    }
}

/// Writes a witness, opening by opening.
#[derive(Clone, Debug, Default)]
pub struct WitnessWriter {
    bytes: Vec<u8>,
}

impl WitnessWriter {
    /// [`WitnessWriter::opening`] of leaves `range` of `tree`, taken from all of its leaves `all`.
    pub fn opening_of(
        &mut self,
        tree: &MerkleTree,
        range: Range<u64>,
        all: &[Vec<u8>],
    ) -> Result<(), MerkleError> {
        let leaves: Vec<&[u8]> = all[range.start as usize..range.end as usize]
            .iter()
            .map(Vec::as_slice)
            .collect();
        self.opening(tree, range, &leaves)
    }

    /// Appends leaves `range` of `tree`, whose contents are `leaves`, with their range proof.
    pub fn opening(
        &mut self,
        tree: &MerkleTree,
        range: Range<u64>,
        leaves: &[&[u8]],
    ) -> Result<(), MerkleError> {
        let proof = tree.range_proof(range)?;
        self.bytes
            .extend_from_slice(&(leaves.len() as u32).to_le_bytes());
        for leaf in leaves {
            self.bytes
                .extend_from_slice(&(leaf.len() as u32).to_le_bytes());
            self.bytes.extend_from_slice(leaf);
        }
        self.bytes
            .extend_from_slice(&(proof.len() as u32).to_le_bytes());
        proof
            .iter()
            .for_each(|hash| self.bytes.extend_from_slice(hash));
        Ok(())
    }

    /// Appends a u32 LE.
    pub fn word(&mut self, word: u32) {
        self.bytes.extend_from_slice(&word.to_le_bytes());
    }

    /// Appends a bare hash.
    pub fn hash(&mut self, hash: &Hash) {
        self.bytes.extend_from_slice(hash);
    }

    /// The witness's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}
