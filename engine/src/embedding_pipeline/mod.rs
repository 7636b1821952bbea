//! The embedding forward pass as a GPU runs it: a chunk of sequences at once, every token's rows of
//! one activation in one buffer, each step one kernel of [`EmbeddingOps`]; then every sequence's
//! trace leaves, its trace tree level by level, and its embedding. The GPU backend implements the
//! ops with the CUDA kernels of `cuda/embedding.cu`; the tests implement them with the same kernel
//! bodies compiled as host C (`host.rs`) and check this whole pipeline against gpushare-core's
//! forward pass, so the device's orchestration is tested on machines without a GPU.
use cudarc::driver::{DeviceRepr, ValidAsZeroBits};
use gpushare_core::embedding::forward::{check_sequence, token_sums};
use gpushare_core::embedding::layout::output_record;
use gpushare_core::embedding::model::{Linear, Model, Norm};
use gpushare_core::embedding::trace::{TraceLayout, TracedRow, bound_trace_root};

use crate::error::EngineError;
use crate::hashing::digest_bytes;

#[cfg(test)]
mod host;

/// What a buffer may hold: plain integers the device can copy.
pub(crate) trait Element: Copy + Default + DeviceRepr + ValidAsZeroBits + 'static {}
impl<T: Copy + Default + DeviceRepr + ValidAsZeroBits + 'static> Element for T {}

/// How a buffer of rows is cut into trace leaves (`leaf_values` values each) and where they go
/// (core's `TraceLayout`): piece p of row r, the t-th of a sequence of L tokens, is leaf
/// `L·block + offset + t·token_stride + p·(L·piece_stride_tokens + piece_stride)` of the sequence's trace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeafPlacement {
    pub leaf_values: u32,
    pub block: u64,
    pub offset: u64,
    pub token_stride: u32,
    pub piece_stride_tokens: u32,
    pub piece_stride: u32,
}

/// The steps of the forward pass, each over every token of a chunk (the bodies of
/// `cuda/embedding.cuh`), and the buffers they work on.
pub(crate) trait EmbeddingOps: Sized {
    type Buffer<T: Element>;

    fn upload<T: Element>(&self, values: &[T]) -> Result<Self::Buffer<T>, EngineError>;
    fn zeros<T: Element>(&self, len: usize) -> Result<Self::Buffer<T>, EngineError>;
    fn download<T: Element>(&self, buffer: &Self::Buffer<T>) -> Result<Vec<T>, EngineError>;

    /// `count` rows `width` wide quantized and split into high and low int8 words, with their scales.
    fn quantize(
        &self,
        rows: &Self::Buffer<i32>,
        count: usize,
        width: usize,
        split: &mut SplitLevels<Self>,
    ) -> Result<(), EngineError>;

    /// `out` (rows × outputs) = A·Wᵀ, both operands int8 words K-contiguous, `inputs` values a row.
    fn gemm(
        &self,
        a: &Self::Buffer<u32>,
        weights: &Self::Buffer<u32>,
        shape: GemmShape,
        out: &mut Self::Buffer<i32>,
    ) -> Result<(), EngineError>;

    /// A linear layer's outputs from the split accumulators, plus `residual` when given.
    fn linear(
        &self,
        accumulators: [&Self::Buffer<i32>; 2],
        scales: &Self::Buffer<i64>,
        linear: &LinearWeights<Self>,
        residual: Option<&Self::Buffer<i32>>,
        rows: usize,
        out: &mut Self::Buffer<i32>,
    ) -> Result<(), EngineError>;

    fn gelu(
        &self,
        x: &Self::Buffer<i32>,
        len: usize,
        out: &mut Self::Buffer<i32>,
    ) -> Result<(), EngineError>;

    fn layer_norm(
        &self,
        rows: &Self::Buffer<i32>,
        count: usize,
        norm: &NormWeights<Self>,
        out: &mut Self::Buffer<i32>,
    ) -> Result<(), EngineError>;

    /// Every token's attention context, per head, within its own sequence.
    fn attention(
        &self,
        qkv: [&Self::Buffer<i32>; 3],
        tokens: &TokenTable<Self>,
        shape: AttentionShape,
        out: &mut Self::Buffer<i32>,
    ) -> Result<(), EngineError>;

