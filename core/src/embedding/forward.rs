//! The model's forward pass over one sequence of token ids: the reference every backend must match
//! bit for bit, and the trace of every layer's activations that the shard's commitment covers.
//!
//! Per layer, for every token t (BERT's post-LayerNorm block; `linear` is [`fixed::linear_output`]
//! over the row quantized by [`fixed::quantize_row`]):
//!
//! | row | width | definition |
//! |---|---|---|
//! | input | hidden | the previous layer's output (layer 0: LayerNorm(words[id] + positions[t])) |
//! | query, key, value | hidden | `linear(input)` |
//! | context | hidden | per head: softmax over u of clamp(⌊⌊q_t·k_u⌉₁₂·score_multiplier⌉₁₆), then clamp(⌊Σ_u p_u·v_u⌉₁₆) |
//! | attention_sum | hidden | clamp(`linear(context)` + input) |
//! | attended | hidden | LayerNorm(attention_sum) |
//! | intermediate | ffn | `linear(attended)` |
//! | output_sum | hidden | clamp(`linear(gelu(intermediate))` + attended) |
//!
//! and the layer's output is LayerNorm(output_sum). ⌊v⌉ₛ is [`fixed::shift_round`] by s. The
//! embedding is the mean of the last layer's outputs over the tokens ([`fixed::div_round`]), divided
//! by its Euclidean norm ⌊√Σ⌋ and scaled to i16: clamp(div_round(mean·32767, norm), ±32767).
use alloc::vec;
use alloc::vec::Vec;

use super::fixed::{self, clamp_act, div_round, shift_round};
use super::model::{Linear, LinearKind, Model, Norm};

/// Bytes of one embedding: hidden × i16 LE.
pub fn embedding_bytes(hidden: u32) -> usize {
    2 * hidden as usize
}

/// Why a sequence cannot be embedded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("a sequence has no tokens")]
    Empty,
    #[error("a sequence of {tokens} tokens is longer than the model's {max}")]
    TooLong { tokens: usize, max: u32 },
    #[error("token id {0} is not in the model's vocabulary")]
    UnknownToken(u32),
}

/// One layer's activations for every token, each `tokens × width`, row-major.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerTrace {
    pub input: Vec<i32>,
    pub query: Vec<i32>,
    pub key: Vec<i32>,
    pub value: Vec<i32>,
    pub context: Vec<i32>,
    pub attention_sum: Vec<i32>,
    pub attended: Vec<i32>,
    pub intermediate: Vec<i32>,
    pub output_sum: Vec<i32>,
}

/// Row `t` of `width`-wide rows.
pub fn row(rows: &[i32], t: usize, width: usize) -> &[i32] {
    &rows[t * width..(t + 1) * width]
}

/// A sequence's forward pass: every layer's trace, the last layer's outputs and the embedding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceRun {
    pub tokens: usize,
    pub layers: Vec<LayerTrace>,
    /// tokens × hidden: the last layer's outputs.
    pub output: Vec<i32>,
    pub embedding: Vec<i16>,
}

/// Checks a sequence against the model: 1 to max_tokens ids, each in the vocabulary.
pub fn check_sequence(model: &Model, ids: &[u32]) -> Result<(), SequenceError> {
    if ids.is_empty() {
        return Err(SequenceError::Empty);
    }
    if ids.len() > model.shape.max_tokens as usize {
        return Err(SequenceError::TooLong {
            tokens: ids.len(),
            max: model.shape.max_tokens,
        });
    }
    match ids.iter().find(|id| **id >= model.shape.vocab) {
        Some(id) => Err(SequenceError::UnknownToken(*id)),
        None => Ok(()),
    }
}

/// The steps of the forward pass a backend may compute its own way, with the same bits: the
/// integer accumulators of a linear layer over quantized rows (`acc[t·outputs + j]` =
/// Σᵢ levels[t][i]·weights[j][i]), quantizing and requantizing rows, GELU and the attention.
/// [`Reference`] defines them.
pub trait ForwardSteps {
    /// The accumulators of layer `layer`'s linear layer `kind` of `model`.
    fn accumulate(&self, model: &Model, layer: usize, kind: LinearKind, levels: &[i16])
    -> Vec<i32>;

