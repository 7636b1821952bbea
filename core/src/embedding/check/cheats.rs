//! Cheating provers the detection table (docs/verification.md) and the tests play, beyond running
//! the reference with other weights or on other ids: forward passes a profit-seeking provider might
//! commit instead of the reference, laid out as an honest trace so that every opening verifies and
//! only the recomputation of a sampled cell can tell.
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::fixed::gelu;
use crate::embedding::forward::{
    ForwardSteps, LayerTrace, Reference, SequenceError, SequenceRun, check_sequence, embed_tokens,
    linear_rows, norm_rows, pool, residual, row, run_layer,
};
use crate::embedding::model::{LinearKind, Model};

/// A provider that never computes some linear layers' accumulators: in `layers`, the linear
/// layers of `kinds` output their biases, and everything after is computed from those, so that
/// every cell but theirs (and the FFN's second layer, which checks one output of its first) is
/// consistent. Rows of biases are the same for every token, so whatever reads them costs one
/// token's work, not the sequence's.
#[derive(Clone, Debug)]
pub struct ZeroAccumulators {
    pub layers: Range<usize>,
    pub kinds: Vec<LinearKind>,
}

impl ZeroAccumulators {
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
        }
    }
}

impl ForwardSteps for ZeroAccumulators {
    fn accumulate(
        &self,
        model: &Model,
        layer: usize,
        kind: LinearKind,
        levels: &[i16],
    ) -> Vec<i32> {
        if self.layers.contains(&layer) && self.kinds.contains(&kind) {
            let linear = model.layers[layer].linear(kind);
            vec![0; levels.len() / linear.inputs * linear.outputs()]
        } else {
            Reference.accumulate(model, layer, kind, levels)
        }
    }
}

/// A provider that commits one column of every `kind` output at the clamp: the row that reads it is
/// quantized with its largest value as the scale, so every other value becomes 0 or ±1 and the
/// dense layer after it a sum of a few weight columns, and every cell after it is consistent. Only
/// a check of that column tells: the open weakness of docs/verification.md ("Open: lies at one
/// column").
#[derive(Clone, Debug)]
pub struct ColumnAtTheClamp {
    pub kind: LinearKind,
    pub column: usize,
}

impl ForwardSteps for ColumnAtTheClamp {
    fn accumulate(
        &self,
        model: &Model,
        layer: usize,
        kind: LinearKind,
        levels: &[i16],
    ) -> Vec<i32> {
        let mut accumulators = Reference.accumulate(model, layer, kind, levels);
        if kind == self.kind {
            let outputs = model.layers[layer].linear(kind).outputs();
            for row in accumulators.chunks_mut(outputs) {
                // Requantized with a positive multiplier, the largest accumulator clamps.
                row[self.column] = i32::MAX;
            }
        }
        accumulators
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
    let mut input = norm_rows(&model.layers[0].output_norm, &output_sum);
    let mut layers = vec![LayerTrace {
        attended,
        intermediate,
        output_sum,
        ..honest
    }];
    for layer in 1..model.layers.len() {
        let trace = run_layer(&Reference, model, layer, input);
        input = norm_rows(&model.layers[layer].output_norm, &trace.output_sum);
        layers.push(trace);
    }
    Ok(SequenceRun {
        tokens: ids.len(),
        layers,
        embedding: pool(hidden, &input),
        output: input,
    })
}
