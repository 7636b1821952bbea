//! The device pipeline's host twin: [`EmbeddingOps`] on the kernel bodies of `cuda/embedding.cuh`
//! compiled as host C (`cuda/host_embedding.c`), each looped over every thread index as the CUDA
//! grid runs it. The tests check each body against gpushare-core's arithmetic and the whole
//! pipeline against core's forward pass, bit for bit.
use gpushare_core::embedding::fixed;
use gpushare_core::embedding::layout::TokenBatch;
use gpushare_core::kernels::Kernel;
use gpushare_core::rng::SplitMix64;
use proptest::prelude::*;

use super::*;
use crate::embed::seeded_embedding_case;
use crate::reference::reference_shard;
use crate::shard::Input;

unsafe extern "C" {
    fn gs_host_embedding_quantize(
        rows: *const i32,
        count: u64,
        width: u32,
        ld_words: u32,
        hi: *mut u32,
        lo: *mut u32,
        scales: *mut i64,
    );
    fn gs_host_embedding_gemm(
        a: *const u32,
        bt: *const u32,
        rows: u64,
        n: u32,
        words: u32,
        c: *mut i32,
    );
    #[allow(clippy::too_many_arguments)]
    fn gs_host_embedding_linear(
        acc_hi: *const i32,
        acc_lo: *const i32,
        scales: *const i64,
        multipliers: *const i64,
        biases: *const i64,
        residual: *const i32,
        rows: u64,
        outputs: u32,
        out: *mut i32,
    );
    fn gs_host_embedding_gelu(x: *const i32, len: u64, out: *mut i32);
    fn gs_host_embedding_layer_norm(
        rows: *const i32,
        count: u64,
        width: u32,
        gain: *const i32,
        bias: *const i32,
        out: *mut i32,
    );
    #[allow(clippy::too_many_arguments)]
    fn gs_host_embedding_attention(
        query: *const i32,
        key: *const i32,
        value: *const i32,
        first: *const u32,
        count: *const u32,
        tokens: u64,
        hidden: u32,
        heads: u32,
        multiplier: i64,
        context: *mut i32,
    );
    #[allow(clippy::too_many_arguments)]
    fn gs_host_embedding_trace_leaves(
        rows: *const i32,
        count: u64,
        width: u32,
        leaf_values: u32,
        first: *const u32,
        tokens: *const u32,
        base: *const u64,
        block: u64,
        offset: u64,
        token_stride: u32,
        piece_stride_tokens: u32,
        piece_stride: u32,
        digests: *mut u32,
    );
    fn gs_host_embedding_tree_level(
        nodes: *const u32,
        below: *const u64,
        above: *const u64,
        trees: u32,
        parents: *mut u32,
    );
    fn gs_host_embedding_pool_mean(
        rows: *const i32,
        first: *const u32,
        sequences: u32,
        hidden: u32,
        means: *mut i32,
    );
    fn gs_host_embedding_normalize(means: *const i32, sequences: u32, hidden: u32, out: *mut i16);
    fn gs_host_exp_neg(d: i64) -> i64;
    fn gs_host_erf(v: i64) -> i64;
    fn gs_host_gelu(x: i32) -> i32;
    fn gs_host_isqrt(n: u64) -> u64;
    fn gs_host_div_round(a: i64, b: i64) -> i64;
    fn gs_host_max_head_dim() -> u32;
}

/// The ops on host vectors, by the C bodies. Every call checks the sizes the C code will touch.
struct HostOps;

fn fits<T>(buffer: &[T], len: usize) {
    assert!(buffer.len() >= len, "buffer of {} < {len}", buffer.len());
}

impl EmbeddingOps for HostOps {
    type Buffer<T: Element> = Vec<T>;

    fn upload<T: Element>(&self, values: &[T]) -> Result<Vec<T>, EngineError> {
        Ok(values.to_vec())
    }

    fn zeros<T: Element>(&self, len: usize) -> Result<Vec<T>, EngineError> {
        Ok(vec![T::default(); len])
    }

    fn download<T: Element>(&self, buffer: &Vec<T>) -> Result<Vec<T>, EngineError> {
        Ok(buffer.clone())
    }

