//! How an embedding job's data is laid out: the token-id batch a client posts, the sequences each
//! shard takes, and the bytes each sequence contributes to the shard's output.
//!
//! - **Input** (the job's data): u32 LE sequence count, then per sequence a u32 LE token count and
//!   that many u32 LE token ids ([CLS] … [SEP], from the model's tokenizer).
//! - **Shard s of S** takes sequences `[s·N/S, (s+1)·N/S)`.
//! - **Output**, per sequence in order: its embedding (dims × i16 LE) then its trace root (32
//!   bytes); leaves are 32 bytes, so a sequence is `dims/16 + 1` leaves and the client can check the
//!   shard's root from the embeddings and trace roots alone.
//! - **Trace root**: `sha256("gpushare:embedding-trace" ‖ job address ‖ T)`, T the RFC 6962 Merkle
//!   Tree Hash over the sequence's activation trace ([`super::trace`]).
use alloc::vec::Vec;
use core::ops::Range;

use crate::kernels::{KernelError, part};
use crate::merkle::{Hash, MerkleTree, leaf_hash};

use super::forward::{SequenceError, SequenceRun, check_sequence};
use super::model::Model;
use super::trace::trace_root;

/// Bytes of one output leaf.
pub const OUTPUT_LEAF_BYTES: usize = 32;

/// Output bytes of one sequence: its embedding and its trace root.
pub fn sequence_output_bytes(dims: u32) -> u64 {
    2 * u64::from(dims) + 32
}

/// A decoded token-id batch: every sequence's ids, stored flat (4 bytes an id and 4 a sequence, no
/// more than the wire format: a batch of many tiny sequences cannot blow up in memory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenBatch {
    ids: Vec<u32>,
    /// Where each sequence ends in `ids`.
    ends: Vec<u32>,
}

impl TokenBatch {
    /// The batch of `sequences`, in order.
    pub fn new(sequences: &[Vec<u32>]) -> Self {
        let mut batch = Self::default();
        for ids in sequences {
            batch.ids.extend_from_slice(ids);
            batch.ends.push(batch.ids.len() as u32);
        }
        batch
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the batch has no sequence.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Sequence `i`'s ids.
    pub fn sequence(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.ids[start..self.ends[i] as usize]
    }

    /// Every sequence's ids, in order.
    pub fn sequences(&self) -> impl Iterator<Item = &[u32]> {
        (0..self.len()).map(|i| self.sequence(i))
    }

    /// The batch's bytes (see the module's layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 * (1 + self.len() + self.ids.len()));
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for ids in self.sequences() {
            out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
            out.extend(ids.iter().flat_map(|id| id.to_le_bytes()));
        }
        out
    }

    /// Parses a batch that must hold exactly `sequences` sequences and `tokens` ids in all.
    pub fn from_bytes(bytes: &[u8], sequences: u32, tokens: u32) -> Result<Self, KernelError> {
        let expected = 4 * (1 + u64::from(sequences) + u64::from(tokens));
        let malformed = KernelError::InputSize {
            expected,
            actual: bytes.len() as u64,
        };
        let mut words = bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if bytes.len() as u64 != expected || words.next() != Some(sequences) {
            return Err(malformed);
        }
        // The exact size is checked: these capacities are what the bytes hold.
        let mut batch = Self {
            ids: Vec::with_capacity(tokens as usize),
            ends: Vec::with_capacity(sequences as usize),
        };
        for _ in 0..sequences {
            let length = words.next().ok_or(malformed)?;
            if u64::from(length) > u64::from(tokens) - batch.ids.len() as u64 {
                return Err(malformed);
            }
            batch.ids.extend(words.by_ref().take(length as usize));
            batch.ends.push(batch.ids.len() as u32);
        }
        if batch.ids.len() as u64 != u64::from(tokens) || words.next().is_some() {
            return Err(malformed);
        }
        Ok(batch)
    }

    /// The job-wide index of sequence `i`'s first token (the batch's token count for `i` = len).
    pub fn first_token(&self, i: usize) -> u32 {
        match i {
            0 => 0,
            _ => self.ends[i - 1],
        }
    }

    /// The sequence holding the job-wide token `token` (the last sequence for a token past the end).
    pub fn sequence_holding(&self, token: u64) -> usize {
        self.ends
            .partition_point(|end| u64::from(*end) <= token)
            .min(self.len().saturating_sub(1))
    }

    /// Sequence `i`'s leaf of the batch tree: its first token's job-wide index, then its ids, u32
    /// LE (its length is the leaf's): from one leaf the program learns where a sequence lies among
    /// the job's tokens as well as what it holds.
    pub fn sequence_leaf(&self, i: usize) -> Vec<u8> {
        core::iter::once(self.first_token(i))
            .chain(self.sequence(i).iter().copied())
            .flat_map(|word| word.to_le_bytes())
            .collect()
    }

    /// The batch tree: RFC 6962 over every sequence's leaf, in order. Its root is the kernel's
    /// `batch`, which lets the program learn one sequence's ids from its audit path.
    pub fn tree(&self) -> MerkleTree {
        MerkleTree::from_leaf_hashes(
            (0..self.len())
                .map(|i| leaf_hash(&self.sequence_leaf(i)))
                .collect(),
        )
    }

    /// The longest sequence's length (0 for an empty batch).
    pub fn longest(&self) -> usize {
        self.sequences().map(<[u32]>::len).max().unwrap_or_default()
    }

    /// Total token ids.
    pub fn tokens(&self) -> u64 {
        self.ids.len() as u64
    }

    /// Checks every sequence against `model` ([`check_sequence`]): a provider refuses a batch its
    /// model cannot run before claiming, so a malformed batch can never turn into a missed claim.
    pub fn check(&self, model: &Model) -> Result<(), SequenceError> {
        self.sequences()
            .try_for_each(|ids| check_sequence(model, ids))
    }
}

/// The sequences shard `shard` of `shards` takes.
pub fn shard_sequences(sequences: u32, shards: u32, shard: u32) -> Range<usize> {
    let range = part(u64::from(sequences), shards, shard);
    range.start as usize..range.end as usize
}

/// A sequence's output bytes from its embedding and trace root: the embedding (i16 LE), then the root.
pub fn output_record(embedding: &[i16], trace_root: &Hash) -> Vec<u8> {
    let mut out: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
    out.extend_from_slice(trace_root);
    out
}

/// The embeddings of a shard's output bytes (records of `dims` i16 values and a trace root each).
pub fn output_embeddings(bytes: &[u8], dims: u32) -> Vec<Vec<i16>> {
    let embedding = 2 * dims as usize;
    bytes
        .chunks_exact(sequence_output_bytes(dims) as usize)
        .map(|record| {
            record[..embedding]
                .chunks_exact(2)
                .map(|v| i16::from_le_bytes([v[0], v[1]]))
                .collect()
        })
        .collect()
}

/// A sequence's output bytes in job `job`: its embedding, then its trace root.
pub fn sequence_output(model: &Model, run: &SequenceRun, job: &[u8; 32]) -> Vec<u8> {
    output_record(&run.embedding, &trace_root(model, run, job))
}
