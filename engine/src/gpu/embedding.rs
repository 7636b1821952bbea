//! Embedding shards on the device: the pipeline of `embedding_pipeline` on this backend's CUDA
//! kernels (`cuda/embedding.cu`) and its int8 GEMM, used only once the start-up probe has shown the
//! device reproducing core's outputs (until then on the host).
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, PushKernelArg};
use gpushare_core::embedding::model::Model;

use crate::backend::Backend;
use crate::cuda;
use crate::embed::seeded_embedding_case;
use crate::embedding_pipeline::{
    AttentionShape, Element, EmbeddingOps, GemmShape, LeafPlacement, LinearWeights, ModelWeights,
    NormWeights, SplitLevels, TokenTable, embedding_outputs,
};
use crate::error::{EngineError, GpuError};
use crate::reference::reference_shard;

use super::nvrtc::{arg_u32, grid};
use super::{GpuBackend, OperandLayout, guarded};

/// Tokens the device runs at once: for MiniLM about 50 KB of live activations, accumulators and
/// trace digests each, so a chunk needs some 200 MB of device memory.
const CHUNK_TOKENS: usize = 4096;

impl GpuBackend {
    /// Runs `f` on the backend's stream, bound to this thread, cudarc's panics turned into errors.
    fn on_stream<T>(
        &self,
        f: impl FnOnce(&Arc<CudaStream>) -> Result<T, GpuError>,
    ) -> Result<T, EngineError> {
        Ok(guarded(|| {
            self.context.bind_to_thread()?;
            f(&self.stream)
        })?)
    }

    /// Whether the start-up probe showed this device computing embeddings as core defines them:
    /// a seeded two-layer model's shard, in two chunks, compared byte for byte with the reference.
    pub(super) fn probe_embeddings(&self) -> bool {
        let (kernel, input) = seeded_embedding_case(2, 5, 0x9e);
        let computed = self.shard(kernel, &input, 2, 1);
        let reference = reference_shard(kernel, &input, 2, 1);
        match (computed, reference) {
            (Ok(run), Ok(reference)) if run.output.bytes == reference.bytes => true,
            (computed, _) => {
                tracing::warn!(
                    device = self.ordinal(),
                    error = ?computed.err(),
                    "the device's embedding pipeline differs from the reference; embeddings run on the host"
                );
                false
            }
        }
    }

    /// The output bytes of `sequences` of embedding job `job`, computed on the device.
    pub(super) fn device_embeddings(
        &self,
        model: &Model,
        sequences: &[&[u32]],
        job: &[u8; 32],
    ) -> Result<Vec<u8>, EngineError> {
        let weights = ModelWeights::upload(self, model)?;
        embedding_outputs(self, &weights, model, sequences, job, CHUNK_TOKENS)
    }
}

impl EmbeddingOps for GpuBackend {
    type Buffer<T: Element> = CudaSlice<T>;

    fn upload<T: Element>(&self, values: &[T]) -> Result<CudaSlice<T>, EngineError> {
        self.on_stream(|s| Ok(s.clone_htod(values)?))
    }

    fn zeros<T: Element>(&self, len: usize) -> Result<CudaSlice<T>, EngineError> {
        self.on_stream(|s| Ok(s.alloc_zeros::<T>(len.max(1))?))
    }

    fn download<T: Element>(&self, buffer: &CudaSlice<T>) -> Result<Vec<T>, EngineError> {
        self.on_stream(|s| Ok(s.clone_dtoh(buffer)?))
    }

