//! The kernels as NVRTC compiles them: the PTX for each architecture we ship, the module's functions, and
//! launch shapes.
use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaModule, LaunchConfig};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::cuda;
use crate::error::GpuError;

use super::{guarded, nvrtc_present};

/// Compiles the kernel sources to PTX for `arch` (e.g. `compute_90`). Needs libnvrtc only, no GPU.
pub fn compile_ptx(arch: &'static str) -> Result<Ptx, GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NvrtcLibraryMissing);
    }
    guarded(|| {
        let options = CompileOptions {
            arch: Some(arch),
            fmad: Some(false),
            name: Some("gpushare_kernels.cu".into()),
            ..Default::default()
        };
        Ok(compile_ptx_with_opts(cuda::SOURCE, options)?)
    })
}

/// NVRTC virtual architectures the kernels are built for (CUDA 13 supports compute_75 and up).
pub const ARCHES: [&str; 7] = [
    "compute_75",
    "compute_80",
    "compute_86",
    "compute_89",
    "compute_90",
    "compute_100",
    "compute_120",
];

/// The NVRTC virtual architecture for a compute capability (the oldest one for unknown devices).
pub(super) fn arch_for(major: i32, minor: i32) -> &'static str {
    let wanted = format!("compute_{major}{minor}");
    ARCHES
        .iter()
        .find(|arch| **arch == wanted)
        .copied()
        .unwrap_or(ARCHES[0])
}

/// The module's kernels.
pub(super) struct Kernels {
    pub(super) gemm_dp4a: CudaFunction,
    pub(super) sha256_chains: CudaFunction,
    pub(super) monte_carlo: CudaFunction,
    pub(super) seeded_operand: CudaFunction,
    pub(super) strided_operand: CudaFunction,
    pub(super) leaf_hashes: CudaFunction,
    pub(super) merkle_level: CudaFunction,
    pub(super) freivalds_columns: CudaFunction,
    pub(super) freivalds_sum: CudaFunction,
    pub(super) freivalds_rows_i8: CudaFunction,
    pub(super) freivalds_rows_i32: CudaFunction,
    pub(super) embedding: EmbeddingKernels,
}

/// The embedding model's kernels (`cuda/embedding.cu`).
pub(super) struct EmbeddingKernels {
    pub(super) quantize: CudaFunction,
    pub(super) linear: CudaFunction,
    pub(super) gelu: CudaFunction,
    pub(super) layer_norm: CudaFunction,
    pub(super) attention: CudaFunction,
    pub(super) trace_leaves: CudaFunction,
    pub(super) tree_level: CudaFunction,
    pub(super) pool_mean: CudaFunction,
    pub(super) normalize: CudaFunction,
}

impl Kernels {
    pub(super) fn load(module: &Arc<CudaModule>) -> Result<Self, GpuError> {
        let get = |name: &str| module.load_function(name);
        Ok(Self {
            gemm_dp4a: get(cuda::GEMM_I8)?,
            sha256_chains: get(cuda::SHA256_CHAINS)?,
            monte_carlo: get(cuda::MONTE_CARLO)?,
            seeded_operand: get(cuda::SEEDED_OPERAND)?,
            strided_operand: get(cuda::STRIDED_OPERAND)?,
            leaf_hashes: get(cuda::LEAF_HASHES)?,
            merkle_level: get(cuda::MERKLE_LEVEL)?,
            freivalds_columns: get(cuda::FREIVALDS_COLUMNS)?,
            freivalds_sum: get(cuda::FREIVALDS_SUM)?,
            freivalds_rows_i8: get(cuda::FREIVALDS_ROWS_I8)?,
            freivalds_rows_i32: get(cuda::FREIVALDS_ROWS_I32)?,
            embedding: EmbeddingKernels {
                quantize: get(cuda::EMBEDDING_QUANTIZE)?,
                linear: get(cuda::EMBEDDING_LINEAR)?,
                gelu: get(cuda::EMBEDDING_GELU)?,
                layer_norm: get(cuda::EMBEDDING_LAYER_NORM)?,
                attention: get(cuda::EMBEDDING_ATTENTION)?,
                trace_leaves: get(cuda::EMBEDDING_TRACE_LEAVES)?,
                tree_level: get(cuda::EMBEDDING_TREE_LEVEL)?,
                pool_mean: get(cuda::EMBEDDING_POOL_MEAN)?,
                normalize: get(cuda::EMBEDDING_NORMALIZE)?,
            },
        })
    }
}

/// A launch of `threads` threads in blocks of `block`.
pub(crate) fn grid(threads: u64, block: u32) -> Result<LaunchConfig, GpuError> {
    let blocks =
        u32::try_from(threads.div_ceil(u64::from(block))).map_err(|_| GpuError::TooLarge)?;
    Ok(LaunchConfig {
        grid_dim: (blocks.max(1), 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// A `u32` kernel argument, or `TooLarge`.
pub(crate) fn arg_u32(value: u64) -> Result<u32, GpuError> {
    u32::try_from(value).map_err(|_| GpuError::TooLarge)
}
