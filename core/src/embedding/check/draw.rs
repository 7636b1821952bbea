//! Which cell a sample checks: integer weights over the forward pass's cells, from the model's
//! shape alone, so that whatever set of cells a provider lies at is drawn at least as often as the
//! work the lies spare it.
//!
//! A lie can spare more than its own cell's work. At a cell of the residual stream (an attention or
//! FFN output with its residual, or a LayerNorm after either) it can make every later row the same
//! for every token: a provider that commits token 0's row there computes one token's forward pass
//! after it, and every later cell is consistent. At a query, key or value it can make the
//! attention's context the same for every token (and so the attention output's dense layer); at the
//! FFN's first layer, its second's dense layer. Every unit of work at position `x` of the honest
//! forward pass (`x` units done before it, `T` in all) is priced `dx / x`, and a cell weighs at
//! least the price of all the work a lie there can spare, over the samples `s`. A set of lies that
//! spares work `S` then weighs at least `∫_S dx/x / s ≥ ln(T / (T − S)) / s` (the integral is least
//! with `S` at the end), and is caught with at least `1 − (1 − ln(T/(T−S))/s)^s ≥ S/T`: the share
//! of the work it saves (the deterrence rule of docs/verification.md), for any set, whole or at
//! some tokens (both sides scale alike, the left concave).
//!
//! Prices are upper bounds computed in integers: `ln(1 + p/u) ≤ p/√(u(u+p))`, summed over pieces
//! `p` of a cell's work no larger than the work `u` before each (within 2 %). The attention's own
//! work is taken at the longest sequence a check allows and the work before every cell at the
//! shortest, so the prices bound every length's. The token embedding, the only cell that ties a
//! trace to the client's ids, takes a quarter of the scale; every other cell shares a sixteenth on
//! top of its price; a model whose weights sum to more than the scale is not [`Draw::priced`].
//!
//! One token's lie can also change other tokens' work, through the attention: a made-up input row
//! can make its key win every query ([`hosts_a_steering_row`]), drawn 1/T as often as a lie at every
//! token. The cell that hosts it weighs that too, by share rather than by price; the tests check
//! the rule for every set of steered layers together with the whole-row lies (`check/tests`).
//! Lies at one column that steer a whole row's arithmetic are caught by the cells that read the
//! row ([`super::named`]), not by these weights.

use alloc::vec::Vec;

use super::{EMBEDDING_SAMPLES, LAYER_OPERATIONS, MAX_CHECKED_TOKENS, Operation};
use crate::embedding::model::{LinearKind, Shape};

/// The draw's weights sum to at most this for a [`Draw::priced`] shape; a cell's share of the draw is
/// its weight over the sum, and so at least its weight over this.
pub const WEIGHT_SCALE: u64 = 1 << 20;

/// The token embedding's weight: a quarter of the scale.
const EMBED_WEIGHT: u64 = WEIGHT_SCALE / 4;

/// What every other cell shares equally, on top of its price: a sixteenth of the scale.
const SHARED_WEIGHT: u64 = WEIGHT_SCALE / 16;

/// One cell of the forward pass: a layer's operation (layer 0 for the token embedding, the last
/// for pooling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub layer: u32,
    pub operation: Operation,
}

/// Cells of a forward pass of `shape`: the token embedding, each layer's nine operations, pooling.
fn cell_count(shape: &Shape) -> usize {
    shape.layers as usize * LAYER_OPERATIONS.len() + 2
}

/// Cell `i` in the order the forward pass runs them: the token embedding, each layer's nine
/// operations, pooling.
fn cell_at(shape: &Shape, i: usize) -> Cell {
    let per_layer = LAYER_OPERATIONS.len();
    match i.checked_sub(1) {
        None => Cell {
            layer: 0,
            operation: Operation::Embed,
        },
        Some(at) if at < shape.layers as usize * per_layer => Cell {
            layer: (at / per_layer) as u32,
            operation: LAYER_OPERATIONS[at % per_layer],
        },
        Some(_) => Cell {
            layer: shape.layers.saturating_sub(1),
            operation: Operation::Pool,
        },
    }
}

/// The cells in the order the forward pass runs them.
pub fn cells(shape: &Shape) -> impl Iterator<Item = Cell> + '_ {
    (0..cell_count(shape)).map(|i| cell_at(shape, i))
}