    /// [`fixed::gelu`] of every value.
    fn gelu(&self, values: &[i32]) -> Vec<i32> {
        values.iter().map(|x| fixed::gelu(*x)).collect()
    }

    /// [`fixed::quantize_row`] of one row: its levels into `levels`, its scale returned.
    fn quantize_row(&self, row: &[i32], levels: &mut [i16]) -> i64 {
        fixed::quantize_row(row, levels)
    }

    /// [`requantize_row`].
    fn requantize_row(&self, accumulators: &mut [i32], m: i64, linear: &Linear) {
        requantize_row(accumulators, m, linear)
    }

    /// The attention context of every token ([`attention`]).
    fn attention(&self, model: &Model, query: &[i32], key: &[i32], value: &[i32]) -> Vec<i32> {
        attention(model, query, key, value)
    }
}

/// The accumulators by the textbook loop ([`fixed::dot`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

impl ForwardSteps for Reference {
    fn accumulate(
        &self,
        model: &Model,
        layer: usize,
        kind: LinearKind,
        levels: &[i16],
    ) -> Vec<i32> {
        let linear = model.layers[layer].linear(kind);
        levels
            .chunks_exact(linear.inputs)
            .flat_map(|row| {
                (0..linear.outputs()).map(move |j| fixed::dot(row, linear.row(j).iter().copied()))
            })
            .collect()
    }
}

/// Layer `layer`'s linear layer `kind` applied to each row of `rows`: [`fixed::quantize_row`], the
/// accumulators, then [`fixed::linear_output`] (each through `steps`).
#[inline]
pub fn linear_rows(
    steps: &impl ForwardSteps,
    model: &Model,
    layer: usize,
    kind: LinearKind,
    rows: &[i32],
) -> Vec<i32> {
    let linear = model.layers[layer].linear(kind);
    let outputs = linear.outputs();
    let mut levels = vec![0i16; rows.len()];
    let scales: Vec<i64> = rows
        .chunks_exact(linear.inputs)
        .zip(levels.chunks_exact_mut(linear.inputs))
        .map(|(row, levels)| steps.quantize_row(row, levels))
        .collect();
    let mut out = steps.accumulate(model, layer, kind, &levels);
    for (row, m) in out.chunks_exact_mut(outputs).zip(scales) {
        steps.requantize_row(row, m, linear);
    }
    out
}

/// [`fixed::linear_output`] of one row of `linear`'s accumulators, in place, for a row of scale `m`.
#[inline]
pub fn requantize_row(accumulators: &mut [i32], m: i64, linear: &Linear) {
    for ((y, multiplier), bias) in accumulators
        .iter_mut()
        .zip(&linear.multipliers)
        .zip(&linear.biases)
    {
        *y = fixed::linear_output(*y, m, *multiplier, *bias);
    }
}

/// LayerNorm applied to each row of `rows`.
#[inline]
pub fn norm_rows(norm: &Norm, rows: &[i32]) -> Vec<i32> {
    let mut out = vec![0i32; rows.len()];
    for (row, y) in rows
        .chunks_exact(norm.gain.len())
        .zip(out.chunks_exact_mut(norm.gain.len()))
    {
        fixed::layer_norm(row, &norm.gain, &norm.bias, y);
    }
    out
}

/// `clamp(a + b)`, element by element.
#[inline]
pub fn residual(a: &[i32], b: &[i32]) -> Vec<i32> {
    a.iter()
        .zip(b)
        .map(|(x, y)| clamp_act(i64::from(*x) + i64::from(*y)))
        .collect()
}

/// The attention context of every token from its query, key and value rows: per head, each token
/// [`attend`]s over every token's key and value pieces of that head.
#[inline]
pub fn attention(model: &Model, query: &[i32], key: &[i32], value: &[i32]) -> Vec<i32> {
    let hidden = model.shape.hidden as usize;
    let head_dim = model.shape.head_dim();
    let tokens = query.len() / hidden;
    let multiplier = i64::from(model.shape.score_multiplier);
    let mut context = vec![0i32; query.len()];
    let (mut keys, mut values) = (vec![0i32; tokens * head_dim], vec![0i32; tokens * head_dim]);
    for head in 0..model.shape.heads as usize {
        let cols = head * head_dim..(head + 1) * head_dim;
        for u in 0..tokens {
            keys[u * head_dim..][..head_dim].copy_from_slice(&key[u * hidden..][cols.clone()]);
            values[u * head_dim..][..head_dim].copy_from_slice(&value[u * hidden..][cols.clone()]);
        }
        for t in 0..tokens {
            let q = &query[t * hidden..][cols.clone()];
            attend(
                q,
                &keys,
                &values,
                multiplier,
                &mut context[t * hidden..][cols.clone()],
            );
        }
    }
    context
}

