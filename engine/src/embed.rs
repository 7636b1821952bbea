//! Embedding shards on the host: the linear layers' accumulators on weight panels (AVX-512 VNNI) or
//! the CPU backend's GEMM blocks, GELU by a table of erf, the rest of the forward pass by
//! gpushare-core's definitions, one sequence per rayon task; each sequence's output is its embedding
//! and its trace root.
use std::sync::{Arc, LazyLock};

use gpushare_core::embedding::fixed::{ERF_SATURATION, erf, gelu_with};
use gpushare_core::embedding::forward::{
    ForwardSteps, SequenceError, SequenceRun, run_sequence_with,
};
use gpushare_core::embedding::layout::{TokenBatch, sequence_output, shard_sequences};
use gpushare_core::embedding::model::{Linear, LinearKind, Model, Shape, seeded_model};
use gpushare_core::embedding::trace::TraceLayout;
use gpushare_core::kernels::Kernel;
use gpushare_core::rng::SplitMix64;
use rayon::prelude::*;

use crate::blocks::{COLUMN_BLOCK, gemm_block};
use crate::error::EngineError;
use crate::panels::WeightPanels;
use crate::rows;
use crate::shard::Input;

/// The forward pass's steps on the host: the linear layers' accumulators on [`WeightPanels`]
/// (AVX-512 VNNI) or the CPU backend's GEMM blocks, the attention on AVX-512
/// ([`crate::attention`]), and GELU with erf looked up in a table of every argument it can take,
/// built once from core's erf.
pub struct HostSteps {
    /// Per layer, its linear layers' panels in [`LinearKind::ALL`]'s order; empty without VNNI.
    panels: Vec<Vec<WeightPanels>>,
}

/// erf(v) for every v in [0, ERF_SATURATION] (64 KB: each below 2³⁰).
static ERF_TABLE: LazyLock<Vec<i32>> =
    LazyLock::new(|| (0..=ERF_SATURATION).map(|v| erf(v) as i32).collect());

