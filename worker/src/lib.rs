//! gpushare-worker: the provider's compute engine. Runs the kernels defined in `gpushare-core` on a
//! GPU (cudarc) or the CPU, builds the Merkle commitment of each shard's output, self-checks GEMM
//! results with Freivalds; and, as a daemon, finds, claims, computes, commits, reveals, proves and settles
//! work on the network, with the provider's chain commands around it.
pub mod backend;
pub mod bench;
pub mod benchmark;
pub mod budget;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod cuda;
pub mod daemon;
pub mod devices;
pub mod engine;
pub mod error;
pub mod fault;
pub mod freivalds;
pub mod gpu;
mod gpu_pipeline;
pub mod hashing;
#[cfg(test)]
mod host_kernels;
pub mod index;
pub mod inputs;
pub mod metrics;
pub mod prover;
pub mod provider;
pub mod selftest;
pub mod store;
#[cfg(test)]
mod testing;