/// One head's context for one query piece: `keys` and `values` hold every token's piece of the head
/// back to back (as the trace's head pieces lie): [`mix`] of the [`logits`]. Returns the token the
/// query favours.
#[inline]
pub fn attend(
    query: &[i32],
    keys: &[i32],
    values: &[i32],
    multiplier: i64,
    context: &mut [i32],
) -> usize {
    mix(&logits(query, keys, multiplier), values, context)
}

/// One query piece's logits against every token's key piece of the head:
/// logit_u = clamp(⌊⌊q·k_u⌉₁₂·multiplier⌉₁₆).
#[inline]
pub fn logits(query: &[i32], keys: &[i32], multiplier: i64) -> Vec<i64> {
    keys.chunks_exact(query.len())
        .map(|k| {
            let score: i64 = query
                .iter()
                .zip(k)
                .map(|(a, b)| i64::from(*a) * i64::from(*b))
                .sum();
            i64::from(clamp_act(shift_round(
                shift_round(score, fixed::FRAC_BITS) * multiplier,
                16,
            )))
        })
        .collect()
}

/// A head's context from a query's `logits` and every token's value piece: p = [`fixed::softmax`]
/// of the logits, context = clamp(⌊Σ_u p_u·v_u⌉₁₆) per column. Returns the token the query
/// favours: the first of largest logit.
#[inline]
pub fn mix(logits: &[i64], values: &[i32], context: &mut [i32]) -> usize {
    let head_dim = context.len();
    let (mut exps, mut probs) = (vec![0i64; logits.len()], vec![0i64; logits.len()]);
    fixed::softmax(logits, &mut exps, &mut probs);
    // Σ_u p_u·v_u, value pieces read in order (exact: any order).
    let mut sums = vec![0i64; head_dim];
    for (p, v) in probs.iter().zip(values.chunks_exact(head_dim)) {
        for (sum, x) in sums.iter_mut().zip(v) {
            *sum += p * i64::from(*x);
        }
    }
    for (c, sum) in context.iter_mut().zip(&sums) {
        *c = clamp_act(shift_round(*sum, fixed::PROB_BITS));
    }
    let mut favourite = 0;
    for (u, logit) in logits.iter().enumerate() {
        if *logit > logits[favourite] {
            favourite = u;
        }
    }
    favourite
}

/// The largest magnitude a context value can have when no value of its column (any token's) is
/// larger than `largest`, in a sequence of `tokens` tokens: a context is a convex combination of the
/// values, but for the rounding of the probabilities (each under 1 above its share of 2¹⁶, so that
/// they sum to less than 2¹⁶ + tokens) and its own (under 1): largest·(1 + tokens/2¹⁶) + 1, up.
#[inline]
pub fn context_bound(largest: u64, tokens: usize) -> u64 {
    largest + (largest * tokens as u64).div_ceil(1 << fixed::PROB_BITS) + 1
}

/// words[id] + positions[t] for every token: what layer 0's LayerNorm takes.
#[inline]
pub fn token_sums(model: &Model, ids: &[u32]) -> Vec<i32> {
    let hidden = model.shape.hidden as usize;
    ids.iter()
        .enumerate()
        .flat_map(|(t, id)| {
            let word = &model.words[*id as usize * hidden..][..hidden];
            let position = &model.positions[t * hidden..][..hidden];
            word.iter()
                .zip(position)
                .map(|(w, p)| i32::from(*w) + i32::from(*p))
        })
        .collect()
}

/// Layer 0's input: LayerNorm(words[id] + positions[t]) for every token.
#[inline]
pub fn embed_tokens(model: &Model, ids: &[u32]) -> Vec<i32> {
    norm_rows(&model.embedding_norm, &token_sums(model, ids))
}

