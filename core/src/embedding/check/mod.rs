//! The on-chain check of an embedding shard (issue 28): after a provider commits its shard root, a
//! challenge from slot hashes draws samples; each sample names a token of the shard (and so the
//! sequence holding it), one operation of the forward pass (a cell) and one column of that
//! operation's output. The
//! provider opens what the cell reads and writes — the weights under the model's identity, the
//! token ids under the job's batch root, the activations under the sequence's trace root under the
//! shard root — and the check recomputes the output with the reference arithmetic of
//! [`super::forward`] and compares it with the committed value.
//!
//! - [`Sample`]: the draw ([`Sample::draw`]): a token uniform over the shard's, and a cell by
//!   [`draw`]'s weights;
//! - [`plan`]: which leaves a cell opens, in order, for the prover and the check alike;
//! - [`check_sample`]: the check, which the program runs and the worker runs before sending;
//! - [`prover`]: a witness built from a forward pass (host side);
//! - [`cheats`]: cheating provers the detection table plays.
//!
//! docs/verification.md has the witness layout, the compute units measured per cell and the
//! detection table.
mod cells;
pub mod cheats;
pub mod draw;
mod measured;
pub mod named;
pub mod near_duplicates;
pub mod prover;
pub mod steering;
#[cfg(test)]
mod tests;
pub mod witness;

use alloc::vec::Vec;
use core::ops::Range;

use crate::merkle::Hash;
use crate::sha256;

use super::layout::{OUTPUT_LEAF_BYTES, sequence_output_bytes};
use super::model::{LinearKind, MAX_TOKENS, Shape};
use super::trace::{TraceLayout, TracedRow, bound_trace_root};
use crate::embedding::model_leaves::NormLeaf;
pub use cells::plan;
pub use draw::Draw;
pub use measured::{MEASURED_MODELS, sinks_measured};
use named::Named;
use witness::WitnessReader;

/// Longest sequence a spot-checked job may hold: an attention cell reads every token's key and
/// value piece of one head, and at 64 tokens that is 16 KB of values, 26 KB of heap and about
/// 480 k compute units (docs/verification.md). The worker refuses a spot-checked batch with a longer sequence.
pub const MAX_CHECKED_TOKENS: u32 = 64;

/// Samples a spot-checked embedding job asks for, all a slot can hold: [`draw`]'s weights are
/// computed for this many, so that a lie at any cell of the residual stream is caught with at least
/// the share of the work it saves, and every cheat of the detection table (docs/verification.md)
/// with more.
pub const EMBEDDING_SAMPLES: u8 = crate::spot_check::MAX_SAMPLES;

/// One operation of the forward pass, for one token (or, for pooling, one column group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Layer 0's input row: LayerNorm(words[id] + positions[t]).
    Embed,
    /// One output of a linear layer (with the residual that follows the attention output and the
    /// FFN output, and the GELU before the FFN output).
    Linear(LinearKind),
    /// One head's context for the token.
    Attention,
    /// The LayerNorm after the attention.
    AttentionNorm,
    /// The LayerNorm after the FFN: the next layer's input row (the last layer's output pieces).
    OutputNorm,
    /// One column group of the pooled mean, and the embedding from the whole mean.
    Pool,
}

/// A layer's operations, in the order the layer runs them.
pub const LAYER_OPERATIONS: [Operation; 9] = [
    Operation::Linear(LinearKind::Query),
    Operation::Linear(LinearKind::Key),
    Operation::Linear(LinearKind::Value),
    Operation::Attention,
    Operation::Linear(LinearKind::AttentionOutput),
    Operation::AttentionNorm,
    Operation::Linear(LinearKind::Intermediate),
    Operation::Linear(LinearKind::Output),
    Operation::OutputNorm,
];

/// One sampled check: the sequence (its index in the job's batch), the token, the layer and
/// operation, and the column (an output for a linear layer, a head for the query and key layers,
/// whose cells check a head's piece, and for attention, a column group for pooling; 0 otherwise).
/// Some cells also check an index the witness names ([`named`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub sequence: u32,
    pub token: u32,
    pub layer: u32,
    pub operation: Operation,
    pub column: u32,
}

/// The randomness behind sample `sample`: `sha256(challenge ‖ sample)`, its first three u64 LE
/// words: the token, the cell, the column.
fn draw_words(challenge: &Hash, sample: u8) -> [u64; 3] {
    let digest = sha256(&[challenge, &[sample]]);
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[8 * i..8 * i + 8]);
        u64::from_le_bytes(bytes)
    };
    [word(0), word(1), word(2)]
}