    /// The leaf hashes of `count` rows `width` wide, written at their places in the traces.
    fn trace_leaves(
        &self,
        rows: &Self::Buffer<i32>,
        width: usize,
        tokens: &TokenTable<Self>,
        place: LeafPlacement,
        digests: &mut Self::Buffer<u32>,
    ) -> Result<(), EngineError>;

    /// One level up of several trees held back to back (`below` and `above`: each tree's first node).
    fn tree_level(
        &self,
        nodes: &Self::Buffer<u32>,
        below: &Self::Buffer<u64>,
        above: &Self::Buffer<u64>,
        trees: u32,
        parents: &mut Self::Buffer<u32>,
    ) -> Result<(), EngineError>;

    /// Each sequence's pooled mean of its last layer's rows (`first`: each sequence's first row,
    /// then the end).
    fn pool_mean(
        &self,
        rows: &Self::Buffer<i32>,
        first: &Self::Buffer<u32>,
        sequences: u32,
        hidden: u32,
        means: &mut Self::Buffer<i32>,
    ) -> Result<(), EngineError>;

    /// Each sequence's embedding from its pooled mean.
    fn normalize(
        &self,
        means: &Self::Buffer<i32>,
        sequences: u32,
        hidden: u32,
        out: &mut Self::Buffer<i16>,
    ) -> Result<(), EngineError>;
}

/// A GEMM's sizes: `rows` of A, `outputs` rows of W, `inputs` values in each.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GemmShape {
    pub rows: usize,
    pub outputs: usize,
    pub inputs: usize,
}

/// The attention's sizes over a chunk of `tokens` tokens.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttentionShape {
    pub tokens: usize,
    pub hidden: u32,
    pub heads: u32,
    pub score_multiplier: i64,
}

/// Quantized rows split into high and low int8 words, and each row's scale.
pub(crate) struct SplitLevels<O: EmbeddingOps> {
    pub high: O::Buffer<u32>,
    pub low: O::Buffer<u32>,
    pub scales: O::Buffer<i64>,
}

/// Every row of a buffer (a token, or a sequence's pooled mean): its sequence's first row, its
/// sequence's length and where its sequence's trace leaves start.
pub(crate) struct TokenTable<O: EmbeddingOps> {
    pub first: O::Buffer<u32>,
    pub count: O::Buffer<u32>,
    pub leaf_base: O::Buffer<u64>,
    pub tokens: usize,
}

/// A linear layer on the device: weight rows as int8 words, multipliers and biases.
pub(crate) struct LinearWeights<O: EmbeddingOps> {
    pub words: O::Buffer<u32>,
    pub multipliers: O::Buffer<i64>,
    pub biases: O::Buffer<i64>,
    pub inputs: usize,
    pub outputs: usize,
}

/// A LayerNorm's gain and bias on the device.
pub(crate) struct NormWeights<O: EmbeddingOps> {
    pub gain: O::Buffer<i32>,
    pub bias: O::Buffer<i32>,
    pub width: usize,
}

struct LayerWeights<O: EmbeddingOps> {
    query: LinearWeights<O>,
    key: LinearWeights<O>,
    value: LinearWeights<O>,
    attention_output: LinearWeights<O>,
    attention_norm: NormWeights<O>,
    intermediate: LinearWeights<O>,
    output: LinearWeights<O>,
    output_norm: NormWeights<O>,
}

/// A model's weights on the device (the word and position tables stay on the host: layer 0's sums
/// are gathered there).
pub(crate) struct ModelWeights<O: EmbeddingOps> {
    embedding_norm: NormWeights<O>,
    layers: Vec<LayerWeights<O>>,
}

/// Rows of i8 values (held as i16) packed four a word, little-endian, each row zero-padded to whole words.
pub(crate) fn pack_rows(values: &[i16], width: usize) -> Vec<u32> {
    values
        .chunks_exact(width)
        .flat_map(|row| {
            row.chunks(4).map(|four| {
                four.iter().enumerate().fold(0u32, |word, (b, v)| {
                    word | (u32::from(*v as i8 as u8) << (8 * b))
                })
            })
        })
        .collect()
}

