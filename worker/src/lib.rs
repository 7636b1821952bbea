//! gpushare-worker: the provider's compute engine. Runs the kernels defined in `gpushare-core` on a
//! GPU (cudarc) or the CPU, builds the Merkle commitment of each shard's output, self-checks GEMM
//! results with Freivalds, and offers the `compute`, `selftest` and `bench` commands.
pub mod backend;
pub mod bench;
pub mod cli;
pub mod cpu;
pub mod cuda;
pub mod engine;
pub mod error;
pub mod freivalds;
pub mod gpu;
pub mod selftest;
