//! The embedding spot-check (issue 28) as the meter runs it: one [`EmbeddingCase`] — what the job
//! names, the sample and its staged witness — encoded into the input region and checked by
//! gpushare-core's [`check_sample`], exactly as `prove_embedding` checks it: every opening hashed and
//! verified, the cell recomputed. Built into an eBPF probe of its own (feature `embedding-checks`), so
//! that its code never changes how the leaf and inclusion paths are compiled and measured.
use alloc::borrow::Cow;
use alloc::vec::Vec;

use gpushare_core::embedding::check::{CheckContext, Verdict, check_sample};

use crate::case::{OUTCOME_OFFSET, Outcome, Reader};

/// One sample's check: the job's address, model identity, batch root and size (sequences and
/// tokens), embedding width,
/// the shard's sequences and revealed root, the challenge, the sample and its witness (read in
/// place from the input region, as the program reads its proof buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingCase<'a> {
    pub job: [u8; 32],
    pub model: [u8; 32],
    pub batch: [u8; 32],
    pub batch_sequences: u32,
    pub batch_tokens: u32,
    pub dims: u32,
    pub first_sequence: u32,
    pub end_sequence: u32,
    pub shard_root: [u8; 32],
    pub challenge: [u8; 32],
    pub sample: u8,
    pub witness: Cow<'a, [u8]>,
}

/// The outcome byte of a check whose witness verified and matched; 1 when it differed, 2 when the
/// witness was refused.
const MATCHES: u8 = 0;

impl<'a> EmbeddingCase<'a> {
    /// The case as the entry point reads it: the fixed fields in order, then the witness's u64 LE
    /// length and bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200 + self.witness.len());
        for hash in [&self.job, &self.model, &self.batch] {
            out.extend_from_slice(hash);
        }
        for word in [
            self.batch_sequences,
            self.batch_tokens,
            self.dims,
            self.first_sequence,
            self.end_sequence,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.shard_root);
        out.extend_from_slice(&self.challenge);
        out.push(self.sample);
        out.extend_from_slice(&(self.witness.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.witness);
        out
    }

    /// Reads a case back, or None for bytes no [`EmbeddingCase::encode`] wrote.
    pub fn decode(bytes: &'a [u8]) -> Option<EmbeddingCase<'a>> {
        let mut read = Reader(bytes);
        let (job, model, batch) = (read.take()?, read.take()?, read.take()?);
        let mut word = || read.take().map(u32::from_le_bytes);
        let (batch_sequences, batch_tokens, dims, first_sequence, end_sequence) =
            (word()?, word()?, word()?, word()?, word()?);
        let (shard_root, challenge) = (read.take()?, read.take()?);
        let [sample] = read.take()?;
        let length = usize::try_from(u64::from_le_bytes(read.take()?))
            .ok()
            .filter(|n| *n <= OUTCOME_OFFSET)?;
        let witness = Cow::Borrowed(read.0.get(..length)?);
        Some(EmbeddingCase {
            job,
            model,
            batch,
            batch_sequences,
            batch_tokens,
            dims,
            first_sequence,
            end_sequence,
            shard_root,
            challenge,
            sample,
            witness,
        })
    }

    /// Checks the sample with gpushare-core; the outcome is one byte: 0 matched, 1 differed, 2
    /// refused.
    pub fn run(&self) -> Outcome {
        let context = CheckContext {
            job: &self.job,
            model: &self.model,
            batch: &self.batch,
            batch_sequences: self.batch_sequences,
            batch_tokens: self.batch_tokens,
            dims: self.dims,
            shard_sequences: self.first_sequence..self.end_sequence,
            shard_root: &self.shard_root,
            challenge: &self.challenge,
        };
        Ok(alloc::vec![
            match check_sample(&context, self.sample, &self.witness) {
                Ok(Verdict::Matches) => MATCHES,
                Ok(Verdict::Differs) => 1,
                Err(_) => 2,
            }
        ])
    }

    /// Whether an outcome is a match: the only outcome the meter measures.
    pub fn matched(outcome: &[u8]) -> bool {
        outcome == [MATCHES]
    }
}