impl Sample {
    /// The token sample `sample` of `challenge` checks: uniform over the shard's tokens `tokens`
    /// (the job's token indices, first to last), so that a long sequence is drawn as often as the
    /// work in it.
    pub fn token_index(challenge: &Hash, sample: u8, tokens: &Range<u64>) -> u64 {
        let span = tokens.end.saturating_sub(tokens.start).max(1);
        tokens.start + draw_words(challenge, sample)[0] % span
    }

    /// Columns an operation's check picks one of.
    pub fn columns(shape: &Shape, operation: Operation) -> u32 {
        match operation {
            Operation::Linear(LinearKind::Query | LinearKind::Key) => shape.heads,
            Operation::Linear(kind) => shape.linear_outputs(kind) as u32,
            Operation::Attention | Operation::Pool => shape.heads,
            Operation::Embed | Operation::AttentionNorm | Operation::OutputNorm => 1,
        }
    }

    /// Sample `sample` of `challenge` at token `token` of sequence `sequence` (the sequence that
    /// holds [`Sample::token_index`]): the cell by `draw`'s weights ([`Draw::cell`]) and its column,
    /// uniform.
    pub fn draw(challenge: &Hash, sample: u8, draw: &Draw, sequence: u32, token: u32) -> Self {
        let (words, shape) = (draw_words(challenge, sample), &draw.shape);
        let draw::Cell { layer, operation } = draw.cell(words[1]);
        Self {
            sequence,
            token,
            layer,
            operation,
            column: (words[2] % u64::from(Self::columns(shape, operation))) as u32,
        }
    }
}

/// What a job names that a check reads.
#[derive(Clone, Debug)]
pub struct CheckContext<'a> {
    /// The job's address (trace roots are bound to it).
    pub job: &'a [u8; 32],
    /// The model's identity.
    pub model: &'a Hash,
    /// The job's batch root, its number of sequences and of tokens.
    pub batch: &'a Hash,
    pub batch_sequences: u32,
    pub batch_tokens: u32,
    /// The embedding's width.
    pub dims: u32,
    /// The shard's sequences and the provider's revealed shard root.
    pub shard_sequences: Range<u32>,
    pub shard_root: &'a Hash,
    /// The assignment's challenge.
    pub challenge: &'a Hash,
}

/// The outcome of a check whose openings all verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The committed output is the recomputed one.
    Matches,
    /// It is not (or a committed activation is outside the clamps, or a leaf has the wrong
    /// width): the valid openings are evidence of a wrong computation.
    Differs,
}

/// Why a witness is refused without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("the witness is malformed or not in the plan's order")]
    Malformed,
    #[error("an opening does not verify against its root")]
    InvalidProof,
    #[error("the model's header or a weights leaf is not a valid model's")]
    InvalidModel,
    #[error(
        "the model's width does not match the job's embedding width, or it is not a multiple of 16"
    )]
    WidthMismatch,
    #[error(
        "the sequence is empty, has an id outside the vocabulary, or is longer than the check allows"
    )]
    InvalidSequence,
    #[error("the opened sequence is not the shard's one that holds the sampled token")]
    WrongSequence,
    #[error("the model is larger than the checks are measured at, or its draw is not priced")]
    ShapeNotCheckable,
}

/// The shard tree's leaves holding the output record of the shard's `k`-th sequence.
fn record_leaves(dims: u32, k: u64) -> Range<u64> {
    let per_sequence = sequence_output_bytes(dims) / OUTPUT_LEAF_BYTES as u64;
    k * per_sequence..(k + 1) * per_sequence
}

/// The model shape the checks are measured at, compute units and heap (docs/verification.md):
/// all-MiniLM-L6-v2's.
pub const MEASURED_SHAPE: Shape = Shape::MINILM_L6;

/// Whether every check of a model of `shape` costs at most what [`MEASURED_SHAPE`]'s does: no
/// width larger, no more heads (the last LayerNorm opens one piece per head) or layers, no more
/// leaves in its weights file (its paths no deeper), no more FFN leaves to a row, no deeper trace at
/// the longest sequence, and the draw's weights
/// [`Draw::priced`]. A provider takes spot-checked jobs only of such models (a larger one's checks
/// could outgrow the heap or the compute a proof requests), and the check refuses any other.
pub fn shape_checkable(shape: &Shape) -> bool {
    within_measured(shape) && Draw::new(shape).priced()
}

/// [`shape_checkable`]'s bounds on the shape's sizes.
fn within_measured(shape: &Shape) -> bool {
    let measured = MEASURED_SHAPE;
    let longest = |shape: &Shape| TraceLayout::new(*shape, MAX_CHECKED_TOKENS as usize).leaves();
    shape.hidden <= measured.hidden
        && shape.ffn <= measured.ffn
        && shape.heads <= measured.heads
        && shape.layers <= measured.layers
        && shape.head_dim() <= measured.head_dim()
        && shape.model_leaves() <= measured.model_leaves()
        // The FFN's second layer opens its input row a width at a time, and the deepest trace
        // is the longest sequence's: no more of either than measured.
        && shape.ffn.div_ceil(shape.hidden) <= measured.ffn.div_ceil(measured.hidden)
        && longest(shape) <= longest(&measured)
}

