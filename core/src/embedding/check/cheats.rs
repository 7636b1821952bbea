//! Cheating provers the detection table (docs/verification.md) and the tests play, beyond running
//! the reference with other weights or on other ids: forward passes a profit-seeking provider might
//! commit instead of the reference, laid out as an honest trace so that every opening verifies and
//! only the recomputation of a sampled cell can tell.
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::fixed::{ACT_LIMIT, gelu};
use crate::embedding::forward::{
    ForwardSteps, LayerTrace, Reference, SequenceError, SequenceRun, check_sequence, embed_tokens,
    linear_rows, norm_rows, residual, row, run_layer, run_layers,
};
use crate::embedding::model::{LinearKind, Model};

/// A provider that tampers with some linear layers' accumulators: in `layers`, the linear layers
/// of `kinds` are written as `tamper` says, and everything after is computed from them, so that
/// every cell but theirs (and the FFN's second layer, which checks the output of its first that
/// sets its input's scale) is consistent.
#[derive(Clone, Debug)]
pub struct TamperedAccumulators {
    pub layers: Range<usize>,
    pub kinds: Vec<LinearKind>,
    pub tamper: Tamper,
}

/// How [`TamperedAccumulators`] writes a layer's accumulators.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// Never computed: the layer outputs its biases, the same row for every token, so whatever
    /// reads them costs one token's work, not the sequence's.
    Zero,
    /// Computed, but one column committed at the clamp: the row that reads it is quantized with
    /// its largest value as the scale, so every other value becomes 0 or ±1 and the dense layer
    /// after it a sum of a few weight columns. Only a check of that column tells; the FFN's second
    /// layer's cells recompute the column that sets their input's scale for this reason
    /// (docs/verification.md, "Lies at one column").
    ColumnAtTheClamp(usize),
    /// Computed, but one column of one token's row committed at the clamp. At a key, every score
    /// of that token that the column reaches with a positive query value then outweighs the rest
    /// past what `exp_neg` resolves: those queries attend to that token alone, and their contexts
    /// are one row, its value (docs/verification.md, "Lies at one column": open).
    OneValueAtTheClamp { token: usize, column: usize },
}

impl TamperedAccumulators {
    /// The FFN's first layer tampered with as `tamper` says, in `layers`.
    pub fn ffn_first(layers: Range<usize>, tamper: Tamper) -> Self {
        Self {
            layers,
            kinds: vec![LinearKind::Intermediate],
            tamper,
        }
    }

    /// Layer `layer` hollowed out: its q, k, v and FFN-first accumulators never computed (with the
    /// rows that read them costing one token's work, almost the whole layer saved).
    pub fn hollow_layer(layer: usize) -> Self {
        Self {
            layers: layer..layer + 1,
            kinds: vec![
                LinearKind::Query,
                LinearKind::Key,
                LinearKind::Value,
                LinearKind::Intermediate,
            ],
            tamper: Tamper::Zero,
        }
    }
}

impl ForwardSteps for TamperedAccumulators {
    fn accumulate(
        &self,
        model: &Model,
        layer: usize,
        kind: LinearKind,
        levels: &[i16],
    ) -> Vec<i32> {
        let linear = model.layers[layer].linear(kind);
        let tampered = self.layers.contains(&layer) && self.kinds.contains(&kind);
        match self.tamper {
            Tamper::Zero if tampered => vec![0; levels.len() / linear.inputs * linear.outputs()],
            Tamper::ColumnAtTheClamp(column) if tampered => {
                let mut accumulators = Reference.accumulate(model, layer, kind, levels);
                for row in accumulators.chunks_mut(linear.outputs()) {
                    // Requantized with a positive multiplier, the largest accumulator clamps.
                    row[column] = i32::MAX;
                }
                accumulators
            }
            Tamper::OneValueAtTheClamp { token, column } if tampered => {
                let mut accumulators = Reference.accumulate(model, layer, kind, levels);
                if let Some(row) = accumulators.chunks_mut(linear.outputs()).nth(token) {
                    row[column] = i32::MAX;
                }
                accumulators
            }
            _ => Reference.accumulate(model, layer, kind, levels),
        }
    }
}

/// A provider that computes layer 0 up to its attention's sum, then commits token 0's attended row
/// for every token: all that follows is the same row for every token, one token's work for the
/// sequence's, and every cell is consistent but layer 0's attention LayerNorm at the other tokens.
/// The draw weighs that cell by the work after it (`check::draw`).
pub fn collapsed_after_first_attention(
    model: &Model,
    ids: &[u32],
) -> Result<SequenceRun, SequenceError> {
    check_sequence(model, ids)?;
    let hidden = model.shape.hidden as usize;
    let honest = run_layer(&Reference, model, 0, embed_tokens(model, ids));
    let attended = row(&honest.attended, 0, hidden).repeat(ids.len());
    let intermediate = linear_rows(&Reference, model, 0, LinearKind::Intermediate, &attended);
    let activated: Vec<i32> = intermediate.iter().map(|x| gelu(*x)).collect();
    let output = linear_rows(&Reference, model, 0, LinearKind::Output, &activated);
    let output_sum = residual(&output, &attended);
    let input = norm_rows(&model.layers[0].output_norm, &output_sum);
    let mut layers = vec![LayerTrace {
        attended,
        intermediate,
        output_sum,
        ..honest
    }];
    let output = run_layers(&Reference, model, 1..model.layers.len(), input, &mut layers);
    Ok(SequenceRun::finish(model, layers, output))
}

/// A provider that commits layer `layer`'s input row of token `token` made up so that the token's
/// key wins the queries: every column at the clamp, signed as the key layer's weights carry the sum
/// of the layer's queries (one pass over the key weights, not the attention), and everything from
/// it on computed from it. Every query it steers then attends to that token alone, and its context
/// is that token's value; every cell is consistent but the previous layer's output LayerNorm at
/// that token, whose weight prices it (docs/verification.md, "One token steering every query").
pub fn one_token_steering(
    model: &Model,
    ids: &[u32],
    layer: usize,
    token: usize,
) -> Result<SequenceRun, SequenceError> {
    check_sequence(model, ids)?;
    let hidden = model.shape.hidden as usize;
    let mut layers = Vec::new();
    let mut input = run_layers(
        &Reference,
        model,
        0..layer,
        embed_tokens(model, ids),
        &mut layers,
    );
    let queries = linear_rows(&Reference, model, layer, LinearKind::Query, &input);
    let aim: Vec<i64> = (0..hidden)
        .map(|j| queries.chunks_exact(hidden).map(|q| i64::from(q[j])).sum())
        .collect();
    let keys = model.layers[layer].linear(LinearKind::Key);
    for i in 0..hidden {
        let pull: i64 = (0..hidden)
            .map(|j| aim[j] * i64::from(keys.row(j)[i]))
            .sum();
        input[token * hidden + i] = if pull < 0 { -ACT_LIMIT } else { ACT_LIMIT } as i32;
    }
    let output = run_layers(
        &Reference,
        model,
        layer..model.layers.len(),
        input,
        &mut layers,
    );
    Ok(SequenceRun::finish(model, layers, output))
}
