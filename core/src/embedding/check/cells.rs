//! Each cell's openings ([`plan`]) and its recomputation from them ([`recompute`]), by the
//! reference arithmetic of [`crate::embedding::fixed`] and [`crate::embedding::forward`].
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::fixed::{
    self, ACT_LIMIT, RowNorm, clamp_act, dot, largest_magnitude, linear_output, quantize_row,
};
use crate::embedding::forward::{context_bound, logits, mix, normalize, pool_mean};
use crate::embedding::model::{LinearKind, Shape};
use crate::embedding::trace::{TraceLayout, TracedRow};

use super::named::largest_value_token;
use super::steering::Steering;
use super::{CheckError, Operation, Plan, Sample, Verdict, norm_of, row_range};

/// The leaves sample `sample` opens (see [`Plan`]), for a sequence of token ids `ids`.
pub fn plan(shape: &Shape, layout: &TraceLayout, sample: &Sample, ids: &[u32]) -> Plan {
    let (layer, t, j) = (
        sample.layer,
        u64::from(sample.token),
        u64::from(sample.column),
    );
    let (hidden, head_dim) = (u64::from(shape.hidden), shape.head_dim() as u64);
    let tokens = ids.len() as u64;
    let row = |kind| row_range(layout, layer, t, kind);
    let single = |leaf: u64| leaf..leaf + 1;
    let norm = norm_of(sample.operation, layer).map(|norm| single(shape.norm_leaf(norm)));
    let (trace, model) = match sample.operation {
        Operation::Embed => {
            let id = ids.get(t as usize).copied().unwrap_or_default();
            (
                vec![row_range(layout, 0, t, TracedRow::Input)],
                vec![single(shape.word_leaf(id)), single(shape.position_leaf(t))],
            )
        }
        Operation::Linear(kind) => {
            let mut trace = match kind {
                LinearKind::Query | LinearKind::Key | LinearKind::Value => {
                    vec![row(TracedRow::Input)]
                }
                LinearKind::AttentionOutput => vec![row(TracedRow::Context), row(TracedRow::Input)],
                LinearKind::Intermediate => vec![row(TracedRow::Attended)],
                LinearKind::Output => {
                    vec![row(TracedRow::Intermediate), row(TracedRow::Attended)]
                }
            };
            // A query or key cell checks its head's piece (its column is a head), any other one
            // output.
            let piece = |kind| single(layout.row_leaf(layer, t, kind, j / hidden));
            trace.push(match kind {
                LinearKind::Query => piece(TracedRow::Query),
                LinearKind::Key => single(layout.key_piece(layer, j as u32, t)),
                LinearKind::Value => single(layout.value_piece(layer, (j / head_dim) as u32, t)),
                LinearKind::AttentionOutput => piece(TracedRow::AttentionSum),
                LinearKind::Intermediate => piece(TracedRow::Intermediate),
                LinearKind::Output => piece(TracedRow::OutputSum),
            });
            let rows = match kind {
                LinearKind::Query | LinearKind::Key => head_rows(shape, layer, kind, j as u32),
                _ => single(shape.linear_leaf(layer, kind, j)),
            };
            (trace, vec![rows])
        }
        Operation::Attention => {
            let head = j as u32;
            let keys = layout.key_piece(layer, head, 0);
            let values = layout.value_piece(layer, head, 0);
            (
                vec![
                    row(TracedRow::Query),
                    keys..keys + tokens,
                    values..values + tokens,
                    row(TracedRow::Context),
                ],
                vec![],
            )
        }
        // The sum, the rows its steering column is recomputed from (`steering`), the output.
        Operation::AttentionNorm => (
            vec![
                row(TracedRow::AttentionSum),
                row(TracedRow::Context),
                row(TracedRow::Input),
                row(TracedRow::Attended),
            ],
            vec![],
        ),
        Operation::OutputNorm => {
            let mut trace = vec![
                row(TracedRow::OutputSum),
                row(TracedRow::Intermediate),
                row(TracedRow::Attended),
            ];
            if layer + 1 < shape.layers {
                trace.push(row_range(layout, layer + 1, t, TracedRow::Input));
            } else {
                trace.extend((0..shape.heads).map(|group| single(layout.output_piece(group, t))));
            }
            (trace, vec![])
        }
        Operation::Pool => {
            let first = layout.output_piece(j as u32, 0);
            (
                vec![single(layout.mean_leaf()), first..first + tokens],
                vec![],
            )
        }
    };
    Plan {
        trace,
        model: model.into_iter().chain(norm).collect(),
    }
}

