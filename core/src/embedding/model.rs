//! The quantized model: its shape, its weights, and the weights file whose Merkle root is the model's
//! identity (the 32 bytes a job names).
//!
//! The file is a list of leaves, concatenated; their sizes follow from the header (leaf 0):
//!
//! | leaves | each |
//! |---|---|
//! | 1 | header: `"gpushare:model:1"`, then u32 LE hidden, heads, ffn, layers, vocab, max_tokens, score_multiplier |
//! | vocab | a token's embedding row: hidden × i16 LE (activations) |
//! | max_tokens | a position's embedding row plus token type 0's: hidden × i16 LE |
//! | 1 | embedding LayerNorm: hidden × i32 LE gains (16 fraction bits), then hidden × i32 LE biases |
//! | per layer: hidden × 4 | query, key, value and attention output rows ([`Linear`]'s row leaf, in = hidden) |
//! | per layer: 1 | attention LayerNorm |
//! | per layer: ffn, hidden | intermediate rows (in = hidden), then output rows (in = ffn) |
//! | per layer: 1 | output LayerNorm |
//!
//! A linear layer's row leaf is the row's in × i8 weights, its multiplier (u32 LE, below 2³¹) and its
//! bias (i32 LE, an activation). The identity is the RFC 6962 Merkle Tree Hash over these leaves, so
//! a single row can be proven against it with an audit path.
use alloc::vec;
use alloc::vec::Vec;

use crate::merkle::{Hash, MerkleTree};

/// The header's first bytes; its last digit is the definition's version.
pub const MAGIC: &[u8; 16] = b"gpushare:model:1";
/// Bytes of the header leaf.
pub const HEADER_BYTES: usize = MAGIC.len() + 7 * 4;
/// Largest hidden size the integer definition's bounds allow (a LayerNorm's Σd² stays below 2⁶¹).
pub const MAX_HIDDEN: u32 = 2048;
/// Largest FFN width the bounds allow (a dot product of 8,192 terms of at most 2047·127 fits an i32).
pub const MAX_FFN: u32 = 8192;
/// Widest attention head the definition's bounds allow.
pub const MAX_HEAD_DIM: u32 = 256;
/// Most tokens in one sequence the definition's bounds allow.
pub const MAX_TOKENS: u32 = 512;

/// The architecture of a BERT encoder with mean pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub hidden: u32,
    pub heads: u32,
    pub ffn: u32,
    pub layers: u32,
    pub vocab: u32,
    /// Longest sequence, in tokens (positions stored).
    pub max_tokens: u32,
    /// 1/√(hidden/heads) with 16 fraction bits: the attention logits' scale.
    pub score_multiplier: u32,
}

/// Why a weights file is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("not a gpushare model file of this version")]
    Magic,
    #[error("the model's shape is outside the integer definition's bounds")]
    Shape,
    #[error("the file has {actual} bytes, its header asks for {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("a multiplier is not below 2^31")]
    Multiplier,
}

impl Shape {
    /// all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, FFN 1,536, 256 tokens (its
    /// sentence-transformers limit), 1/√32 = 11,585 / 2¹⁶.
    pub const MINILM_L6: Shape = Shape {
        hidden: 384,
        heads: 12,
        ffn: 1536,
        layers: 6,
        vocab: 30522,
        max_tokens: 256,
        score_multiplier: 11_585,
    };

    /// Two layers of two 16-wide heads, FFN 64, a 40-token vocabulary: every operation of the
    /// forward pass at a size whose every check the tests can enumerate.
    pub const TWO_LAYERS: Shape = Shape {
        hidden: 32,
        heads: 2,
        ffn: 64,
        layers: 2,
        vocab: 40,
        max_tokens: 16,
        score_multiplier: 16_384,
    };

