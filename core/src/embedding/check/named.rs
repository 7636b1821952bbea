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
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::model::{LinearKind, Shape};
use crate::embedding::trace::{TraceLayout, TracedRow};

use super::steering::Steering;
use super::{Operation, Sample, cells, row_range};

/// What `sample`'s witness names, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    Steering(Steering),
    FavouriteKey,
}

impl Named {
    /// What a witness of `sample` names.
    pub fn of(sample: &Sample) -> Option<Self> {
        match sample.operation {
            Operation::Attention => Some(Named::FavouriteKey),
            _ => Steering::of(sample).map(Named::Steering),
        }
    }

    /// How many indices it may name, in a sequence of `tokens` tokens.
    pub fn bound(&self, shape: &Shape, tokens: usize) -> usize {
        match self {
            Named::Steering(steering) => steering.columns(shape),
            Named::FavouriteKey => tokens,
        }
    }

    /// The trace leaves `index` opens.
    pub fn trace(&self, layout: &TraceLayout, sample: &Sample, index: u32) -> Vec<Range<u64>> {
        match self {
            Named::Steering(_) => vec![],
            Named::FavouriteKey => vec![row_range(
                layout,
                sample.layer,
                u64::from(index),
                TracedRow::Input,
            )],
        }
    }

    /// The weights file's leaves `index` opens.
    pub fn model(&self, shape: &Shape, sample: &Sample, index: u32) -> Range<u64> {
        match self {
            Named::Steering(steering) => {
                let leaf = steering.leaf(shape, sample, index);
                leaf..leaf + 1
            }
            Named::FavouriteKey => {
                cells::head_rows(shape, sample.layer, LinearKind::Key, sample.column)
            }
        }
    }
}