impl<O: EmbeddingOps> LinearWeights<O> {
    fn upload(ops: &O, linear: &Linear) -> Result<Self, EngineError> {
        Ok(Self {
            words: ops.upload(&pack_rows(&linear.weights, linear.inputs))?,
            multipliers: ops.upload(&linear.multipliers)?,
            biases: ops.upload(&linear.biases)?,
            inputs: linear.inputs,
            outputs: linear.outputs(),
        })
    }
}

impl<O: EmbeddingOps> NormWeights<O> {
    fn upload(ops: &O, norm: &Norm) -> Result<Self, EngineError> {
        Ok(Self {
            gain: ops.upload(&norm.gain)?,
            bias: ops.upload(&norm.bias)?,
            width: norm.gain.len(),
        })
    }
}

impl<O: EmbeddingOps> ModelWeights<O> {
    /// Copies `model`'s layers to the device.
    pub(crate) fn upload(ops: &O, model: &Model) -> Result<Self, EngineError> {
        let layers = model
            .layers
            .iter()
            .map(|layer| {
                Ok(LayerWeights {
                    query: LinearWeights::upload(ops, &layer.query)?,
                    key: LinearWeights::upload(ops, &layer.key)?,
                    value: LinearWeights::upload(ops, &layer.value)?,
                    attention_output: LinearWeights::upload(ops, &layer.attention_output)?,
                    attention_norm: NormWeights::upload(ops, &layer.attention_norm)?,
                    intermediate: LinearWeights::upload(ops, &layer.intermediate)?,
                    output: LinearWeights::upload(ops, &layer.output)?,
                    output_norm: NormWeights::upload(ops, &layer.output_norm)?,
                })
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Self {
            embedding_norm: NormWeights::upload(ops, &model.embedding_norm)?,
            layers,
        })
    }
}

/// The output bytes of `sequences` in job `job` (per sequence, core's output record: embedding and
/// trace root), computed by `ops` in chunks of whole sequences of at most `chunk_tokens` tokens
/// (one longer sequence makes a chunk of its own).
pub(crate) fn embedding_outputs<O: EmbeddingOps>(
    ops: &O,
    weights: &ModelWeights<O>,
    model: &Model,
    sequences: &[&[u32]],
    job: &[u8; 32],
    chunk_tokens: usize,
) -> Result<Vec<u8>, EngineError> {
    for ids in sequences {
        check_sequence(model, ids)?;
    }
    let mut out = Vec::new();
    let mut rest = sequences;
    while !rest.is_empty() {
        let mut tokens = 0;
        let take = rest
            .iter()
            .take_while(|ids| {
                tokens += ids.len();
                tokens <= chunk_tokens
            })
            .count()
            .max(1);
        let (chunk, after) = rest.split_at(take);
        out.extend(run_chunk(ops, weights, model, chunk, job)?);
        rest = after;
    }
    Ok(out)
}

/// Where a layer's rows and pieces go in the traces, from core's layout of the trace.
struct TracePlaces {
    layout: TraceLayout,
}

impl TracePlaces {
    /// Row `kind` of every token in layer `layer`: hidden-wide leaves, token by token.
    fn row(&self, layer: u32, kind: TracedRow) -> LeafPlacement {
        let layout = &self.layout;
        LeafPlacement {
            leaf_values: layout.row_leaf_values() as u32,
            block: u64::from(layer) * layout.layer_leaves_per_token(),
            offset: layout.row_offset(kind),
            token_stride: layout.token_row_leaves() as u32,
            piece_stride_tokens: 0,
            piece_stride: 1,
        }
    }

    /// The keys (`values` false) or values of every token in layer `layer`: head by head, one
    /// head-wide piece a token.
    fn heads(&self, layer: u32, values: bool) -> LeafPlacement {
        let layout = &self.layout;
        LeafPlacement {
            leaf_values: layout.piece_values() as u32,
            block: u64::from(layer) * layout.layer_leaves_per_token()
                + layout.token_row_leaves()
                + u64::from(values),
            offset: 0,
            token_stride: 1,
            piece_stride_tokens: 2,
            piece_stride: 0,
        }
    }