/// Why a spot-checked embedding job cannot be checked: the worker refuses it before claiming, and
/// the client before posting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotCheckable {
    #[error("an embedding spot-check draws {EMBEDDING_SAMPLES} samples, not {0}")]
    Samples(u8),
    #[error("the model is larger than the shape a spot-check's cost is measured at")]
    Model,
    #[error(
        "a sequence of {0} tokens is longer than a spot-check can check ({MAX_CHECKED_TOKENS})"
    )]
    Sequence(usize),
}

/// Whether a spot-check of `samples` samples can check a batch whose longest sequence has
/// `longest` tokens, embedded by a model of `shape`.
pub fn job_checkable(shape: &Shape, longest: usize, samples: u8) -> Result<(), NotCheckable> {
    if samples != EMBEDDING_SAMPLES {
        Err(NotCheckable::Samples(samples))
    } else if !shape_checkable(shape) {
        Err(NotCheckable::Model)
    } else if longest > MAX_CHECKED_TOKENS as usize {
        Err(NotCheckable::Sequence(longest))
    } else {
        Ok(())
    }
}

/// Whether a spot-check can address a job of embedding width `dims`: every sequence's output
/// record must start on a leaf (dims a multiple of 16).
pub fn dims_checkable(dims: u32) -> bool {
    dims.is_multiple_of(16)
}

/// Checks sample `sample` of the context's challenge against `witness`: opens the model's header,
/// the batch leaves that bound the shard's tokens and the sequence holding the sampled token, the
/// sequence's output record and trace root, then the cell's plan, and recomputes. Errors are
/// witnesses that prove nothing; a [`Verdict`] is evidence either way.
pub fn check_sample(
    context: &CheckContext,
    sample: u8,
    witness: &[u8],
) -> Result<Verdict, CheckError> {
    check_drawn(context, witness, |draw, opened| {
        let token = Sample::token_index(context.challenge, sample, &opened.shard_tokens);
        let within = token
            .checked_sub(u64::from(opened.first_token))
            .filter(|t| *t < opened.ids.len() as u64)
            .ok_or(CheckError::WrongSequence)?;
        Ok(Sample::draw(
            context.challenge,
            sample,
            draw,
            opened.sequence,
            within as u32,
        ))
    })
}

/// The batch leaves a witness opens before its sample: the shard's token range (from the first
/// tokens of its first sequence and of the next shard's), and the sequence the sample reads.
struct OpenedSequence {
    shard_tokens: Range<u64>,
    sequence: u32,
    first_token: u32,
    ids: Vec<u32>,
}

/// [`check_sample`] of the sample `draw` makes once the model's shape and the sequence are opened.
fn check_drawn(
    context: &CheckContext,
    witness: &[u8],
    draw: impl FnOnce(&Draw, &OpenedSequence) -> Result<Sample, CheckError>,
) -> Result<Verdict, CheckError> {
    let mut reader = WitnessReader::new(witness);
    // The header is leaf 0 of the weights file; its shape gives the tree's size.
    let header = read_header(&mut reader, context.model)?;
    if header.hidden != context.dims || !dims_checkable(context.dims) {
        return Err(CheckError::WidthMismatch);
    }
    // The draw's weights, computed once: they also say whether the shape is priced.
    let weights = Draw::new(&header);
    if !within_measured(&header) || !weights.priced() {
        return Err(CheckError::ShapeNotCheckable);
    }
    let opened = read_sequence(&mut reader, context, &header)?;
    let drawn = draw(&weights, &opened)?;
    let ids = &opened.ids;
    // The sequence's output record (the embedding, then the trace root), whole for pooling.
    let k = u64::from(opened.sequence - context.shard_sequences.start);
    let record = record_leaves(context.dims, k);
    let shard_leaves = u64::from(context.shard_sequences.end - context.shard_sequences.start)
        * (record.end - record.start);
    let opened_record = if drawn.operation == Operation::Pool {
        record.clone()
    } else {
        record.end - 1..record.end
    };
    let record_opened = reader.opening(opened_record, shard_leaves, context.shard_root)?;
    let trace_tree = reader.hash()?;
    let bound = record_opened.last().copied().unwrap_or_default();
    if bound != bound_trace_root(&trace_tree, context.job) {
        return Err(CheckError::InvalidProof);
    }
    let layout = TraceLayout::new(header, ids.len());
    let plan = plan(&header, &layout, &drawn, ids);
    let mut trace = Vec::with_capacity(plan.trace.len());
    for range in &plan.trace {
        trace.push(reader.opening(range.clone(), layout.leaves(), &trace_tree)?);
    }
    let mut weights = Vec::new();
    for range in &plan.model {
        weights.extend(reader.opening(range.clone(), header.model_leaves(), context.model)?);
    }
    let named = match Named::of(&drawn) {
        Some(named) => {
            let index = reader.word()?;
            if index >= named.bound(&header, ids.len()) {
                return Err(CheckError::Malformed);
            }
            for range in named.trace(&layout, &drawn, index as u32) {
                trace.push(reader.opening(range, layout.leaves(), &trace_tree)?);
            }
            for range in named.model(&header, &drawn, index as u32, ids) {
                weights.extend(reader.opening(range, header.model_leaves(), context.model)?);
            }
            Some(index)
        }
        None => None,
    };
    reader.finish()?;
    let opened = cells::Openings {
        trace,
        weights,
        embedding: &record_opened[..record_opened.len() - 1],
        named,
    };
    cells::recompute(&header, &drawn, ids.len(), &opened)
}

