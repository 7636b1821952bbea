//! Cheating provers the detection table (docs/verification.md) and the tests play, beyond running
//! the reference with other weights or on other ids: forward passes a profit-seeking provider might
//! commit instead of the reference, laid out as an honest trace so that every opening verifies and
//! only the recomputation of a sampled cell can tell.
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::forward::{ForwardSteps, Reference};
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