impl HostSteps {
    /// The steps for `model`, its weights repacked into panels where the processor runs them.
    pub fn new(model: &Model) -> Self {
        let panels = if WeightPanels::supported() {
            model
                .layers
                .iter()
                .map(|layer| {
                    LinearKind::ALL
                        .iter()
                        .map(|kind| WeightPanels::new(layer.linear(*kind)))
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        Self { panels }
    }

    /// Core's forward pass over `ids` with these steps, in its AVX-512 build where the processor
    /// has AVX-512 (F, DQ, BW, VL): the same integer loops, vectorized with 64-bit lanes.
    pub fn run_sequence(&self, model: &Model, ids: &[u32]) -> Result<SequenceRun, SequenceError> {
        #[cfg(target_arch = "x86_64")]
        if rows::supported() {
            // SAFETY: `rows::supported` checked AVX-512 F, DQ, BW and VL.
            return unsafe { run_sequence_avx512(self, model, ids) };
        }
        run_sequence_with(self, model, ids)
    }
}

/// [`run_sequence_with`] compiled for AVX-512: core's `#[inline]` arithmetic is inlined here and
/// vectorized with the wider instructions; the same bits, as integer arithmetic has no other.
///
/// # Safety
/// The processor must support AVX-512 F, DQ, BW and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512dq,avx512bw,avx512vl")]
unsafe fn run_sequence_avx512(
    steps: &HostSteps,
    model: &Model,
    ids: &[u32],
) -> Result<SequenceRun, SequenceError> {
    run_sequence_with(steps, model, ids)
}

impl ForwardSteps for HostSteps {
    fn accumulate(
        &self,
        model: &Model,
        layer: usize,
        kind: LinearKind,
        levels: &[i16],
    ) -> Vec<i32> {
        let panels = LinearKind::ALL
            .iter()
            .position(|k| *k == kind)
            .and_then(|index| self.panels.get(layer)?.get(index));
        if let Some(sums) = panels.and_then(|panels| panels.accumulate(levels)) {
            return sums;
        }
        let linear = model.layers[layer].linear(kind);
        let (k, n) = (linear.inputs, linear.outputs());
        let mut out = vec![0i32; levels.len() / k * n];
        for first in (0..n).step_by(COLUMN_BLOCK) {
            let columns = first..(first + COLUMN_BLOCK).min(n);
            gemm_block(levels, &linear.weights, k, n, columns, &mut out);
        }
        out
    }

    fn attention(&self, model: &Model, query: &[i32], key: &[i32], value: &[i32]) -> Vec<i32> {
        crate::attention::attention(model, query, key, value)
    }

    fn quantize_row(&self, row: &[i32], levels: &mut [i16]) -> i64 {
        rows::quantize_row(row, levels)
    }

    fn requantize_row(&self, accumulators: &mut [i32], m: i64, linear: &Linear) {
        rows::requantize_row(accumulators, m, linear)
    }

    fn gelu(&self, values: &[i32]) -> Vec<i32> {
        let table = &*ERF_TABLE;
        values
            .iter()
            .map(|x| {
                gelu_with(*x, |v| {
                    i64::from(table[v.clamp(0, ERF_SATURATION) as usize])
                })
            })
            .collect()
    }
}

/// The output bytes of shard `shard` of `shards` of embedding job `job` over `batch`: each of its
/// sequences' embedding and trace root, in order.
pub fn embedding_shard_output(
    model: &Model,
    batch: &TokenBatch,
    job: &[u8; 32],
    shards: u32,
    shard: u32,
) -> Result<Vec<u8>, EngineError> {
    let range = shard_sequences(batch.len() as u32, shards, shard);
    let steps = HostSteps::new(model);
    let outputs = range
        .into_par_iter()
        .map(|i| {
            let run = steps.run_sequence(model, batch.sequence(i))?;
            Ok(sequence_output(model, &run, job))
        })
        .collect::<Result<Vec<Vec<u8>>, EngineError>>()?;
    Ok(outputs.concat())
}

/// Sequences the host computes at once: one a thread of rayon's pool.
pub fn host_threads() -> u64 {
    rayon::current_num_threads() as u64
}

/// Host memory an embedding shard may use at once, in bytes: the weight panels (a second copy of the
/// linear layers' weights, i16) and, for each of `threads` sequences in flight, the trace of a
/// sequence of `longest` tokens (every layer's rows, i32), one layer's buffers besides it, and its
/// trace's leaf hashes. An upper bound for budgeting, not an allocation count.
pub fn host_working_memory(shape: &Shape, longest: u64, threads: u64) -> u64 {
    let (hidden, ffn, layers) = (
        u64::from(shape.hidden),
        u64::from(shape.ffn),
        u64::from(shape.layers),
    );
    let panels = 2 * layers * (4 * hidden * hidden + 2 * hidden * ffn);
    // A layer's rows a token: eight hidden-wide and one FFN-wide (forward::LayerTrace).
    let trace = 4 * layers * (8 * hidden + ffn);
    // Levels, accumulators and the activated FFN row of the layer being computed.
    let buffers = 2 * ffn + 2 * 4 * ffn;
    let leaves = 32 * TraceLayout::new(*shape, 1).leaves();
    let sequence = longest.saturating_mul(trace + buffers + leaves);
    panels.saturating_add(threads.saturating_mul(sequence))
}

/// An embedding shard any backend can be checked on without the real weights: a seeded model of
/// MiniLM's widths (`layers` layers, a 512-token vocabulary, 64 positions) and a batch of
/// `sequences` sequences of 1 to 64 tokens drawn from `seed`.
pub fn seeded_embedding_case(layers: u32, sequences: u32, seed: u64) -> (Kernel, Input) {
    let shape = Shape {
        vocab: 512,
        max_tokens: 64,
        layers,
        ..Shape::MINILM_L6
    };
    let model = seeded_model(shape, seed);
    let mut draw = SplitMix64::new(seed ^ 0x5eed);
    let sequences_ids: Vec<Vec<u32>> = (0..sequences)
        .map(|_| {
            let length = 1 + draw.next_u64() % u64::from(shape.max_tokens);
            (0..length)
                .map(|_| (draw.next_u64() % u64::from(shape.vocab)) as u32)
                .collect()
        })
        .collect();
    let batch = TokenBatch::new(&sequences_ids);
    let kernel = Kernel::Embedding {
        model: model.identity(),
        batch: batch.tree().root(),
        dims: shape.hidden,
        sequences,
        tokens: batch.tokens() as u32,
    };
    let input = Input::Embedding {
        data: batch.to_bytes(),
        model: Arc::new(model),
        job: [0x5e; 32],
    };
    (kernel, input)
}
