//! Near-duplicate texts under a spot-check: a provider may commit one text's trace for another of
//! the same length that differs from it in `d` of its `L` tokens. Every cell is consistent but at
//! those tokens, and there it needs only a few lies: the token embedding, or layer 0's query, key
//! and value with one cell that rejoins the reused trace after them. The draw finds such a reuse at
//! `d/L` of the sequence's samples times the least weight of those routes, while it saves the whole
//! sequence: with `s` samples it loses only when `d/L · s · weight ≥ 1` or so, whatever share of the
//! shard it reuses (the chance is concave in that share, the saving linear). The client refuses to
//! post a spot-checked batch holding such a pair (docs/verification.md, "What the check does not
//! give", for a trace reused from another job's text).
use super::{EMBEDDING_SAMPLES, Operation};
use crate::embedding::layout::TokenBatch;
use crate::embedding::model::LinearKind;

use super::draw::Draw;

/// Two sequences of a batch, by index, one a near duplicate of the other: `differing` of their
/// tokens differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NearDuplicates {
    pub first: usize,
    pub second: usize,
    pub differing: usize,
}

/// The least weight of `draw` that lands on a reused sequence's token whose id differs from the
/// reused text's: the token embedding's, or layer 0's query, key and value with the cheapest cell
/// that rejoins the reused trace (the attention output or its LayerNorm, or the FFN's first layer
/// with its second or the output LayerNorm).
pub fn reuse_weight(draw: &Draw) -> u64 {
    let weight = |operation| draw.weight(0, operation);
    let linear = |kind| weight(Operation::Linear(kind));
    let ffn = linear(LinearKind::Intermediate)
        + linear(LinearKind::Output).min(weight(Operation::OutputNorm));
    let rejoin = linear(LinearKind::AttentionOutput)
        .min(weight(Operation::AttentionNorm))
        .min(ffn);
    let attention = linear(LinearKind::Query) + linear(LinearKind::Key) + linear(LinearKind::Value);
    weight(Operation::Embed).min(attention + rejoin)
}

/// The first pair of `batch`'s sequences of one length that differ in so few tokens that reusing
/// one's trace for the other could pay against `draw` at [`EMBEDDING_SAMPLES`] samples:
/// `differing · samples · reuse_weight < length · total`. Pairs of each length are compared, so
/// it takes time quadratic in the texts of a length.
pub fn near_duplicates(batch: &TokenBatch, draw: &Draw) -> Option<NearDuplicates> {
    let reuse = u128::from(reuse_weight(draw)) * u128::from(EMBEDDING_SAMPLES);
    let total = u128::from(draw.total);
    let sequences: alloc::vec::Vec<&[u32]> = batch.sequences().collect();
    sequences.iter().enumerate().find_map(|(first, a)| {
        sequences[first + 1..]
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() == a.len())
            .find_map(|(k, b)| {
                // The same text twice is no cheat: its trace is the reference's.
                let differing = a.iter().zip(*b).filter(|(x, y)| x != y).count();
                let pays = differing as u128 * reuse < a.len() as u128 * total;
                (differing > 0 && pays).then_some(NearDuplicates {
                    first,
                    second: first + 1 + k,
                    differing,
                })
            })
    })
}