    fn quantize(
        &self,
        rows: &Vec<i32>,
        count: usize,
        width: usize,
        split: &mut SplitLevels<Self>,
    ) -> Result<(), EngineError> {
        let ld = width.div_ceil(4);
        fits(rows, count * width);
        fits(&split.high, count * ld);
        fits(&split.low, count * ld);
        fits(&split.scales, count);
        // SAFETY: sizes checked above.
        unsafe {
            gs_host_embedding_quantize(
                rows.as_ptr(),
                count as u64,
                width as u32,
                ld as u32,
                split.high.as_mut_ptr(),
                split.low.as_mut_ptr(),
                split.scales.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn gemm(
        &self,
        a: &Vec<u32>,
        weights: &Vec<u32>,
        shape: GemmShape,
        out: &mut Vec<i32>,
    ) -> Result<(), EngineError> {
        let words = shape.inputs.div_ceil(4);
        fits(a, shape.rows * words);
        fits(weights, shape.outputs * words);
        fits(out, shape.rows * shape.outputs);
        // SAFETY: sizes checked above.
        unsafe {
            gs_host_embedding_gemm(
                a.as_ptr(),
                weights.as_ptr(),
                shape.rows as u64,
                shape.outputs as u32,
                words as u32,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn linear(
        &self,
        [high, low]: [&Vec<i32>; 2],
        scales: &Vec<i64>,
        linear: &LinearWeights<Self>,
        residual: Option<&Vec<i32>>,
        rows: usize,
        out: &mut Vec<i32>,
    ) -> Result<(), EngineError> {
        let len = rows * linear.outputs;
        for buffer in [high, low].into_iter().chain(residual) {
            fits(buffer, len);
        }
        fits(out, len);
        fits(scales, rows);
        fits(&linear.multipliers, linear.outputs);
        fits(&linear.biases, linear.outputs);
        // SAFETY: sizes checked above; a null residual is never read.
        unsafe {
            gs_host_embedding_linear(
                high.as_ptr(),
                low.as_ptr(),
                scales.as_ptr(),
                linear.multipliers.as_ptr(),
                linear.biases.as_ptr(),
                residual.map_or(std::ptr::null(), |r| r.as_ptr()),
                rows as u64,
                linear.outputs as u32,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn gelu(&self, x: &Vec<i32>, len: usize, out: &mut Vec<i32>) -> Result<(), EngineError> {
        fits(x, len);
        fits(out, len);
        // SAFETY: sizes checked above.
        unsafe { gs_host_embedding_gelu(x.as_ptr(), len as u64, out.as_mut_ptr()) };
        Ok(())
    }

    fn layer_norm(
        &self,
        rows: &Vec<i32>,
        count: usize,
        norm: &NormWeights<Self>,
        out: &mut Vec<i32>,
    ) -> Result<(), EngineError> {
        fits(rows, count * norm.width);
        fits(out, count * norm.width);
        fits(&norm.gain, norm.width);
        fits(&norm.bias, norm.width);
        // SAFETY: sizes checked above.
        unsafe {
            gs_host_embedding_layer_norm(
                rows.as_ptr(),
                count as u64,
                norm.width as u32,
                norm.gain.as_ptr(),
                norm.bias.as_ptr(),
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn attention(
        &self,
        [query, key, value]: [&Vec<i32>; 3],
        tokens: &TokenTable<Self>,
        shape: AttentionShape,
        out: &mut Vec<i32>,
    ) -> Result<(), EngineError> {
        let len = shape.tokens * shape.hidden as usize;
        for buffer in [query, key, value] {
            fits(buffer, len);
        }
        fits(out, len);
        fits(&tokens.first, shape.tokens);
        fits(&tokens.count, shape.tokens);
        // SAFETY: sizes checked above; every token's sequence lies within the chunk.
        unsafe {
            gs_host_embedding_attention(
                query.as_ptr(),
                key.as_ptr(),
                value.as_ptr(),
                tokens.first.as_ptr(),
                tokens.count.as_ptr(),
                shape.tokens as u64,
                shape.hidden,
                shape.heads,
                shape.score_multiplier,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn trace_leaves(
        &self,
        rows: &Vec<i32>,
        width: usize,
        tokens: &TokenTable<Self>,
        place: LeafPlacement,
        digests: &mut Vec<u32>,
    ) -> Result<(), EngineError> {
        fits(rows, tokens.tokens * width);
        fits(&tokens.leaf_base, tokens.tokens);
        // SAFETY: sizes checked above; the placement keeps every leaf within its sequence's trace,
        // which `digests` holds (the pipeline sizes it from the same counts).
        unsafe {
            gs_host_embedding_trace_leaves(
                rows.as_ptr(),
                tokens.tokens as u64,
                width as u32,
                place.leaf_values,
                tokens.first.as_ptr(),
                tokens.count.as_ptr(),
                tokens.leaf_base.as_ptr(),
                place.block,
                place.offset,
                place.token_stride,
                place.piece_stride_tokens,
                place.piece_stride,
                digests.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn tree_level(
        &self,
        nodes: &Vec<u32>,
        below: &Vec<u64>,
        above: &Vec<u64>,
        trees: u32,
        parents: &mut Vec<u32>,
    ) -> Result<(), EngineError> {
        fits(below, trees as usize + 1);
        fits(above, trees as usize + 1);
        fits(nodes, 8 * below[trees as usize] as usize);
        fits(parents, 8 * above[trees as usize] as usize);
        // SAFETY: sizes checked above.
        unsafe {
            gs_host_embedding_tree_level(
                nodes.as_ptr(),
                below.as_ptr(),
                above.as_ptr(),
                trees,
                parents.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn pool_mean(
        &self,
        rows: &Vec<i32>,
        first: &Vec<u32>,
        sequences: u32,
        hidden: u32,
        means: &mut Vec<i32>,
    ) -> Result<(), EngineError> {
        fits(first, sequences as usize + 1);
        fits(rows, first[sequences as usize] as usize * hidden as usize);
        fits(means, sequences as usize * hidden as usize);
        // SAFETY: sizes checked above.
        unsafe {
            gs_host_embedding_pool_mean(
                rows.as_ptr(),
                first.as_ptr(),
                sequences,
                hidden,
                means.as_mut_ptr(),
            )
        };
        Ok(())
    }

    fn normalize(
        &self,
        means: &Vec<i32>,
        sequences: u32,
        hidden: u32,
        out: &mut Vec<i16>,
    ) -> Result<(), EngineError> {
        fits(means, sequences as usize * hidden as usize);
        fits(out, sequences as usize * hidden as usize);
        // SAFETY: sizes checked above.
        unsafe { gs_host_embedding_normalize(means.as_ptr(), sequences, hidden, out.as_mut_ptr()) };
        Ok(())
    }
}

/// The seeded embedding case's model, sequences and job.
fn seeded_case(layers: u32, sequences: u32, seed: u64) -> (Kernel, Input, Vec<Vec<u32>>) {
    let (kernel, input) = seeded_embedding_case(layers, sequences, seed);
    let Input::Embedding { data, .. } = &input else {
        unreachable!("the seeded case is an embedding input")
    };
    let Kernel::Embedding { tokens, .. } = kernel else {
        unreachable!("the seeded case is an embedding kernel")
    };
    let batch = TokenBatch::from_bytes(data, sequences, tokens).unwrap();
    let ids = batch.sequences().map(<[u32]>::to_vec).collect();
    (kernel, input, ids)
}

#[test]
fn the_host_twin_of_the_device_pipeline_is_core_s_forward_pass() {
    let (kernel, input, sequences) = seeded_case(2, 7, 3);
    let Input::Embedding { model, job, .. } = &input else {
        unreachable!()
    };
    let expected = reference_shard(kernel, &input, 1, 0).unwrap().bytes;
    let weights = ModelWeights::upload(&HostOps, model).unwrap();
    let ids: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    // One chunk, chunks of a few sequences, and a chunk per sequence.
    for chunk_tokens in [10_000, 50, 1] {
        let output = embedding_outputs(&HostOps, &weights, model, &ids, job, chunk_tokens).unwrap();
        assert_eq!(output, expected, "chunks of {chunk_tokens} tokens");
    }
}

#[test]
fn the_pipeline_refuses_a_sequence_the_model_cannot_run() {
    let (_, input, _) = seeded_case(1, 1, 5);
    let Input::Embedding { model, .. } = &input else {
        unreachable!()
    };
    let weights = ModelWeights::upload(&HostOps, model).unwrap();
    let too_long = vec![1u32; 65];
    let refused = embedding_outputs(
        &HostOps,
        &weights,
        model,
        &[&[3, 4], &too_long],
        &[0; 32],
        100,
    );
    assert!(
        matches!(refused, Err(EngineError::Sequence(_))),
        "{refused:?}"
    );
}

#[test]
fn the_widest_head_the_kernels_hold_is_the_one_the_backend_assumes() {
    // SAFETY: returns a constant.
    let kernels = unsafe { gs_host_max_head_dim() };
    assert_eq!(kernels as usize, crate::cuda::EMBEDDING_MAX_HEAD_DIM);
}

#[test]
fn weight_rows_pack_four_int8_values_a_word_little_endian_zero_padded() {
    assert_eq!(
        pack_rows(&[1, -1, 127, -128, 5, 2, 3, 4, 5, 6], 5),
        vec![0x80_7f_ff_01, 0x05, 0x05_04_03_02, 0x06]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_element_functions_are_core_s(d in -(1i64 << 26)..=0, v in -(1i64 << 24)..(1i64 << 24), x in any::<i32>(), n in any::<u64>(), a in any::<i32>(), b in 1i64..(1 << 40)) {
        let x = x.clamp(-(fixed::ACT_LIMIT as i32), fixed::ACT_LIMIT as i32);
        // SAFETY: pure functions of their arguments.
        unsafe {
            prop_assert_eq!(gs_host_exp_neg(d), fixed::exp_neg(d));
            prop_assert_eq!(gs_host_erf(v), fixed::erf(v));
            prop_assert_eq!(gs_host_gelu(x), fixed::gelu(x));
            prop_assert_eq!(gs_host_isqrt(n), n.isqrt());
            prop_assert_eq!(gs_host_div_round(i64::from(a) << 20, b), fixed::div_round(i64::from(a) << 20, b));
        }
    }

    /// The split levels put back together (64·high + low) are core's levels, with its scale.
    #[test]
    fn split_levels_are_core_s_levels(row in prop::collection::vec(-(1i32 << 24) + 1..(1 << 24), 1..70), zero in any::<bool>()) {
        let row = if zero { vec![0; row.len()] } else { row };
        let mut split = SplitLevels::<HostOps> { high: vec![0; row.len().div_ceil(4)], low: vec![0; row.len().div_ceil(4)], scales: vec![0] };
        HostOps.quantize(&row, 1, row.len(), &mut split).unwrap();
        let mut levels = vec![0i16; row.len()];
        let m = fixed::quantize_row(&row, &mut levels);
        prop_assert_eq!(split.scales[0], m);
        let byte = |words: &[u32], i: usize| (words[i / 4] >> (8 * (i % 4))) as u8;
        for (i, level) in levels.iter().enumerate() {
            let joined = 64 * i16::from(byte(&split.high, i) as i8) + i16::from(byte(&split.low, i));
            prop_assert_eq!(joined, *level);
        }
        for i in row.len()..4 * row.len().div_ceil(4) {
            prop_assert_eq!((byte(&split.high, i), byte(&split.low, i)), (0, 0));
        }
    }

    #[test]
    fn layer_norm_rows_are_core_s(row in prop::collection::vec(-(1i32 << 24) + 1..(1 << 24), 2..50), seed in any::<u64>()) {
        let mut draw = SplitMix64::new(seed);
        let width = row.len();
        let gain: Vec<i32> = (0..width).map(|_| (draw.next_u64() % (1 << 18)) as i32 - (1 << 17)).collect();
        let bias: Vec<i32> = (0..width).map(|_| (draw.next_u64() % (1 << 16)) as i32 - (1 << 15)).collect();
        let norm = NormWeights::<HostOps> { gain: gain.clone(), bias: bias.clone(), width };
        let mut out = vec![0; width];
        HostOps.layer_norm(&row, 1, &norm, &mut out).unwrap();
        let mut expected = vec![0; width];
        fixed::layer_norm(&row, &gain, &bias, &mut expected);
        prop_assert_eq!(out, expected);
    }
}