    /// After the last layer: the pooled mean (`offset` 0, one row a sequence), then the last layer's
    /// output in column groups (`offset` 1).
    fn after_layers(&self, layers: u32, groups: bool) -> LeafPlacement {
        let layout = &self.layout;
        LeafPlacement {
            leaf_values: if groups {
                layout.piece_values()
            } else {
                layout.row_leaf_values()
            } as u32,
            block: u64::from(layers) * layout.layer_leaves_per_token(),
            offset: u64::from(groups),
            token_stride: u32::from(groups),
            piece_stride_tokens: u32::from(groups),
            piece_stride: 0,
        }
    }
}

/// One chunk of sequences through every layer, their traces' trees and their embeddings.
fn run_chunk<O: EmbeddingOps>(
    ops: &O,
    weights: &ModelWeights<O>,
    model: &Model,
    sequences: &[&[u32]],
    job: &[u8; 32],
) -> Result<Vec<u8>, EngineError> {
    let shape = &model.shape;
    let (hidden, ffn) = (shape.hidden as usize, shape.ffn as usize);
    let places = TracePlaces {
        layout: TraceLayout::new(*shape, 0),
    };

    let (mut first, mut count, mut leaf_base) = (Vec::new(), Vec::new(), Vec::new());
    let (mut sequence_first, mut tree_first, mut sums) = (vec![0u32], vec![0u64], Vec::new());
    for ids in sequences {
        let start = first.len() as u32;
        let leaves = *tree_first.last().unwrap_or(&0);
        for _ in 0..ids.len() {
            first.push(start);
            count.push(ids.len() as u32);
            leaf_base.push(leaves);
        }
        sums.extend(token_sums(model, ids));
        sequence_first.push(first.len() as u32);
        tree_first.push(leaves + TraceLayout::new(*shape, ids.len()).leaves());
    }
    let rows = first.len();
    let tokens = TokenTable {
        first: ops.upload(&first)?,
        count: ops.upload(&count)?,
        leaf_base: ops.upload(&leaf_base)?,
        tokens: rows,
    };
    let means_table = TokenTable {
        first: ops.upload(&(0..sequences.len() as u32).collect::<Vec<u32>>())?,
        count: ops.upload(
            &sequences
                .iter()
                .map(|ids| ids.len() as u32)
                .collect::<Vec<u32>>(),
        )?,
        leaf_base: ops.upload(&tree_first[..sequences.len()])?,
        tokens: sequences.len(),
    };
    let leaves_total = *tree_first.last().unwrap_or(&0) as usize;
    let mut digests = ops.zeros::<u32>(8 * leaves_total)?;

    let mut input = ops.zeros::<i32>(rows * hidden)?;
    ops.layer_norm(
        &ops.upload(&sums)?,
        rows,
        &weights.embedding_norm,
        &mut input,
    )?;
    for (layer, w) in weights.layers.iter().enumerate() {
        let layer = layer as u32;
        let mut record = |buffer: &O::Buffer<i32>, width: usize, place: LeafPlacement| {
            ops.trace_leaves(buffer, width, &tokens, place, &mut digests)
        };
        record(&input, hidden, places.row(layer, TracedRow::Input))?;
        let query = linear(ops, &w.query, &input, rows, None)?;
        record(&query, hidden, places.row(layer, TracedRow::Query))?;
        let key = linear(ops, &w.key, &input, rows, None)?;
        record(&key, hidden, places.heads(layer, false))?;
        let value = linear(ops, &w.value, &input, rows, None)?;
        record(&value, hidden, places.heads(layer, true))?;
        let mut context = ops.zeros::<i32>(rows * hidden)?;
        let attention = AttentionShape {
            tokens: rows,
            hidden: shape.hidden,
            heads: shape.heads,
            score_multiplier: i64::from(shape.score_multiplier),
        };
        ops.attention([&query, &key, &value], &tokens, attention, &mut context)?;
        record(&context, hidden, places.row(layer, TracedRow::Context))?;
        let attention_sum = linear(ops, &w.attention_output, &context, rows, Some(&input))?;
        record(
            &attention_sum,
            hidden,
            places.row(layer, TracedRow::AttentionSum),
        )?;
        let mut attended = ops.zeros::<i32>(rows * hidden)?;
        ops.layer_norm(&attention_sum, rows, &w.attention_norm, &mut attended)?;
        record(&attended, hidden, places.row(layer, TracedRow::Attended))?;
        let intermediate = linear(ops, &w.intermediate, &attended, rows, None)?;
        record(
            &intermediate,
            ffn,
            places.row(layer, TracedRow::Intermediate),
        )?;
        let mut activated = ops.zeros::<i32>(rows * ffn)?;
        ops.gelu(&intermediate, rows * ffn, &mut activated)?;
        let output_sum = linear(ops, &w.output, &activated, rows, Some(&attended))?;
        record(&output_sum, hidden, places.row(layer, TracedRow::OutputSum))?;
        ops.layer_norm(&output_sum, rows, &w.output_norm, &mut input)?;
    }
    let mut means = ops.zeros::<i32>(sequences.len() * hidden)?;
    let sequence_first_d = ops.upload(&sequence_first)?;
    ops.pool_mean(
        &input,
        &sequence_first_d,
        sequences.len() as u32,
        shape.hidden,
        &mut means,
    )?;
    let mean_place = places.after_layers(shape.layers, false);
    ops.trace_leaves(&means, hidden, &means_table, mean_place, &mut digests)?;
    let groups_place = places.after_layers(shape.layers, true);
    ops.trace_leaves(&input, hidden, &tokens, groups_place, &mut digests)?;
    let mut embeddings = ops.zeros::<i16>(sequences.len() * hidden)?;
    ops.normalize(
        &means,
        sequences.len() as u32,
        shape.hidden,
        &mut embeddings,
    )?;

    let roots = tree_roots(ops, digests, tree_first)?;
    let embeddings = ops.download(&embeddings)?;
    Ok(embeddings
        .chunks_exact(hidden)
        .zip(roots.chunks_exact(8))
        .flat_map(|(embedding, root)| {
            output_record(embedding, &bound_trace_root(&digest_bytes(root), job))
        })
        .collect())
}

/// The roots (eight words each) of trees held back to back in `nodes`, tree s's leaves starting at
/// `first[s]` (then the end): one level of every tree at a time, a tree of one node carried up.
fn tree_roots<O: EmbeddingOps>(
    ops: &O,
    mut nodes: O::Buffer<u32>,
    mut first: Vec<u64>,
) -> Result<Vec<u32>, EngineError> {
    let trees = first.len() - 1;
    while first.windows(2).any(|pair| pair[1] - pair[0] > 1) {
        let mut above = vec![0u64];
        for pair in first.windows(2) {
            let parents = (pair[1] - pair[0]).div_ceil(2);
            above.push(above.last().unwrap_or(&0) + parents);
        }
        let mut parents = ops.zeros::<u32>(8 * *above.last().unwrap_or(&0) as usize)?;
        ops.tree_level(
            &nodes,
            &ops.upload(&first)?,
            &ops.upload(&above)?,
            trees as u32,
            &mut parents,
        )?;
        nodes = parents;
        first = above;
    }
    ops.download(&nodes)
}

/// `linear` over `count` rows: quantized and split, both halves through the GEMM, then the layer's
/// outputs (plus `residual`).
fn linear<O: EmbeddingOps>(
    ops: &O,
    linear: &LinearWeights<O>,
    rows: &O::Buffer<i32>,
    count: usize,
    residual: Option<&O::Buffer<i32>>,
) -> Result<O::Buffer<i32>, EngineError> {
    let words = count * linear.inputs.div_ceil(4);
    let mut split = SplitLevels {
        high: ops.zeros(words)?,
        low: ops.zeros(words)?,
        scales: ops.zeros(count)?,
    };
    ops.quantize(rows, count, linear.inputs, &mut split)?;
    let shape = GemmShape {
        rows: count,
        outputs: linear.outputs,
        inputs: linear.inputs,
    };
    let mut high = ops.zeros(count * linear.outputs)?;
    ops.gemm(&split.high, &linear.words, shape, &mut high)?;
    let mut low = ops.zeros(count * linear.outputs)?;
    ops.gemm(&split.low, &linear.words, shape, &mut low)?;
    let mut out = ops.zeros(count * linear.outputs)?;
    ops.linear(
        [&high, &low],
        &split.scales,
        linear,
        residual,
        count,
        &mut out,
    )?;
    Ok(out)
}
