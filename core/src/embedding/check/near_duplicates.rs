//! Near-duplicate texts under a spot-check: a provider may commit one text's trace for another that
//! differs from it at a few positions, or has a few more tokens at its end. Every cell is then
//! consistent but at those tokens, and there it needs only a few lies (below). The draw finds such a
//! reuse at that share of the sequence's samples times the lies' weight, while it saves the whole
//! sequence: with `s` samples it loses only when `s · Σ weights / length ≥ 1` or so, whatever share
//! of the shard it reuses (the chance is concave in that share, the saving linear). No weighting of a
//! per-token draw can price this; the client refuses to post a spot-checked batch holding such a pair
//! (docs/verification.md, "What the check does not give", for a text embedded in another job).
use alloc::vec::Vec;

use super::draw::Draw;
use super::{EMBEDDING_SAMPLES, Operation};
use crate::embedding::layout::TokenBatch;
use crate::embedding::model::LinearKind;

/// Two sequences of a batch, by index, the second reusable from the first: `differing` of their
/// common positions differ and the second has `extra` more tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NearDuplicates {
    pub first: usize,
    pub second: usize,
    pub differing: usize,
    pub extra: usize,
}

/// The least weight of `draw` on the lies a reused trace needs at a token whose id differs from the
/// reused text's. Other tokens read a token only through its key and value, so the provider computes
/// the token's own rows from what it commits and lies at its key and value (the reused text's) in
/// each layer, up to one where it commits the reused text's row at a cell of the residual stream (the
/// attention output or its LayerNorm, the FFN output or the output LayerNorm) and rejoins the reused
/// trace; or in every layer, pooling then reading the token's own last row. Or it lies once, at the
/// token embedding.
pub fn differing_token_weight(draw: &Draw) -> u64 {
    let weight = |layer, operation| draw.weight(layer, operation);
    let linear = |layer, kind| weight(layer, Operation::Linear(kind));
    let mut keys_and_values = 0u64;
    let mut cheapest = weight(0, Operation::Embed);
    for layer in 0..draw.shape.layers {
        keys_and_values += linear(layer, LinearKind::Key) + linear(layer, LinearKind::Value);
        let rejoin = linear(layer, LinearKind::AttentionOutput)
            .min(weight(layer, Operation::AttentionNorm))
            .min(linear(layer, LinearKind::Output))
            .min(weight(layer, Operation::OutputNorm));
        cheapest = cheapest.min(keys_and_values + rejoin);
    }
    cheapest.min(keys_and_values)
}

/// The least weight of `draw` on the lies a reused trace needs at a token the reused text lacks (at
/// the end of a longer text): its key in every layer, committed so that no other token attends to it
/// (the integer softmax gives an exactly zero weight to a low enough score, where the queries allow).
pub fn extra_token_weight(draw: &Draw) -> u64 {
    (0..draw.shape.layers)
        .map(|layer| draw.weight(layer, Operation::Linear(LinearKind::Key)))
        .sum()
}

/// The first pair of `batch`'s sequences whose second could reuse the first's trace and pay against
/// `draw` at [`EMBEDDING_SAMPLES`] samples: `samples · (differing · differing_token_weight + extra ·
/// extra_token_weight) < length · total`, for the second's length. Every pair is compared, so it
/// takes time quadratic in the batch's texts.
pub fn near_duplicates(batch: &TokenBatch, draw: &Draw) -> Option<NearDuplicates> {
    let samples = u128::from(EMBEDDING_SAMPLES);
    let (differing_weight, extra_weight) = (
        u128::from(differing_token_weight(draw)),
        u128::from(extra_token_weight(draw)),
    );
    let total = u128::from(draw.total);
    let sequences: Vec<&[u32]> = batch.sequences().collect();
    let pays = |shorter: &[u32], longer: &[u32]| {
        let differing = shorter.iter().zip(longer).filter(|(x, y)| x != y).count();
        let extra = longer.len() - shorter.len();
        let weight = differing as u128 * differing_weight + extra as u128 * extra_weight;
        // The same text twice is no cheat: its trace is the reference's.
        let reusable = weight > 0 && samples * weight < longer.len() as u128 * total;
        reusable.then_some((differing, extra))
    };
    (0..sequences.len()).find_map(|i| {
        (i + 1..sequences.len()).find_map(|j| {
            let (first, second) = match sequences[i].len() <= sequences[j].len() {
                true => (i, j),
                false => (j, i),
            };
            let (differing, extra) = pays(sequences[first], sequences[second])?;
            Some(NearDuplicates {
                first,
                second,
                differing,
                extra,
            })
        })
    })
}