/// One layer over every token, from its input rows.
pub fn run_layer(
    steps: &impl ForwardSteps,
    model: &Model,
    layer: usize,
    input: Vec<i32>,
) -> LayerTrace {
    let weights = &model.layers[layer];
    let linear = |kind: LinearKind, rows: &[i32]| linear_rows(steps, model, layer, kind, rows);
    let query = linear(LinearKind::Query, &input);
    let key = linear(LinearKind::Key, &input);
    let value = linear(LinearKind::Value, &input);
    let context = steps.attention(model, &query, &key, &value);
    let attention_sum = residual(&linear(LinearKind::AttentionOutput, &context), &input);
    let attended = norm_rows(&weights.attention_norm, &attention_sum);
    let intermediate = linear(LinearKind::Intermediate, &attended);
    let activated = steps.gelu(&intermediate);
    let output_sum = residual(&linear(LinearKind::Output, &activated), &attended);
    LayerTrace {
        input,
        query,
        key,
        value,
        context,
        attention_sum,
        attended,
        intermediate,
        output_sum,
    }
}

/// The mean over tokens of the last layer's outputs, per column: [`div_round`](Σₜ x, tokens), an
/// activation (committed in the trace: the embedding is checked from it).
#[inline]
pub fn pool_mean(hidden: usize, output: &[i32]) -> Vec<i32> {
    let tokens = (output.len() / hidden) as i64;
    (0..hidden)
        .map(|i| {
            let sum: i64 = output
                .iter()
                .skip(i)
                .step_by(hidden)
                .map(|x| i64::from(*x))
                .sum();
            div_round(sum, tokens) as i32
        })
        .collect()
}

/// The embedding of a pooled mean: divided by its Euclidean norm ⌊√Σ⌋, scaled to ±32,767 in i16
/// (all zeros for a zero mean).
#[inline]
pub fn normalize(mean: &[i32]) -> Vec<i16> {
    let norm = (mean.iter().map(|m| i64::from(*m).pow(2)).sum::<i64>() as u64).isqrt() as i64;
    mean.iter()
        .map(|m| {
            if norm == 0 {
                0
            } else {
                div_round(i64::from(*m) * 32767, norm).clamp(-32767, 32767) as i16
            }
        })
        .collect()
}

/// The embedding of the last layer's outputs: [`normalize`] of their [`pool_mean`].
#[inline]
pub fn pool(hidden: usize, output: &[i32]) -> Vec<i16> {
    normalize(&pool_mean(hidden, output))
}

/// The forward pass over `ids`, with every layer's trace, by the reference accumulators.
pub fn run_sequence(model: &Model, ids: &[u32]) -> Result<SequenceRun, SequenceError> {
    run_sequence_with(&Reference, model, ids)
}

/// The forward pass over `ids` with `steps` computing the steps a backend may take over
/// ([`ForwardSteps`]: accumulators, quantizing and requantizing rows, GELU, attention).
pub fn run_sequence_with(
    steps: &impl ForwardSteps,
    model: &Model,
    ids: &[u32],
) -> Result<SequenceRun, SequenceError> {
    check_sequence(model, ids)?;
    let mut layers = Vec::with_capacity(model.layers.len());
    let output = run_layers(
        steps,
        model,
        0..model.layers.len(),
        embed_tokens(model, ids),
        &mut layers,
    );
    Ok(SequenceRun::finish(model, layers, output))
}

/// Layers `range` of the forward pass from the first one's input rows `input`, each layer's trace
/// pushed to `traces`; returns the last one's output rows.
pub fn run_layers(
    steps: &impl ForwardSteps,
    model: &Model,
    range: core::ops::Range<usize>,
    mut input: Vec<i32>,
    traces: &mut Vec<LayerTrace>,
) -> Vec<i32> {
    for layer in range {
        let trace = run_layer(steps, model, layer, input);
        input = norm_rows(&model.layers[layer].output_norm, &trace.output_sum);
        traces.push(trace);
    }
    input
}

impl SequenceRun {
    /// The run whose layers' traces are `layers` and whose last layer output `output`: its
    /// embedding pooled from it.
    pub fn finish(model: &Model, layers: Vec<LayerTrace>, output: Vec<i32>) -> Self {
        let hidden = model.shape.hidden as usize;
        Self {
            tokens: output.len() / hidden,
            layers,
            embedding: pool(hidden, &output),
            output,
        }
    }
}