    /// Multiply-adds one token costs at most: every linear layer, and the attention over a full
    /// sequence (logits and weighted sums).
    pub fn multiply_adds_per_token(&self) -> u64 {
        let (h, f, t) = (
            u64::from(self.hidden),
            u64::from(self.ffn),
            u64::from(self.max_tokens),
        );
        u64::from(self.layers) * (4 * h * h + 2 * h * f + 2 * h * t)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        (self.hidden / self.heads) as usize
    }

    fn validate(&self) -> Result<(), ModelError> {
        let ok = (1..=MAX_HIDDEN).contains(&self.hidden)
            && (1..=MAX_FFN).contains(&self.ffn)
            && self.heads >= 1
            && self.hidden.is_multiple_of(self.heads)
            && self.hidden / self.heads <= MAX_HEAD_DIM
            && self.score_multiplier <= 1 << 17
            && (1..=64).contains(&self.layers)
            && self.vocab >= 1
            && (1..=MAX_TOKENS).contains(&self.max_tokens);
        if ok { Ok(()) } else { Err(ModelError::Shape) }
    }

    /// The weights file's first leaf: the magic, then the shape's seven u32 LE.
    pub fn header(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for v in [
            self.hidden,
            self.heads,
            self.ffn,
            self.layers,
            self.vocab,
            self.max_tokens,
            self.score_multiplier,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// The shape a weights file's first leaf declares, refused outside the integer definition's bounds.
    pub fn from_header(bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.len() < HEADER_BYTES || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelError::Magic);
        }
        let word = |i: usize| {
            let at = MAGIC.len() + 4 * i;
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let shape = Shape {
            hidden: word(0),
            heads: word(1),
            ffn: word(2),
            layers: word(3),
            vocab: word(4),
            max_tokens: word(5),
            score_multiplier: word(6),
        };
        shape.validate()?;
        Ok(shape)
    }

    /// Bytes of the weights file of this shape.
    pub fn file_bytes(&self) -> u64 {
        let (h, f) = (u64::from(self.hidden), u64::from(self.ffn));
        let embedding_row = 2 * h;
        let norm = 8 * h;
        let row = |inputs: u64| inputs + 8;
        let layer = 4 * h * row(h) + norm + f * row(h) + h * row(f) + norm;
        HEADER_BYTES as u64
            + (u64::from(self.vocab) + u64::from(self.max_tokens)) * embedding_row
            + norm
            + u64::from(self.layers) * layer
    }
}

/// A LayerNorm's gains (16 fraction bits) and biases (activations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Norm {
    pub gain: Vec<i32>,
    pub bias: Vec<i32>,
}

/// A linear layer, `outputs` rows of `inputs` weights (PyTorch's [out, in] layout), each with its
/// multiplier and bias (see [`super::fixed::linear_output`]). The file stores each weight as an i8;
/// memory holds it widened to i16, the width the multiply-add instructions take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linear {
    pub inputs: usize,
    pub weights: Vec<i16>,
    pub multipliers: Vec<i64>,
    pub biases: Vec<i64>,
}

impl Linear {
    /// Row `j`'s weights.
    pub fn row(&self, j: usize) -> &[i16] {
        &self.weights[j * self.inputs..(j + 1) * self.inputs]
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.multipliers.len()
    }
}

/// One encoder layer's weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attention_output: Linear,
    pub attention_norm: Norm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: Norm,
}

/// Which of a layer's linear layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearKind {
    Query,
    Key,
    Value,
    AttentionOutput,
    Intermediate,
    Output,
}

impl LinearKind {
    /// Every kind, in the order a layer runs them.
    pub const ALL: [LinearKind; 6] = [
        LinearKind::Query,
        LinearKind::Key,
        LinearKind::Value,
        LinearKind::AttentionOutput,
        LinearKind::Intermediate,
        LinearKind::Output,
    ];
}

impl Layer {
    /// The layer's linear layer of `kind`.
    pub fn linear(&self, kind: LinearKind) -> &Linear {
        match kind {
            LinearKind::Query => &self.query,
            LinearKind::Key => &self.key,
            LinearKind::Value => &self.value,
            LinearKind::AttentionOutput => &self.attention_output,
            LinearKind::Intermediate => &self.intermediate,
            LinearKind::Output => &self.output,
        }
    }
}

