//! gpushare's determinism contract, in code both sides compile: the worker (std, any backend) and
//! the on-chain program (SBF, no floats, bounded loops). A kernel's output is defined here by its
//! reference functions; the worker's fast backends must reproduce these bits.
//!
//! - [`rng`]: SplitMix64 and Philox4x32-10, the seeded generators;
//! - [`kernels`]: the kernels' parameters, seeded inputs, output layouts and per-leaf reference;
//! - [`merkle`]: the RFC 6962 Merkle Tree Hash over output leaves, audit paths and their check;
//! - [`spot_check`]: spot-check challenges (sampled leaves) and the on-chain cost of one leaf;
//! - [`benchmark`]: hardware benchmarks: their size, seeds and proven throughput;
//! - [`embedding`]: the integer-only sentence-embedding model: weights file, arithmetic, forward pass.
#![no_std]

extern crate alloc;

pub mod benchmark;
pub mod embedding;
pub mod kernels;
pub mod merkle;
pub mod rng;
pub mod spot_check;

/// SHA-256 of the concatenation of `parts`.
#[cfg(not(feature = "sol-sha256"))]
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    solana_sha256_hasher::hashv(parts).to_bytes()
}

/// SHA-256 of the concatenation of `parts`, by the `sol_sha256` syscall (feature `sol-sha256`).
#[cfg(feature = "sol-sha256")]
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    unsafe extern "C" {
        fn sol_sha256(vals: *const u8, vals_len: u64, hash_result: *mut u8) -> u64;
    }
    let mut hash = [0u8; 32];
    // SAFETY: the syscall reads `parts.len()` (address, length) pairs, the layout of `&[u8]` on a
    // 64-bit target, and writes 32 bytes to `hash`.
    unsafe { sol_sha256(parts.as_ptr().cast(), parts.len() as u64, hash.as_mut_ptr()) };
    hash
}
