//! A sequence's activation trace as the commitment holds it: which values form each leaf, in what
//! order, and the trace root bound to the job. The order is chosen for the on-chain check (issue 28):
//! a row that a check needs whole is one leaf, and a head's keys and values over every token, and
//! the last layer's output per column group over every token, are contiguous leaves proven as one
//! range ([`crate::merkle::verify_range`]).
//!
//! Per layer, for a sequence of L tokens:
//! - **row leaves**, token by token: the rows x, q, context, attention_sum, attended, intermediate
//!   and output_sum ([`TracedRow::ALL`]), each cut into leaves of `hidden` values (the FFN-wide
//!   intermediate into ⌈ffn/hidden⌉; a row's last leaf shorter when its width is not a multiple);
//! - **head pieces**, head by head: every token's key piece (head_dim values), then every token's
//!   value piece.
//!
//! After the last layer: the pooled mean ([`super::forward::pool_mean`], one leaf of `hidden`
//! values), then column group by column group (head_dim values each), every token's piece of the
//! last layer's output. Every leaf is its i32 values little-endian.
use alloc::vec::Vec;

use crate::merkle::{Hash, MerkleTree, leaf_hash};

use super::forward::{LayerTrace, SequenceRun, pool_mean, row};
use super::model::{Model, Shape};

/// The rows of a layer committed whole, token by token, in the trace's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TracedRow {
    Input,
    Query,
    Context,
    AttentionSum,
    Attended,
    Intermediate,
    OutputSum,
}

impl TracedRow {
    /// Every row kind, in the trace's order.
    pub const ALL: [TracedRow; 7] = [
        TracedRow::Input,
        TracedRow::Query,
        TracedRow::Context,
        TracedRow::AttentionSum,
        TracedRow::Attended,
        TracedRow::Intermediate,
        TracedRow::OutputSum,
    ];

    /// The row's values for every token in `layer`.
    pub fn rows(self, layer: &LayerTrace) -> &[i32] {
        match self {
            TracedRow::Input => &layer.input,
            TracedRow::Query => &layer.query,
            TracedRow::Context => &layer.context,
            TracedRow::AttentionSum => &layer.attention_sum,
            TracedRow::Attended => &layer.attended,
            TracedRow::Intermediate => &layer.intermediate,
            TracedRow::OutputSum => &layer.output_sum,
        }
    }

    /// The row's width under `shape`.
    pub fn width(self, shape: &Shape) -> usize {
        match self {
            TracedRow::Intermediate => shape.ffn as usize,
            _ => shape.hidden as usize,
        }
    }
}

/// Where each leaf of a sequence's trace sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceLayout {
    shape: Shape,
    tokens: u64,
}

impl TraceLayout {
    /// The layout of a sequence of `tokens` tokens through a model of `shape`.
    pub fn new(shape: Shape, tokens: usize) -> Self {
        Self {
            shape,
            tokens: tokens as u64,
        }
    }

    /// The model's shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Values in a row leaf: the hidden width.
    pub fn row_leaf_values(&self) -> usize {
        self.shape.hidden as usize
    }

    /// Values in a head piece or a column group: one head's width.
    pub fn piece_values(&self) -> usize {
        self.shape.head_dim()
    }

    /// Leaves a row of `row` kind is cut into.
    pub fn row_pieces(&self, row: TracedRow) -> u64 {
        row.width(&self.shape).div_ceil(self.row_leaf_values()) as u64
    }

    /// Row leaves of one token in one layer.
    pub fn token_row_leaves(&self) -> u64 {
        TracedRow::ALL.iter().map(|row| self.row_pieces(*row)).sum()
    }

    /// Where `row`'s leaves start among one token's row leaves.
    pub fn row_offset(&self, row: TracedRow) -> u64 {
        TracedRow::ALL
            .iter()
            .take_while(|kind| **kind != row)
            .map(|kind| self.row_pieces(*kind))
            .sum()
    }

    /// Leaves of one layer per token: its row leaves, and its key and value piece of every head.
    pub fn layer_leaves_per_token(&self) -> u64 {
        self.token_row_leaves() + 2 * u64::from(self.shape.heads)
    }

    /// Leaves of one layer: every token's row leaves, then every head's key and value pieces.
    pub fn layer_leaves(&self) -> u64 {
        self.tokens * self.layer_leaves_per_token()
    }

