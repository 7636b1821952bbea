//! The steering column of a row that a cell reads through a statistic of the whole row: the column
//! that sets a quantization scale (the FFN second layer's input: the first of largest |GELU|) or a
//! LayerNorm's spread (a residual sum: the first farthest from the mean). A lie at that one column
//! steers every other value the reader computes — it shrinks them to no levels, or makes the
//! LayerNorm's output nearly one row for every token — while a check of any other column stays
//! consistent. So the reading cell's witness names the column, the check confirms it is the
//! steering one and recomputes it by the linear layer that produced it (with its residual, for a
//! sum). Every other committed value is then no farther out than an honest one.
//!
//! In the witness, the column follows the plan's openings as a u32, then the opening of the
//! producer's weight row for it.
use alloc::vec::Vec;

use crate::embedding::fixed::largest_magnitude;
use crate::embedding::model::{LinearKind, Shape};
use crate::embedding::trace::TracedRow;

use super::{Operation, Sample, cells};

/// The row whose steering column a cell's witness names, and the linear layer that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steering {
    pub row: TracedRow,
    pub producer: LinearKind,
}

impl Steering {
    /// The steering column `sample`'s cell checks, if it reads a row through a statistic: the FFN's
    /// second layer (its input's scale), the attention and output LayerNorms (their sums' spread).
    pub fn of(sample: &Sample) -> Option<Self> {
        let (row, producer) = match sample.operation {
            Operation::Linear(LinearKind::Output) => {
                (TracedRow::Intermediate, LinearKind::Intermediate)
            }
            Operation::AttentionNorm => (TracedRow::AttentionSum, LinearKind::AttentionOutput),
            Operation::OutputNorm => (TracedRow::OutputSum, LinearKind::Output),
            _ => return None,
        };
        Some(Self { row, producer })
    }

    /// The steering column of `read`, the row as its reader reads it (an FFN first output through
    /// the GELU, a sum as it is).
    pub fn pick(&self, read: &[i32]) -> usize {
        match self.row {
            TracedRow::Intermediate => largest_magnitude(read),
            _ => farthest_from_mean(read),
        }
    }

    /// The steering column of the committed row `row`, as the prover names it.
    pub fn column_of(&self, row: Vec<i32>) -> usize {
        match self.row {
            TracedRow::Intermediate => self.pick(&cells::as_read(LinearKind::Output, row)),
            _ => self.pick(&row),
        }
    }

    /// Columns of the row: the producer's outputs.
    pub fn columns(&self, shape: &Shape) -> usize {
        shape.linear_outputs(self.producer)
    }

    /// The producer's weight row for `column` in `sample`'s layer.
    pub fn leaf(&self, shape: &Shape, sample: &Sample, column: u32) -> u64 {
        shape.linear_leaf(sample.layer, self.producer, u64::from(column))
    }
}

/// The index of the first value of `row` farthest from the row's mean: the largest |n·x − Σx|.
pub fn farthest_from_mean(row: &[i32]) -> usize {
    let n = row.len() as i64;
    let sum: i64 = row.iter().map(|x| i64::from(*x)).sum();
    // |n·x − Σx| < 2·n·2²⁴ ≤ 2⁴⁰ for rows of at most 2¹⁵ clamped values.
    let distance = |x: &i32| (n * i64::from(*x) - sum).unsigned_abs();
    let mut at = 0;
    for (i, x) in row.iter().enumerate() {
        if distance(x) > distance(&row[at]) {
            at = i;
        }
    }
    at
}