/// The weight rows of `kind`'s outputs in head `head` of layer `layer`: a contiguous range.
pub(super) fn head_rows(shape: &Shape, layer: u32, kind: LinearKind, head: u32) -> Range<u64> {
    let head_dim = shape.head_dim() as u64;
    let first = shape.linear_leaf(layer, kind, u64::from(head) * head_dim);
    first..first + head_dim
}

/// A linear layer of `kind`'s input row as it reads the committed one `row`: the FFN's second
/// layer through the GELU, every other as it is.
pub(super) fn as_read(kind: LinearKind, mut row: Vec<i32>) -> Vec<i32> {
    if kind == LinearKind::Output {
        row.iter_mut().for_each(|x| *x = fixed::gelu(*x));
    }
    row
}

/// Committed activations: the leaves' i32 LE values, each within the clamps, into `values`
/// (emptied first; its room is reused). `None` when a leaf is not whole values or a value is
/// outside them: no honest trace holds such a leaf.
fn activations_into(leaves: &[&[u8]], values: &mut Vec<i32>) -> Option<()> {
    values.clear();
    // Sized up front: a growing vector leaves every smaller buffer behind on SBF's heap.
    values.reserve_exact(leaves.iter().map(|leaf| leaf.len() / 4).sum());
    for leaf in leaves {
        if leaf.len() % 4 != 0 {
            return None;
        }
        for b in leaf.chunks_exact(4) {
            let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if i64::from(v).abs() > ACT_LIMIT {
                return None;
            }
            values.push(v);
        }
    }
    Some(())
}