/// Opens the batch leaves before a sample: the shard's first sequence's (where its tokens start),
/// the next shard's first sequence's unless this shard is the last (where they end; else the job's
/// token count), then the sequence the witness names, which must be the shard's.
fn read_sequence(
    reader: &mut WitnessReader,
    context: &CheckContext,
    shape: &Shape,
) -> Result<OpenedSequence, CheckError> {
    let shards = &context.shard_sequences;
    let start = first_token(batch_leaf(reader, context, shards.start)?)?;
    let end = if shards.end < context.batch_sequences {
        first_token(batch_leaf(reader, context, shards.end)?)?
    } else {
        context.batch_tokens
    };
    let sequence = reader.word()? as u32;
    if !shards.contains(&sequence) {
        return Err(CheckError::WrongSequence);
    }
    let leaf = batch_leaf(reader, context, sequence)?;
    Ok(OpenedSequence {
        shard_tokens: u64::from(start)..u64::from(end),
        sequence,
        first_token: first_token(leaf)?,
        ids: token_ids(&leaf[4..], shape)?,
    })
}

/// Batch leaf `index`, opened against the job's batch root.
fn batch_leaf<'a>(
    reader: &mut WitnessReader<'a>,
    context: &CheckContext,
    index: u32,
) -> Result<&'a [u8], CheckError> {
    let index = u64::from(index);
    let size = u64::from(context.batch_sequences);
    Ok(reader.opening(index..index + 1, size, context.batch)?[0])
}

/// A batch leaf's first token: the job-wide index of its sequence's first token.
fn first_token(leaf: &[u8]) -> Result<u32, CheckError> {
    match leaf.first_chunk::<4>() {
        Some(word) => Ok(u32::from_le_bytes(*word)),
        None => Err(CheckError::InvalidSequence),
    }
}

fn read_header(reader: &mut WitnessReader, model: &Hash) -> Result<Shape, CheckError> {
    let leaf = reader.peek_leaf()?;
    let shape = Shape::from_header(leaf).map_err(|_| CheckError::InvalidModel)?;
    reader.opening(0..1, shape.model_leaves(), model)?;
    Ok(shape)
}

fn token_ids(leaf: &[u8], shape: &Shape) -> Result<Vec<u32>, CheckError> {
    if leaf.is_empty() || !leaf.len().is_multiple_of(4) {
        return Err(CheckError::InvalidSequence);
    }
    let ids: Vec<u32> = leaf
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let longest = MAX_CHECKED_TOKENS.min(shape.max_tokens).min(MAX_TOKENS);
    if ids.len() > longest as usize || ids.iter().any(|id| *id >= shape.vocab) {
        return Err(CheckError::InvalidSequence);
    }
    Ok(ids)
}

/// Which leaves a sample opens, after the header, the ids and the record: ranges of the trace,
/// then ranges of the weights file (then what the witness names, [`Named`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub trace: Vec<Range<u64>>,
    pub model: Vec<Range<u64>>,
}

/// The trace range holding token `t`'s whole row of `kind` in `layer`.
fn row_range(layout: &TraceLayout, layer: u32, t: u64, kind: TracedRow) -> Range<u64> {
    let first = layout.row_leaf(layer, t, kind, 0);
    first..first + layout.row_pieces(kind)
}

/// The norm a LayerNorm cell reads.
fn norm_of(operation: Operation, layer: u32) -> Option<NormLeaf> {
    match operation {
        Operation::Embed => Some(NormLeaf::Embedding),
        Operation::AttentionNorm => Some(NormLeaf::Attention(layer)),
        Operation::OutputNorm => Some(NormLeaf::Output(layer)),
        _ => None,
    }
}