    fn quantize(
        &self,
        rows: &CudaSlice<i32>,
        count: usize,
        width: usize,
        split: &mut SplitLevels<Self>,
    ) -> Result<(), EngineError> {
        let (count, width) = (count as u64, arg_u32(width as u64)?);
        let ld_words = width.div_ceil(4);
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.quantize);
            launch
                .arg(rows)
                .arg(&count)
                .arg(&width)
                .arg(&ld_words)
                .arg(&mut split.high)
                .arg(&mut split.low)
                .arg(&mut split.scales);
            // SAFETY: the arguments match the kernel's signature; the pipeline sized the buffers.
            unsafe { launch.launch(grid(count, cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn gemm(
        &self,
        a: &CudaSlice<u32>,
        weights: &CudaSlice<u32>,
        shape: GemmShape,
        out: &mut CudaSlice<i32>,
    ) -> Result<(), EngineError> {
        let layout =
            OperandLayout::new(shape.rows as u64, shape.outputs as u64, shape.inputs as u64);
        self.on_stream(|_| {
            // SAFETY: words and i32s reinterpreted as their bytes, lengths in bytes.
            let (a, bt, mut c) = unsafe {
                (
                    a.transmute::<u8>(4 * a.len()),
                    weights.transmute::<u8>(4 * weights.len()),
                    out.transmute_mut::<u8>(4 * out.len()),
                )
            };
            let (Some(a), Some(bt), Some(c)) = (a, bt, c.as_mut()) else {
                return Err(GpuError::TooLarge);
            };
            self.gemm_on_device(self.blas_for(&layout), &a, &bt, c, &layout)
        })
    }

    fn linear(
        &self,
        [high, low]: [&CudaSlice<i32>; 2],
        scales: &CudaSlice<i64>,
        linear: &LinearWeights<Self>,
        residual: Option<&CudaSlice<i32>>,
        rows: usize,
        out: &mut CudaSlice<i32>,
    ) -> Result<(), EngineError> {
        let (rows, outputs) = (rows as u64, arg_u32(linear.outputs as u64)?);
        let null = 0u64;
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.linear);
            launch
                .arg(high)
                .arg(low)
                .arg(scales)
                .arg(&linear.multipliers)
                .arg(&linear.biases);
            match residual {
                Some(residual) => launch.arg(residual),
                None => launch.arg(&null),
            };
            launch.arg(&rows).arg(&outputs).arg(out);
            // SAFETY: as above; a null residual pointer is never read.
            unsafe { launch.launch(grid(rows * u64::from(outputs), cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn gelu(
        &self,
        x: &CudaSlice<i32>,
        len: usize,
        out: &mut CudaSlice<i32>,
    ) -> Result<(), EngineError> {
        let len = len as u64;
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.gelu);
            launch.arg(x).arg(&len).arg(out);
            // SAFETY: as above.
            unsafe { launch.launch(grid(len, cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn layer_norm(
        &self,
        rows: &CudaSlice<i32>,
        count: usize,
        norm: &NormWeights<Self>,
        out: &mut CudaSlice<i32>,
    ) -> Result<(), EngineError> {
        let (count, width) = (count as u64, arg_u32(norm.width as u64)?);
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.layer_norm);
            launch
                .arg(rows)
                .arg(&count)
                .arg(&width)
                .arg(&norm.gain)
                .arg(&norm.bias)
                .arg(out);
            // SAFETY: as above.
            unsafe { launch.launch(grid(count, cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn attention(
        &self,
        [query, key, value]: [&CudaSlice<i32>; 3],
        tokens: &TokenTable<Self>,
        shape: AttentionShape,
        out: &mut CudaSlice<i32>,
    ) -> Result<(), EngineError> {
        let count = shape.tokens as u64;
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.attention);
            launch
                .arg(query)
                .arg(key)
                .arg(value)
                .arg(&tokens.first)
                .arg(&tokens.count)
                .arg(&count)
                .arg(&shape.hidden)
                .arg(&shape.heads)
                .arg(&shape.score_multiplier)
                .arg(out);
            let threads = count * u64::from(shape.heads);
            // SAFETY: as above.
            unsafe { launch.launch(grid(threads, cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn trace_leaves(
        &self,
        rows: &CudaSlice<i32>,
        width: usize,
        tokens: &TokenTable<Self>,
        place: LeafPlacement,
        digests: &mut CudaSlice<u32>,
    ) -> Result<(), EngineError> {
        let (count, width32) = (tokens.tokens as u64, arg_u32(width as u64)?);
        let leaves = count * width.div_ceil(place.leaf_values.max(1) as usize) as u64;
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.trace_leaves);
            launch
                .arg(rows)
                .arg(&count)
                .arg(&width32)
                .arg(&place.leaf_values)
                .arg(&tokens.first)
                .arg(&tokens.count)
                .arg(&tokens.leaf_base)
                .arg(&place.block)
                .arg(&place.offset)
                .arg(&place.token_stride)
                .arg(&place.piece_stride_tokens)
                .arg(&place.piece_stride)
                .arg(digests);
            // SAFETY: as above; every leaf lands within its sequence's trace in `digests`.
            unsafe { launch.launch(grid(leaves, cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn tree_level(
        &self,
        nodes: &CudaSlice<u32>,
        below: &CudaSlice<u64>,
        above: &CudaSlice<u64>,
        trees: u32,
        parents: &mut CudaSlice<u32>,
    ) -> Result<(), EngineError> {
        let total = (parents.len() / 8) as u64;
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.tree_level);
            launch
                .arg(nodes)
                .arg(below)
                .arg(above)
                .arg(&trees)
                .arg(parents);
            // SAFETY: as above.
            unsafe { launch.launch(grid(total, cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn pool_mean(
        &self,
        rows: &CudaSlice<i32>,
        first: &CudaSlice<u32>,
        sequences: u32,
        hidden: u32,
        means: &mut CudaSlice<i32>,
    ) -> Result<(), EngineError> {
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.pool_mean);
            launch
                .arg(rows)
                .arg(first)
                .arg(&sequences)
                .arg(&hidden)
                .arg(means);
            // SAFETY: as above.
            unsafe { launch.launch(grid(u64::from(sequences), cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }

    fn normalize(
        &self,
        means: &CudaSlice<i32>,
        sequences: u32,
        hidden: u32,
        out: &mut CudaSlice<i16>,
    ) -> Result<(), EngineError> {
        self.on_stream(|s| {
            let mut launch = s.launch_builder(&self.kernels.embedding.normalize);
            launch.arg(means).arg(&sequences).arg(&hidden).arg(out);
            // SAFETY: as above.
            unsafe { launch.launch(grid(u64::from(sequences), cuda::WIDE_THREADS)?) }?;
            Ok(())
        })
    }
}