fn i16s(leaf: &[u8], count: usize) -> Result<Vec<i16>, CheckError> {
    if leaf.len() != 2 * count {
        return Err(CheckError::InvalidModel);
    }
    Ok(leaf
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// A leaf's i32 LE values.
pub(super) fn i32s(leaf: &[u8]) -> Vec<i32> {
    leaf.chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Whether the LayerNorm of `row` by the norm leaf `leaf` (its gains, then its biases, i32 LE) is
/// `expected`: each output computed on its own from the leaf's bytes, nothing allocated.
fn normalizes_to(row: &[i32], leaf: &[u8], expected: &[i32]) -> Result<bool, CheckError> {
    let n = row.len();
    if leaf.len() != 8 * n {
        return Err(CheckError::InvalidModel);
    }
    let word = |at: usize| {
        let b = &leaf[4 * at..4 * at + 4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let norm = RowNorm::of(row);
    Ok(expected.len() == n
        && (0..n).all(|i| norm.apply(row[i], word(i), word(n + i)) == expected[i]))
}

/// Layer 0's input sums of a token: its word row plus its position row (each `hidden` i16 LE),
/// read in place.
fn embedding_sums(word: &[u8], position: &[u8], hidden: usize) -> Result<Vec<i32>, CheckError> {
    if word.len() != 2 * hidden || position.len() != 2 * hidden {
        return Err(CheckError::InvalidModel);
    }
    let value = |b: &[u8]| i32::from(i16::from_le_bytes([b[0], b[1]]));
    Ok(word
        .chunks_exact(2)
        .zip(position.chunks_exact(2))
        .map(|(w, p)| value(w) + value(p))
        .collect())
}

/// Whether `input`, a token's input row, is what it comes from ([`super::named::origin_trace`]):
/// the previous layer's output LayerNorm of the token's committed output sum `previous` by the norm
/// leaf `leaves[0]`, or for layer 0 (no `previous`) the embedding LayerNorm (`leaves[2]`) of its word
/// and position rows (`leaves[0]`, `leaves[1]`).
fn derives_input(
    input: &[i32],
    previous: Option<&Vec<&[u8]>>,
    leaves: &[&[u8]],
) -> Result<bool, Unanswered> {
    let hidden = input.len();
    let leaf = |at: usize| leaves.get(at).copied().ok_or(CheckError::Malformed);
    let (row, norm) = match previous {
        Some(sum) => (committed(sum, hidden)?, leaf(0)?),
        None => (embedding_sums(leaf(0)?, leaf(1)?, hidden)?, leaf(2)?),
    };
    Ok(normalizes_to(&row, norm, input)?)
}

/// Value `at` of a committed leaf, if the leaf holds it and it is within the clamps.
fn committed_value(leaf: &[u8], at: usize) -> Option<i32> {
    let b = leaf.get(4 * at..4 * at + 4)?;
    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    (i64::from(v).abs() <= ACT_LIMIT).then_some(v)
}

/// The outputs of a linear layer whose rows `leaves` (each inputs × i8, u32 multiplier, i32 bias)
/// take `input`, quantized once; each row's weights are read in place.
fn linear_outputs(input: &[i32], leaves: &[&[u8]]) -> Result<Vec<i32>, CheckError> {
    let inputs = input.len();
    let mut levels = vec![0i16; inputs];
    let m = quantize_row(input, &mut levels);
    let word = |b: &[u8]| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    leaves
        .iter()
        .map(|leaf| {
            if leaf.len() != inputs + 8 {
                return Err(CheckError::InvalidModel);
            }

            let (multiplier, bias) = (
                word(&leaf[inputs..]) & 0xffff_ffff,
                word(&leaf[inputs + 4..]),
            );
            let acc = dot(&levels, leaf[..inputs].iter().map(|w| *w as i8));
            Ok(linear_output(acc, m, multiplier, bias))
        })
        .collect()
}

/// The output of a linear layer whose row `leaf` takes `input` ([`linear_outputs`] of one row).
fn linear_one(input: &[i32], leaf: &[u8]) -> Result<i32, CheckError> {
    Ok(linear_outputs(input, &[leaf])?[0])
}

/// Output `j` of a linear layer whose row `leaf` reads `input` (as read), plus the residual row's
/// value `j` for the dense layers that end a branch, clamped.
fn branch_output(
    input: &[i32],
    leaf: &[u8],
    residual: Option<&[i32]>,
    j: usize,
) -> Result<i32, CheckError> {
    let y = linear_one(input, leaf)?;
    Ok(match residual {
        Some(residual) => clamp_act(i64::from(y) + i64::from(residual[j])),
        None => y,
    })
}

/// The steering column the witness named, if it is `read`'s (the row as its reader reads it); a
/// witness naming another is malformed.
fn confirmed(steering: &Steering, read: &[i32], named: Option<usize>) -> Result<usize, Unanswered> {
    match named {
        Some(at) if steering.pick(read) == at => Ok(at),
        _ => Err(Unanswered::Refused(CheckError::Malformed)),
    }
}

/// Why a recomputation has no equal/unequal answer: a committed value no honest trace holds (a
/// wrong output in itself), or a model leaf that is not a valid model's (no evidence at all).
enum Unanswered {
    Committed,
    Refused(CheckError),
}

impl From<CheckError> for Unanswered {
    fn from(error: CheckError) -> Self {
        Unanswered::Refused(error)
    }
}

/// `count` committed activations of `leaves` (any other count is a wrong output in itself).
fn committed(leaves: &[&[u8]], count: usize) -> Result<Vec<i32>, Unanswered> {
    let mut values = Vec::new();
    committed_into(leaves, count, &mut values)?;
    Ok(values)
}

/// [`committed`] into `values`, reusing its room.
fn committed_into(leaves: &[&[u8]], count: usize, values: &mut Vec<i32>) -> Result<(), Unanswered> {
    activations_into(leaves, values)
        .filter(|()| values.len() == count)
        .ok_or(Unanswered::Committed)
}

/// What a cell's witness opens, in [`plan`]'s order: the trace's leaves by range, the model's
/// leaves, each with those of the index the witness names last ([`super::named::Named`]), the sequence's
/// embedding leaves (for pooling only), and that index.
pub struct Openings<'a> {
    pub trace: Vec<Vec<&'a [u8]>>,
    pub weights: Vec<&'a [u8]>,
    pub embedding: &'a [&'a [u8]],
    pub named: Option<usize>,
}

/// Recomputes the sample's output from its openings and compares it with the committed one, for a
/// sequence of `tokens` tokens.
pub fn recompute(
    shape: &Shape,
    sample: &Sample,
    tokens: usize,
    opened: &Openings,
) -> Result<Verdict, CheckError> {
    match matches(shape, sample, tokens, opened) {
        Ok(true) => Ok(Verdict::Matches),
        Ok(false) | Err(Unanswered::Committed) => Ok(Verdict::Differs),
        Err(Unanswered::Refused(error)) => Err(error),
    }
}

/// Whether the committed output is the recomputed one.
fn matches(
    shape: &Shape,
    sample: &Sample,
    tokens: usize,
    opened: &Openings,
) -> Result<bool, Unanswered> {
    let (trace, weights) = (&opened.trace, &opened.weights);
    let (hidden, head_dim) = (shape.hidden as usize, shape.head_dim());
    let j = sample.column as usize;
    match sample.operation {
        Operation::Embed => {
            let x = committed(&trace[0], hidden)?;
            Ok(derives_input(&x, None, weights)?)
        }
        Operation::Linear(kind @ (LinearKind::Query | LinearKind::Key)) => {
            // The head's whole piece: a lie at any of its columns can steer the head's scores.
            let input = committed(&trace[0], hidden)?;
            let piece = match kind {
                LinearKind::Query => (j * head_dim..(j + 1) * head_dim)
                    .map(|c| trace[1].first().and_then(|leaf| committed_value(leaf, c)))
                    .collect::<Option<Vec<i32>>>()
                    .ok_or(Unanswered::Committed)?,
                _ => committed(&trace[1], head_dim)?,
            };
            Ok(linear_outputs(&input, weights)? == piece)
        }
        Operation::Linear(kind) => {
            let committed_input = committed(&trace[0], shape.linear_inputs(kind))?;
            // The FFN first layer's output at the steering column, before the GELU.
            let first = Steering::of(sample)
                .and(opened.named)
                .and_then(|at| committed_input.get(at).copied());
            let input = as_read(kind, committed_input);
            // The residual row of the dense layers that end a branch (for the FFN, also its first
            // layer's input).
            let residual = matches!(kind, LinearKind::AttentionOutput | LinearKind::Output)
                .then(|| committed(&trace[1], hidden))
                .transpose()?;
            if kind == LinearKind::AttentionOutput {
                // The context's largest column, within what the head's values allow (`named`).
                let index = opened.named.ok_or(CheckError::Malformed)?;
                let (token, column) = (index / hidden, index % hidden);
                if largest_magnitude(&input) != column {
                    return Err(Unanswered::Refused(CheckError::Malformed));
                }
                let pieces = committed(&trace[3], tokens * head_dim)?;
                if largest_value_token(&pieces, head_dim, column % head_dim) != token {
                    return Err(Unanswered::Refused(CheckError::Malformed));
                }
                let value = pieces[token * head_dim + column % head_dim];
                let row = committed(&trace[4], hidden)?;
                let bound = context_bound(u64::from(value.unsigned_abs()), tokens);
                if linear_one(&row, weights[1])? != value
                    || u64::from(input[column].unsigned_abs()) > bound
                    || !derives_input(&row, trace.get(5), &weights[2..])?
                {
                    return Ok(false);
                }
            }
            if let (Some(steering), Some(attended)) = (Steering::of(sample), &residual) {
                // The first layer's output that sets the input's scale.
                confirmed(&steering, &input, opened.named)?;
                if first != Some(linear_one(attended, weights[1])?) {
                    return Ok(false);
                }
            }
            let y = branch_output(&input, weights[0], residual.as_deref(), j)?;
            let at = match kind {
                LinearKind::Value => j % head_dim,
                _ => j % hidden,
            };
            // The output's leaf follows the input row and, for a branch's end, the residual row.
            let output = trace[1 + usize::from(residual.is_some())]
                .first()
                .copied()
                .unwrap_or_default();
            Ok(committed_value(output, at).ok_or(Unanswered::Committed)? == y)
        }
        Operation::Attention => {
            // Only the head's columns of the query and context rows are read.
            let head = |leaves: &[&[u8]]| -> Result<Vec<i32>, Unanswered> {
                (j * head_dim..(j + 1) * head_dim)
                    .map(|c| {
                        leaves
                            .get(c / hidden)
                            .and_then(|leaf| committed_value(leaf, c % hidden))
                            .ok_or(Unanswered::Committed)
                    })
                    .collect()
            };
            let query = head(&trace[0])?;
            let context = head(&trace[3])?;
            // The keys, then the values, then the favourite's input row, in one buffer: the heap
            // never frees.
            let mut pieces = committed(&trace[1], tokens * head_dim)?;
            let logits = logits(&query, &pieces, i64::from(shape.score_multiplier));
            let at = opened.named.ok_or(CheckError::Malformed)?;
            let key = pieces
                .get(at * head_dim..(at + 1) * head_dim)
                .ok_or(CheckError::Malformed)?
                .to_vec();
            committed_into(&trace[2], tokens * head_dim, &mut pieces)?;
            let mut out = vec![0i32; head_dim];
            if mix(&logits, &pieces, &mut out) != at {
                return Err(Unanswered::Refused(CheckError::Malformed));
            }
            // The favourite key's piece, from its token's input row by the head's key rows, and
            // that row from where it comes (see `Named::FavouriteKey`).
            committed_into(&trace[4], hidden, &mut pieces)?;
            let (rows, origin) = weights.split_at(head_dim);
            Ok(out == context
                && linear_outputs(&pieces, rows)? == key
                && derives_input(&pieces, trace.get(5), origin)?)
        }
        Operation::AttentionNorm | Operation::OutputNorm => {
            let sum = committed(&trace[0], hidden)?;
            let steering = Steering::of(sample).ok_or(CheckError::Malformed)?;
            let at = confirmed(&steering, &sum, opened.named)?;
            // The steering column by the dense layer that produced it, and its residual.
            let producer = steering.producer;
            let input = as_read(
                producer,
                committed(&trace[1], shape.linear_inputs(producer))?,
            );
            let residual = committed(&trace[2], hidden)?;
            if branch_output(&input, weights[1], Some(&residual), at)? != sum[at] {
                return Ok(false);
            }
            let output = committed(&trace[3..].concat(), hidden)?;
            Ok(normalizes_to(&sum, weights[0], &output)?)
        }
        Operation::Pool => {
            let mean = committed(&trace[0], hidden)?;
            let pieces = committed(&trace[1], tokens * head_dim)?;
            // The pieces are the group's columns, token by token: their own pooled mean.
            let group_matches = pool_mean(head_dim, &pieces) == mean[j * head_dim..][..head_dim];
            let embedding =
                i16s(&opened.embedding.concat(), hidden).map_err(|_| Unanswered::Committed)?;
            Ok(group_matches && normalize(&mean) == embedding)
        }
    }
}