/// Multiply-adds one token costs in `operation` in a sequence of `tokens`: a linear layer's
/// weights (with the GELU before the FFN's second layer, and the residual after either output), the
/// attention over every token, a row for the others.
fn work(shape: &Shape, operation: Operation, tokens: u32) -> u64 {
    let (hidden, ffn) = (u64::from(shape.hidden), u64::from(shape.ffn));
    match operation {
        Operation::Linear(kind) => {
            let weights = (shape.linear_inputs(kind) * shape.linear_outputs(kind)) as u64;
            match kind {
                LinearKind::AttentionOutput => weights + hidden,
                LinearKind::Output => weights + ffn + hidden,
                _ => weights,
            }
        }
        Operation::Attention => 2 * hidden * u64::from(tokens),
        Operation::Embed | Operation::AttentionNorm | Operation::OutputNorm | Operation::Pool => {
            hidden
        }
    }
}

/// What a lie at a cell of `operation`, for every token, can spare beyond its own work (the token
/// embedding spares everything too, but is weighed apart).
enum Spares {
    /// The cells of its layer from the first to the second: the attention and its output's dense
    /// layer for a query, key or value (one context for every token), the output's dense layer for
    /// the attention, the second layer for the FFN's first.
    Also(Operation, Operation),
    /// Every later cell: one row of the residual stream for every token.
    Everything,
    /// Nothing else (pooling, which nothing reads).
    Nothing,
}

fn spares(operation: Operation) -> Spares {
    match operation {
        Operation::Linear(LinearKind::Query | LinearKind::Key | LinearKind::Value) => Spares::Also(
            Operation::Attention,
            Operation::Linear(LinearKind::AttentionOutput),
        ),
        Operation::Attention => Spares::Also(
            Operation::Linear(LinearKind::AttentionOutput),
            Operation::Linear(LinearKind::AttentionOutput),
        ),
        Operation::Linear(LinearKind::Intermediate) => Spares::Also(
            Operation::Linear(LinearKind::Output),
            Operation::Linear(LinearKind::Output),
        ),
        Operation::Linear(LinearKind::AttentionOutput | LinearKind::Output)
        | Operation::AttentionNorm
        | Operation::OutputNorm
        | Operation::Embed => Spares::Everything,
        Operation::Pool => Spares::Nothing,
    }
}

/// Whether one token's lie at `cell` can steer the next layer's attention for every token: its
/// output is that layer's input row, which a provider can make up so that the token's key wins every
/// query (the key it favours is recomputed from that row, so only this cell compares the row with
/// anything). Every context is then that token's value, and the attention and its output's dense
/// layer are computed once (docs/verification.md, "One token steering every query"). The token
/// embedding hosts layer 0's, and its quarter of the scale prices it.
fn hosts_a_steering_row(shape: &Shape, cell: Cell) -> bool {
    cell.operation == Operation::OutputNorm && cell.layer + 1 < shape.layers
}

/// What a cell hosting a steering row weighs on top of its own, for sequences of `tokens`: one
/// token's lie spares the next layer's attention and attention output for every token (the attention
/// over `tokens`, over the work at one token, which overstates it), and is drawn 1/`tokens` as often
/// as a lie at every token, so it weighs its share times `tokens` over the samples. The draw takes it
/// at the longest sequence a check allows; any lie at few pieces that spares as much is priced by the
/// same share (the sink heads measured in `model/tests/attention.rs`).
pub fn steering_weight(shape: &Shape, tokens: u32) -> u64 {
    let per_token = cells(shape)
        .map(|cell| work(shape, cell.operation, 1))
        .sum();
    steering_weight_over(shape, tokens, per_token)
}

/// [`steering_weight`] with the work at one token, `per_token`, already summed.
fn steering_weight_over(shape: &Shape, tokens: u32, per_token: u64) -> u64 {
    let steered = work(shape, Operation::Attention, tokens)
        + work(shape, Operation::Linear(LinearKind::AttentionOutput), 1);
    (WEIGHT_SCALE * steered * u64::from(tokens)).div_ceil(per_token * u64::from(EMBEDDING_SAMPLES))
}

/// A cell's position among its layer's operations.
fn position(operation: Operation) -> usize {
    LAYER_OPERATIONS
        .iter()
        .position(|o| *o == operation)
        .unwrap_or_default()
}