/// A quantized model, as the weights file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub shape: Shape,
    /// vocab × hidden token embeddings (activations).
    pub words: Vec<i16>,
    /// max_tokens × hidden position embeddings with token type 0's added (activations).
    pub positions: Vec<i16>,
    pub embedding_norm: Norm,
    pub layers: Vec<Layer>,
}

/// Reads the file's leaves in order.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }

    fn i16s(&mut self, n: usize) -> Vec<i16> {
        self.take(2 * n)
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    fn i32s(&mut self, n: usize) -> Vec<i32> {
        self.take(4 * n)
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn norm(&mut self, hidden: usize) -> Norm {
        Norm {
            gain: self.i32s(hidden),
            bias: self.i32s(hidden),
        }
    }

    fn linear(&mut self, outputs: usize, inputs: usize) -> Result<Linear, ModelError> {
        let mut linear = Linear {
            inputs,
            weights: Vec::with_capacity(outputs * inputs),
            multipliers: Vec::with_capacity(outputs),
            biases: Vec::with_capacity(outputs),
        };
        for _ in 0..outputs {
            linear
                .weights
                .extend(self.take(inputs).iter().map(|b| i16::from(*b as i8)));
            let [multiplier, bias] = self.i32s(2)[..] else {
                unreachable!("i32s(2) returns two values")
            };
            if multiplier < 0 {
                return Err(ModelError::Multiplier);
            }
            linear.multipliers.push(i64::from(multiplier));
            linear.biases.push(i64::from(bias));
        }
        Ok(linear)
    }
}

impl Model {
    /// Parses a weights file, checking its header and size.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let shape = Shape::from_header(bytes)?;
        if bytes.len() as u64 != shape.file_bytes() {
            return Err(ModelError::Size {
                expected: shape.file_bytes(),
                actual: bytes.len() as u64,
            });
        }
        let (h, f) = (shape.hidden as usize, shape.ffn as usize);
        let mut reader = Reader {
            bytes: &bytes[HEADER_BYTES..],
        };
        let words = reader.i16s(shape.vocab as usize * h);
        let positions = reader.i16s(shape.max_tokens as usize * h);
        let embedding_norm = reader.norm(h);
        let layers = (0..shape.layers)
            .map(|_| {
                Ok(Layer {
                    query: reader.linear(h, h)?,
                    key: reader.linear(h, h)?,
                    value: reader.linear(h, h)?,
                    attention_output: reader.linear(h, h)?,
                    attention_norm: reader.norm(h),
                    intermediate: reader.linear(f, h)?,
                    output: reader.linear(h, f)?,
                    output_norm: reader.norm(h),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Model {
            shape,
            words,
            positions,
            embedding_norm,
            layers,
        })
    }

    /// The weights file's leaves, in order (see the module's table).
    pub fn leaves(&self) -> Vec<Vec<u8>> {
        let h = self.shape.hidden as usize;
        let mut leaves = vec![self.shape.header()];
        let i16_rows = |values: &[i16], leaves: &mut Vec<Vec<u8>>| {
            for row in values.chunks_exact(h) {
                leaves.push(row.iter().flat_map(|v| v.to_le_bytes()).collect());
            }
        };
        i16_rows(&self.words, &mut leaves);
        i16_rows(&self.positions, &mut leaves);
        leaves.push(norm_leaf(&self.embedding_norm));
        for layer in &self.layers {
            for linear in [
                &layer.query,
                &layer.key,
                &layer.value,
                &layer.attention_output,
            ] {
                linear_leaves(linear, &mut leaves);
            }
            leaves.push(norm_leaf(&layer.attention_norm));
            linear_leaves(&layer.intermediate, &mut leaves);
            linear_leaves(&layer.output, &mut leaves);
            leaves.push(norm_leaf(&layer.output_norm));
        }
        leaves
    }

    /// The weights file: its leaves concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.leaves().concat()
    }

    /// The model's identity: the Merkle Tree Hash over the file's leaves.
    pub fn identity(&self) -> Hash {
        MerkleTree::from_leaves(&self.leaves()).root()
    }
}

fn norm_leaf(norm: &Norm) -> Vec<u8> {
    norm.gain
        .iter()
        .chain(&norm.bias)
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

fn linear_leaves(linear: &Linear, leaves: &mut Vec<Vec<u8>>) {
    for j in 0..linear.outputs() {
        // Weights are within ±127 (the quantizer's levels, or read from the file's i8).
        let mut leaf: Vec<u8> = linear.row(j).iter().map(|w| *w as i8 as u8).collect();
        // The quantizer keeps multipliers below 2³¹ and biases within ±ACT_LIMIT.
        leaf.extend_from_slice(&(linear.multipliers[j] as u32).to_le_bytes());
        leaf.extend_from_slice(&(linear.biases[j] as i32).to_le_bytes());
        leaves.push(leaf);
    }
}

/// A model of `shape` with weights from SplitMix64 seeded with `seed`: real arithmetic at any size
/// without the real weights, for selftests, benchmarks and tests. Weights are uniform in ±127 with
/// multipliers near 2⁴⁰/(127·2047·√inputs) (outputs of a size like the inputs'), biases and
/// embeddings within ±0.5, gains near 1.
pub fn seeded_model(shape: Shape, seed: u64) -> Model {
    let mut draw = Draw(crate::rng::SplitMix64::new(seed));
    let (h, f) = (shape.hidden as usize, shape.ffn as usize);
    let words = draw.table(shape.vocab as usize * h);
    let positions = draw.table(shape.max_tokens as usize * h);
    let embedding_norm = draw.norm(h);
    let layers = (0..shape.layers)
        .map(|_| Layer {
            query: draw.linear(h, h),
            key: draw.linear(h, h),
            value: draw.linear(h, h),
            attention_output: draw.linear(h, h),
            attention_norm: draw.norm(h),
            intermediate: draw.linear(f, h),
            output: draw.linear(h, f),
            output_norm: draw.norm(h),
        })
        .collect();
    Model {
        shape,
        words,
        positions,
        embedding_norm,
        layers,
    }
}

/// Draws [`seeded_model`]'s values.
struct Draw(crate::rng::SplitMix64);

impl Draw {
    /// Half an activation's one: ±0.5.
    const HALF: u64 = 1 << (super::fixed::FRAC_BITS - 1);

    /// Uniform in ±`span`.
    fn uniform(&mut self, span: u64) -> i64 {
        (self.0.next_u64() % (2 * span + 1)) as i64 - span as i64
    }

    fn table(&mut self, values: usize) -> Vec<i16> {
        (0..values)
            .map(|_| self.uniform(Self::HALF) as i16)
            .collect()
    }

    fn norm(&mut self, hidden: usize) -> Norm {
        Norm {
            gain: (0..hidden)
                .map(|_| (65_536 + self.uniform(8_192)) as i32)
                .collect(),
            bias: (0..hidden)
                .map(|_| self.uniform(Self::HALF) as i32)
                .collect(),
        }
    }

    fn linear(&mut self, outputs: usize, inputs: usize) -> Linear {
        let multiplier = (1i64 << 40) / (127 * 2047 * (inputs as u64).isqrt().max(1) as i64);
        Linear {
            inputs,
            weights: (0..outputs * inputs)
                .map(|_| self.uniform(127) as i16)
                .collect(),
            multipliers: (0..outputs)
                .map(|_| multiplier + self.uniform(multiplier as u64 / 4))
                .collect(),
            biases: (0..outputs).map(|_| self.uniform(Self::HALF)).collect(),
        }
    }
}
