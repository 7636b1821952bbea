//! gpushare-engine: the provider's compute engine. Runs the kernels defined in `gpushare-core` on a GPU
//! (cudarc) or the CPU, bit for bit as the core crate defines them, builds the Merkle commitment of
//! each shard's output and self-checks GEMM results with Freivalds. It knows nothing of the chain: the
//! worker (`gpushare-worker`) and the client CLI (`gpushare`) both build on it.
//!
//! Module map, lowest first (a module uses only those above it):
//! - [`error`]: [`error::EngineError`] and [`error::GpuError`];
//! - [`hashing`], [`cuda`]: Merkle roots, the CUDA sources;
//! - [`shard`]: a job's input, a shard's operands, output, root and phase times;
//! - [`reference`]: a shard from the core crate's definitions, leaf by leaf, and the textbook GEMM;
//! - [`freivalds`]: Freivalds' check of a GEMM result (tested against the textbook GEMM);
//! - [`blocks`]: the host's GEMM blocks (AVX2 multiply-adds on i16 rows);
//! - [`panels`], [`rows`], [`attention`]: the embedding's linear layers on AVX-512 VNNI
//!   broadcasts, the row steps around them and its attention on AVX-512;
//! - [`embed`]: embedding shards on the host (those panels or blocks, and core's forward pass);
//! - [`embedding_pipeline`]: the embedding forward pass as a GPU runs it, over kernels a GPU or (in the
//!   tests) their host C twins implement;
//! - [`backend`]: the [`backend::Backend`] trait, with the shard pipeline as its default;
//! - [`cpu`], [`gpu`], [`devices`]: the CPU backend, one GPU, a pool of GPUs;
//! - [`select`]: which backend to compute on;
//! - [`args`], [`selftest`], [`bench`]: kernel flags, the selftest and the local benchmark.
//!
//! The `gpu` feature (on by default) brings the GPU backend and what chooses among backends (`gpu`,
//! `devices`, `select`, `selftest`, `bench`) and with them cudarc. The client CLI turns it off: it
//! needs the shard's operands, Freivalds' check and the kernel flags, never a GPU.
pub mod args;
pub mod attention;
pub mod backend;
#[cfg(feature = "gpu")]
pub mod bench;
pub mod blocks;
pub mod cpu;
pub mod cuda;
#[cfg(feature = "gpu")]
pub mod devices;
pub mod embed;
#[cfg(feature = "gpu")]
mod embedding_pipeline;
pub mod error;
pub mod freivalds;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod hashing;
#[cfg(all(test, feature = "gpu"))]
mod host_kernels;
pub mod panels;
pub mod reference;
pub mod rows;
#[cfg(feature = "gpu")]
pub mod select;
#[cfg(feature = "gpu")]
pub mod selftest;
pub mod shard;