/// [`WEIGHT_SCALE`] times an upper bound of `ln(1 + work/before)`: the sum over pieces of `work`
/// no larger than the work before each of `piece/√(u(u + piece))`. Each piece but the last doubles
/// `before`, so the loop is bounded by 64 turns; no work before prices nothing (only the token
/// embedding, which is weighed apart).
fn price(mut before: u64, mut work: u64) -> u64 {
    let mut price = 0u64;
    while work > 0 && before > 0 {
        let piece = work.min(before);
        let mean = before.saturating_mul(before + piece).isqrt();
        price = price.saturating_add(WEIGHT_SCALE.saturating_mul(piece).div_ceil(mean));
        before += piece;
        work -= piece;
    }
    price
}

/// A shape's draw: every cell's weight, in [`cells`]' order, and their sum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draw {
    pub shape: Shape,
    weights: Vec<u64>,
    pub total: u64,
}

impl Draw {
    /// The weights of `shape`'s cells. Two vectors of a word a cell are all it allocates (the
    /// check runs within the default heap, which never frees).
    pub fn new(shape: &Shape) -> Self {
        let count = cell_count(shape);
        // First each cell's price, then `from[i]`: the price of cell i and every later one.
        let mut from = alloc::vec![0u64; count + 1];
        let mut before = 0u64;
        for (i, cell) in cells(shape).enumerate() {
            from[i] = price(before, work(shape, cell.operation, MAX_CHECKED_TOKENS));
            before += work(shape, cell.operation, 1);
        }
        for i in (0..count).rev() {
            from[i] = from[i].saturating_add(from[i + 1]);
        }
        let shared = SHARED_WEIGHT / (count as u64 - 1);
        // `before` is now the work at one token: the sum is not taken again.
        let steering_weight = steering_weight_over(shape, MAX_CHECKED_TOKENS, before);
        let weights: Vec<u64> = cells(shape)
            .enumerate()
            .map(|(i, cell)| {
                if cell.operation == Operation::Embed {
                    return EMBED_WEIGHT;
                }
                let own = from[i] - from[i + 1];
                let spared = match spares(cell.operation) {
                    Spares::Also(first, last) => {
                        let layer_start = i - position(cell.operation);
                        own + from[layer_start + position(first)]
                            - from[layer_start + position(last) + 1]
                    }
                    Spares::Everything => from[i],
                    Spares::Nothing => own,
                };
                let steering = if hosts_a_steering_row(shape, cell) {
                    steering_weight
                } else {
                    0
                };
                shared + spared.div_ceil(u64::from(EMBEDDING_SAMPLES)) + steering
            })
            .collect();
        let total = weights.iter().sum();
        Self {
            shape: *shape,
            weights,
            total,
        }
    }

    /// Every cell with its weight, in [`cells`]' order.
    pub fn weighted(&self) -> impl Iterator<Item = (Cell, u64)> + '_ {
        cells(&self.shape).zip(self.weights.iter().copied())
    }

    /// Whether the weights sum to at most [`WEIGHT_SCALE`], so that each cell's share of the draw
    /// is at least its price over [`EMBEDDING_SAMPLES`]: true of all-MiniLM-L6-v2 (0.96 of the
    /// scale) and of every model no larger that is at least 160 wide with an FFN at least four times
    /// as wide (`check/tests`); narrower deep models, and narrow FFNs, price their early cells and
    /// steering rows above the scale.
    pub fn priced(&self) -> bool {
        self.total <= WEIGHT_SCALE
    }

    /// The weight of `operation` in layer `layer` (0 for a cell the shape does not have).
    pub fn weight(&self, layer: u32, operation: Operation) -> u64 {
        self.weighted()
            .find(|(cell, _)| cell.layer == layer && cell.operation == operation)
            .map_or(0, |(_, weight)| weight)
    }

    /// The cell that draw word `word` picks: uniform over the sum of the weights.
    pub fn cell(&self, word: u64) -> Cell {
        let mut left = word % self.total.max(1);
        self.weighted()
            .find_map(|(cell, weight)| match left.checked_sub(weight) {
                Some(rest) => {
                    left = rest;
                    None
                }
                None => Some(cell),
            })
            .unwrap_or(Cell {
                layer: self.shape.layers.saturating_sub(1),
                operation: Operation::Pool,
            })
    }
}
