//! What a cell's witness names after its plan's openings: an index the draw cannot give, because it
//! depends on committed values, with the openings that follow from it. The witness holds it as a
//! u32, then those openings; the check confirms it.
//! - A cell that reads a row through a statistic of the whole row names the row's steering column
//!   ([`Steering`]) and opens the weight row that produced it.
//! - An attention cell names the key its query favours (the first of largest logit) and opens that
//!   token's input row and the key layer's weight rows of the head. One token's key lied at one
//!   column can make every query favour that token alone (its context is then exactly that token's
//!   value, one row for every steered query), and the key cells would find it only at that token;
//!   this way every steered query's attention cell recomputes it.
//! - An attention output cell names, for its input row (the context), the column that sets the
//!   row's quantization scale (the first of largest magnitude) and the token whose value in that
//!   column is the largest of the head's (the first), as token × hidden + column, and opens the
//!   head's value pieces, that token's input row and the value layer's weight row of the column.
//!   The check recomputes that value and requires the context's to be within it
//!   ([`forward::context_bound`](crate::embedding::forward::context_bound): a context is a convex
//!   combination of values). One column of the values at the clamp, even at one token, would
//!   otherwise set every token's scale and shrink every other level to nothing.
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::fixed::largest_magnitude;
use crate::embedding::model::{LinearKind, Shape};
use crate::embedding::model_leaves::NormLeaf;
use crate::embedding::trace::{TraceLayout, TracedRow};

use super::steering::Steering;
use super::{Operation, Sample, cells, row_range};

/// What `sample`'s witness names, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    Steering(Steering),
    FavouriteKey,
    LargestValue,
}

impl Named {
    /// What a witness of `sample` names.
    pub fn of(sample: &Sample) -> Option<Self> {
        match sample.operation {
            Operation::Attention => Some(Named::FavouriteKey),
            Operation::Linear(LinearKind::AttentionOutput) => Some(Named::LargestValue),
            _ => Steering::of(sample).map(Named::Steering),
        }
    }

    /// How many indices it may name, in a sequence of `tokens` tokens.
    pub fn bound(&self, shape: &Shape, tokens: usize) -> usize {
        match self {
            Named::Steering(steering) => steering.columns(shape),
            Named::FavouriteKey => tokens,
            Named::LargestValue => tokens * shape.hidden as usize,
        }
    }

    /// The token whose input row the named index re-derives (see [`origin_trace`]): the favourite,
    /// or the largest value's token.
    pub fn token(&self, shape: &Shape, index: u32) -> Option<u32> {
        match self {
            Named::Steering(_) => None,
            Named::FavouriteKey => Some(index),
            Named::LargestValue => Some(self.token_and_column(shape, index).0),
        }
    }

    /// The trace leaves `index` opens.
    pub fn trace(&self, layout: &TraceLayout, sample: &Sample, index: u32) -> Vec<Range<u64>> {
        let mut trace = match self {
            Named::Steering(_) => vec![],
            Named::FavouriteKey => vec![],
            Named::LargestValue => {
                let (_, column) = self.token_and_column(layout.shape(), index);
                let head = column / layout.shape().head_dim() as u32;
                vec![layout.value_pieces(sample.layer, head)]
            }
        };
        if let Some(token) = self.token(layout.shape(), index) {
            trace.extend(origin_trace(layout, sample.layer, token));
        }
        trace
    }

    /// A [`Named::LargestValue`] index's token and column.
    pub fn token_and_column(&self, shape: &Shape, index: u32) -> (u32, u32) {
        (index / shape.hidden, index % shape.hidden)
    }

    /// The weights file's leaves `index` opens, in a sequence of token ids `ids`.
    pub fn model(
        &self,
        shape: &Shape,
        sample: &Sample,
        index: u32,
        ids: &[u32],
    ) -> Vec<Range<u64>> {
        let single = |leaf: u64| leaf..leaf + 1;
        let mut model = vec![match self {
            Named::Steering(steering) => single(steering.leaf(shape, sample, index)),
            Named::FavouriteKey => {
                cells::head_rows(shape, sample.layer, LinearKind::Key, sample.column)
            }
            Named::LargestValue => {
                let (_, column) = self.token_and_column(shape, index);
                single(shape.linear_leaf(sample.layer, LinearKind::Value, u64::from(column)))
            }
        }];
        if let Some(token) = self.token(shape, index) {
            model.extend(origin_model(shape, sample.layer, token, ids).map(single));
        }
        model
    }
}

/// The trace leaves that re-derive token `token`'s input row of layer `layer` (which another token's
/// key or value is recomputed from, so a made-up row there cannot steer every query): the row
/// itself, then the previous layer's output sum (none for layer 0, whose row comes from the model).
/// A row re-derived this way is a LayerNorm's output, of the size of an honest one.
pub fn origin_trace(layout: &TraceLayout, layer: u32, token: u32) -> Vec<Range<u64>> {
    let row = |layer, kind| row_range(layout, layer, u64::from(token), kind);
    let mut trace = vec![row(layer, TracedRow::Input)];
    if let Some(previous) = layer.checked_sub(1) {
        trace.push(row(previous, TracedRow::OutputSum));
    }
    trace
}

/// The weights file's leaves [`origin_trace`]'s row is re-derived with: the previous layer's output
/// LayerNorm, or for layer 0 the token's word and position rows and the embedding LayerNorm.
pub fn origin_model(
    shape: &Shape,
    layer: u32,
    token: u32,
    ids: &[u32],
) -> impl Iterator<Item = u64> {
    let leaves = match layer.checked_sub(1) {
        Some(previous) => vec![shape.norm_leaf(NormLeaf::Output(previous))],
        None => vec![
            shape.word_leaf(ids.get(token as usize).copied().unwrap_or_default()),
            shape.position_leaf(u64::from(token)),
            shape.norm_leaf(NormLeaf::Embedding),
        ],
    };
    leaves.into_iter()
}

/// The token whose value in column `column` of a head is the largest in magnitude (the first), of
/// every token's value piece `pieces`, `head_dim` values each.
pub fn largest_value_token(pieces: &[i32], head_dim: usize, column: usize) -> usize {
    let values: Vec<i32> = pieces
        .chunks_exact(head_dim)
        .map(|piece| piece[column])
        .collect();
    largest_magnitude(&values)
}