    /// Leaf `piece` of token `token`'s `row` in layer `layer`.
    pub fn row_leaf(&self, layer: u32, token: u64, row: TracedRow, piece: u64) -> u64 {
        u64::from(layer) * self.layer_leaves()
            + token * self.token_row_leaves()
            + self.row_offset(row)
            + piece
    }

    /// Token `token`'s key piece of head `head` in layer `layer` (its value piece is `tokens` later).
    pub fn key_piece(&self, layer: u32, head: u32, token: u64) -> u64 {
        u64::from(layer) * self.layer_leaves()
            + self.tokens * self.token_row_leaves()
            + 2 * u64::from(head) * self.tokens
            + token
    }

    /// Token `token`'s value piece of head `head` in layer `layer`.
    pub fn value_piece(&self, layer: u32, head: u32, token: u64) -> u64 {
        self.key_piece(layer, head, token) + self.tokens
    }

    /// The head's value pieces of every token, in token order.
    pub fn value_pieces(&self, layer: u32, head: u32) -> core::ops::Range<u64> {
        let first = self.value_piece(layer, head, 0);
        first..first + self.tokens
    }

    /// The pooled mean's leaf.
    pub fn mean_leaf(&self) -> u64 {
        u64::from(self.shape.layers) * self.layer_leaves()
    }

    /// Token `token`'s piece of column group `group` of the last layer's output.
    pub fn output_piece(&self, group: u32, token: u64) -> u64 {
        self.mean_leaf() + 1 + u64::from(group) * self.tokens + token
    }

    /// Leaves of the whole trace.
    pub fn leaves(&self) -> u64 {
        self.mean_leaf() + 1 + u64::from(self.shape.heads) * self.tokens
    }
}

/// Each leaf of a sequence's trace, as its values, in the order [`TraceLayout`] gives.
pub fn visit_trace_leaves(model: &Model, run: &SequenceRun, mut visit: impl FnMut(&[i32])) {
    let layout = TraceLayout::new(model.shape, run.tokens);
    let (hidden, piece) = (model.shape.hidden as usize, layout.piece_values());
    for layer in &run.layers {
        for t in 0..run.tokens {
            for kind in TracedRow::ALL {
                let width = kind.width(&model.shape);
                row(kind.rows(layer), t, width)
                    .chunks(layout.row_leaf_values())
                    .for_each(&mut visit);
            }
        }
        for head in 0..model.shape.heads as usize {
            for rows in [&layer.key, &layer.value] {
                for t in 0..run.tokens {
                    visit(&rows[t * hidden + head * piece..][..piece]);
                }
            }
        }
    }
    visit(&pool_mean(hidden, &run.output));
    for group in 0..model.shape.heads as usize {
        for t in 0..run.tokens {
            visit(&run.output[t * hidden + group * piece..][..piece]);
        }
    }
}

/// A trace leaf's bytes: its values, i32 LE.
pub fn leaf_bytes(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The leaf hashes of a sequence's trace, in the order [`TraceLayout`] gives.
pub fn trace_leaf_hashes(model: &Model, run: &SequenceRun) -> Vec<Hash> {
    let layout = TraceLayout::new(model.shape, run.tokens);
    let mut leaves = Vec::with_capacity(layout.leaves() as usize);
    let mut bytes = Vec::with_capacity(4 * layout.row_leaf_values());
    visit_trace_leaves(model, run, |values| {
        bytes.clear();
        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        leaves.push(leaf_hash(&bytes));
    });
    leaves
}

/// A sequence's trace root in job `job` from the Merkle root `tree` of its trace leaves:
/// `sha256("gpushare:embedding-trace" ‖ job address ‖ tree)`. The output of one job is no output of
/// another, though the same texts give the same embeddings.
pub fn bound_trace_root(tree: &Hash, job: &[u8; 32]) -> Hash {
    crate::sha256(&[b"gpushare:embedding-trace", job, tree])
}

/// A sequence's trace root in job `job` ([`bound_trace_root`] of its trace leaves' tree).
pub fn trace_root(model: &Model, run: &SequenceRun, job: &[u8; 32]) -> Hash {
    bound_trace_root(
        &MerkleTree::from_leaf_hashes(trace_leaf_hashes(model, run)).root(),
        job,
    )
}
