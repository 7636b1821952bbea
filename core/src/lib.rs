//! gpushare's determinism contract, in code both sides compile: the worker (std, any backend) and
//! the on-chain program (SBF, no floats, bounded loops). A kernel's output is defined here by its
//! reference functions; the worker's fast backends must reproduce these bits.
//!
//! - [`rng`]: SplitMix64 and Philox4x32-10, the seeded generators;
//! - [`kernels`]: the kernels' parameters, seeded inputs, output layouts and per-leaf reference;
//! - [`merkle`]: the RFC 6962 Merkle Tree Hash over output leaves, audit paths and their check;
//! - [`spot_check`]: spot-check challenges (sampled leaves) and the on-chain cost of one leaf;
//! - [`benchmark`]: hardware throughput challenges: their size, seeds and proven throughput.
#![no_std]

extern crate alloc;

pub mod benchmark;
pub mod kernels;
pub mod merkle;
pub mod rng;
pub mod spot_check;

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    solana_sha256_hasher::hashv(parts).to_bytes()
}
