//! CUDA C++ sources of the GPU kernels, compiled at run time with NVRTC. Integer arithmetic only
//! (exact i32 sums, unsigned wrapping words), so every GPU produces the reference bits.

/// Kernel function names (extern "C", unmangled).
pub const GEMM_I8: &str = "gemm_i8_dp4a";
pub const SHA256_CHAINS: &str = "sha256_chains";
pub const MONTE_CARLO: &str = "monte_carlo_pi";
pub const SEEDED_OPERAND: &str = "seeded_operand";
pub const STRIDED_OPERAND: &str = "strided_operand";
pub const LEAF_HASHES: &str = "leaf_hashes";
pub const MERKLE_LEVEL: &str = "merkle_level";
pub const FREIVALDS_COLUMNS: &str = "freivalds_columns";
pub const FREIVALDS_SUM: &str = "freivalds_sum";
pub const FREIVALDS_ROWS_I8: &str = "freivalds_rows_i8";
pub const FREIVALDS_ROWS_I32: &str = "freivalds_rows_i32";
pub const EMBEDDING_QUANTIZE: &str = "embedding_quantize";
pub const EMBEDDING_LINEAR: &str = "embedding_linear";
pub const EMBEDDING_GELU: &str = "embedding_gelu";
pub const EMBEDDING_LAYER_NORM: &str = "embedding_layer_norm";
pub const EMBEDDING_ATTENTION: &str = "embedding_attention";
pub const EMBEDDING_TRACE_LEAVES: &str = "embedding_trace_leaves";
pub const EMBEDDING_TREE_LEVEL: &str = "embedding_tree_level";
pub const EMBEDDING_POOL_MEAN: &str = "embedding_pool_mean";
pub const EMBEDDING_NORMALIZE: &str = "embedding_normalize";

/// Threads per CUDA block of the GEMM kernel, and the C tile one block computes.
pub const GEMM_THREADS: u32 = 256;
pub const GEMM_TILE: u32 = 64;
/// Widest attention head the embedding kernels hold in registers (`GS_MAX_HEAD_DIM` in
/// `cuda/embedding.cuh`, checked equal by the tests): a model with wider heads embeds on the host.
pub const EMBEDDING_MAX_HEAD_DIM: usize = 64;
/// Threads per CUDA block of every other kernel.
pub const WIDE_THREADS: u32 = 256;
/// Column parts Freivalds' B·r is split into (blocks enough to fill a GPU when k is small).
pub const FREIVALDS_PARTS: u32 = 32;

/// Every kernel, in one translation unit: the per-thread bodies shared with the host tests
/// (`cuda/common.cuh`, `cuda/embedding.cuh`), then the kernels (`cuda/kernels.cu`,
/// `cuda/embedding.cu`).
pub const SOURCE: &str = concat!(
    include_str!("../cuda/common.cuh"),
    include_str!("../cuda/embedding.cuh"),
    include_str!("../cuda/kernels.cu"),
    include_str!("../cuda/embedding.cu")
);
