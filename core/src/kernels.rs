//! The kernels' definitions: parameters, seeded inputs, how a job's output is split into shards and
//! leaves, and the reference functions that define every output byte.
//!
//! | kernel | shard | leaf |
//! |---|---|---|
//! | `gemm_i8` (C = A·B, i8 × i8 → i32, row-major, little-endian) | rows `[s·m/S, (s+1)·m/S)` of C | 8 consecutive C elements of the shard (32 bytes; the last may be shorter) |
//! | `sha256_chain` (one chain per shard) | `steps` iterations from the shard's start state, each keyed by the shard | every `leaf_every`-th state (32 bytes) |
//! | `monte_carlo` (π: hits of x² + y² < 2⁶⁴ on Philox4x32-10 points) | blocks `[s·B/S, (s+1)·B/S)` | one block's hit count (u32, 4 bytes) |
//! | `embedding` (sentence embeddings, [`crate::embedding`]) | sequences `[s·N/S, (s+1)·N/S)` | 32 bytes of a sequence's embedding (i16 LE) and trace root |
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::layout::{OUTPUT_LEAF_BYTES, sequence_output_bytes};
use crate::embedding::model::{MAX_HIDDEN, MAX_TOKENS};
use crate::rng::{philox4x32_10, splitmix64_at};
use crate::sha256;

/// Elements of C in one gemm_i8 leaf.
pub const GEMM_LEAF_ELEMENTS: u64 = 8;
/// Largest GEMM dimension; k ≤ 2¹⁶ keeps every i32 dot product exact (|a·b| ≤ 2¹⁴).
pub const MAX_GEMM_DIM: u32 = 1 << 16;
/// Most output bytes one shard may have (1 GiB): bounds a provider's memory, its Merkle tree and
/// the depth of every audit path (at most 2²⁸ leaves).
pub const MAX_SHARD_OUTPUT_BYTES: u64 = 1 << 30;
/// Bytes of the per-shard key every sha256_chain step hashes after the state (32 + 16 bytes and
/// SHA-256's padding fit one 64-byte block, so a keyed step costs what an unkeyed one did).
pub const SHA256_CHAIN_KEY_BYTES: usize = 16;

/// A kernel and its size parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    GemmI8 {
        m: u32,
        n: u32,
        k: u32,
    },
    Sha256Chain {
        steps: u32,
        leaf_every: u32,
    },
    MonteCarlo {
        blocks: u32,
        samples_per_block: u32,
    },
    /// Sentence embeddings by the integer model whose weights file has Merkle root `model`, `dims`
    /// wide, of a data batch of `sequences` token-id sequences with `tokens` ids in all, whose
    /// batch tree ([`crate::embedding::layout::TokenBatch::tree`]) has root `batch`.
    Embedding {
        model: [u8; 32],
        batch: [u8; 32],
        dims: u32,
        sequences: u32,
        tokens: u32,
    },
}

/// Why a kernel, shard or input is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("kernel sizes are zero, too large or inconsistent")]
    InvalidShape,
    #[error("shard {shard} of {shards} does not exist")]
    ShardOutOfRange { shard: u32, shards: u32 },
    #[error("leaf {leaf} of {leaves} does not exist")]
    LeafOutOfRange { leaf: u64, leaves: u64 },
    #[error("input is {actual} bytes, the kernel needs {expected}")]
    InputSize { expected: u64, actual: u64 },
    #[error("this kernel only takes seeded inputs")]
    SeedOnly,
    #[error("this kernel only takes data inputs")]
    DataOnly,
    #[error("a sha256_chain leaf after the first needs the previous leaf's state")]
    MissingPrevious,
    #[error("a shard of {bytes} output bytes is over the {MAX_SHARD_OUTPUT_BYTES}-byte limit")]
    ShardTooLarge { bytes: u64 },
}

/// Where `index` of `count` parts of `total` items starts and ends: `[index·total/count, (index+1)·total/count)`.
pub fn part(total: u64, count: u32, index: u32) -> Range<u64> {
    let at = |i: u64| i * total / u64::from(count);
    at(u64::from(index))..at(u64::from(index) + 1)
}

/// The seed a job's kernel runs on: `sha256("gpushare:job" ‖ seed ‖ job address)`. Two jobs posted
/// with the same client seed have different inputs and outputs, so no result of one job (nor any
/// output computed before the job existed) is valid in another.
pub fn job_seed(seed: &[u8; 32], job: &[u8; 32]) -> [u8; 32] {
    sha256(&[b"gpushare:job", seed, job])
}

/// Domain-separated 64-bit stream seed: the first 8 bytes of `sha256(domain ‖ seed)`.
fn derive_u64(domain: &[u8], seed: &[u8; 32]) -> u64 {
    let digest = sha256(&[domain, seed]);
    u64::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

impl Kernel {
    /// Refuses zero, oversized or inconsistent sizes, and shard counts the output cannot be split into.
    pub fn validate(&self, shards: u32) -> Result<(), KernelError> {
        let valid = match *self {
            Kernel::GemmI8 { m, n, k } => {
                [m, n, k].iter().all(|d| (1..=MAX_GEMM_DIM).contains(d)) && shards <= m
            }
            Kernel::Sha256Chain { steps, leaf_every } => {
                steps >= 1 && leaf_every >= 1 && steps % leaf_every == 0
            }
            Kernel::MonteCarlo {
                blocks,
                samples_per_block,
            } => blocks >= 1 && samples_per_block >= 1 && shards <= blocks,
            Kernel::Embedding {
                dims,
                sequences,
                tokens,
                ..
            } => {
                (1..=MAX_HIDDEN).contains(&dims)
                    && shards <= sequences
                    && tokens >= sequences
                    && u64::from(tokens) <= u64::from(sequences) * u64::from(MAX_TOKENS)
            }
        };
        if !valid || shards == 0 {
            return Err(KernelError::InvalidShape);
        }
        Ok(())
    }

    /// Bytes in one leaf (the last leaf of a gemm_i8 shard may be shorter).
    pub fn leaf_bytes(&self) -> usize {
        match self {
            Kernel::GemmI8 { .. } => GEMM_LEAF_ELEMENTS as usize * 4,
            Kernel::Sha256Chain { .. } => 32,
            Kernel::MonteCarlo { .. } => 4,
            Kernel::Embedding { .. } => OUTPUT_LEAF_BYTES,
        }
    }

    /// Output bytes of shard `shard` of `shards`.
    pub fn shard_output_bytes(&self, shards: u32, shard: u32) -> Result<u64, KernelError> {
        self.check_shard(shards, shard)?;
        Ok(match *self {
            Kernel::GemmI8 { m, n, .. } => {
                let rows = part(u64::from(m), shards, shard);
                (rows.end - rows.start) * u64::from(n) * 4
            }
            Kernel::Sha256Chain { steps, leaf_every } => u64::from(steps / leaf_every) * 32,
            Kernel::MonteCarlo { blocks, .. } => {
                let range = part(u64::from(blocks), shards, shard);
                (range.end - range.start) * 4
            }
            Kernel::Embedding {
                dims, sequences, ..
            } => {
                let range = part(u64::from(sequences), shards, shard);
                (range.end - range.start) * sequence_output_bytes(dims)
            }
        })
    }

    /// Output bytes of the largest shard when the output is cut into `shards`.
    pub fn largest_shard_output_bytes(&self, shards: u32) -> Result<u64, KernelError> {
        // Shards differ by at most one row or block; shard 0 is never larger than the last.
        self.shard_output_bytes(shards, shards.saturating_sub(1))
    }

    /// Refuses a split whose largest shard has more than [`MAX_SHARD_OUTPUT_BYTES`].
    pub fn check_shard_size(&self, shards: u32) -> Result<(), KernelError> {
        let bytes = self.largest_shard_output_bytes(shards)?;
        if bytes > MAX_SHARD_OUTPUT_BYTES {
            return Err(KernelError::ShardTooLarge { bytes });
        }
        Ok(())
    }

    /// Leaves in shard `shard` of `shards`.
    pub fn shard_leaves(&self, shards: u32, shard: u32) -> Result<u64, KernelError> {
        Ok(self
            .shard_output_bytes(shards, shard)?
            .div_ceil(self.leaf_bytes() as u64))
    }

    fn check_shard(&self, shards: u32, shard: u32) -> Result<(), KernelError> {
        self.validate(shards)?;
        if shard >= shards {
            return Err(KernelError::ShardOutOfRange { shard, shards });
        }
        Ok(())
    }

    /// Bytes a data input must have: for gemm_i8 A (m×k) then B (k×n), i8, row-major; for
    /// embedding the token batch ([`crate::embedding::layout`]). The other kernels take seeds only.
    pub fn data_input_bytes(&self) -> Result<u64, KernelError> {
        match *self {
            Kernel::GemmI8 { m, n, k } => Ok(u64::from(k) * (u64::from(m) + u64::from(n))),
            Kernel::Embedding {
                sequences, tokens, ..
            } => Ok(4 * (1 + u64::from(sequences) + u64::from(tokens))),
            Kernel::Sha256Chain { .. } | Kernel::MonteCarlo { .. } => Err(KernelError::SeedOnly),
        }
    }

    /// Whether the kernel can run on a seed (every kernel but embedding).
    pub fn takes_seed(&self) -> bool {
        !matches!(self, Kernel::Embedding { .. })
    }
}

/// gemm_i8 operands: element (i, p) of A and (p, j) of B.
pub trait GemmOperands {
    fn a(&self, i: u64, p: u64) -> i8;
    fn b(&self, p: u64, j: u64) -> i8;
}

/// Operands generated from a seed: A's element number e (row-major) is byte e mod 8 of SplitMix64
/// output e / 8 of the stream seeded with `sha256("gpushare:gemm_i8:A" ‖ seed)[..8]`; B likewise.
#[derive(Clone, Copy, Debug)]
pub struct SeededGemm {
    pub k: u64,
    pub n: u64,
    pub seed_a: u64,
    pub seed_b: u64,
}

impl SeededGemm {
    pub fn new(seed: &[u8; 32], n: u32, k: u32) -> Self {
        Self {
            k: u64::from(k),
            n: u64::from(n),
            seed_a: derive_u64(b"gpushare:gemm_i8:A", seed),
            seed_b: derive_u64(b"gpushare:gemm_i8:B", seed),
        }
    }

    /// Element number `index` of the i8 stream seeded with `stream_seed`.
    pub fn element(stream_seed: u64, index: u64) -> i8 {
        splitmix64_at(stream_seed, index / 8).to_le_bytes()[(index % 8) as usize] as i8
    }

    /// Fills `out` with elements `first..first + out.len()` of the stream, using all eight bytes of
    /// each generator output.
    pub fn fill(stream_seed: u64, first: u64, out: &mut [i8]) {
        let mut index = first;
        let mut rest = out;
        while !rest.is_empty() {
            let bytes = splitmix64_at(stream_seed, index / 8).to_le_bytes();
            let offset = (index % 8) as usize;
            let take = (8 - offset).min(rest.len());
            let (now, later) = core::mem::take(&mut rest).split_at_mut(take);
            for (slot, byte) in now.iter_mut().zip(&bytes[offset..]) {
                *slot = *byte as i8;
            }
            index += take as u64;
            rest = later;
        }
    }
}

impl GemmOperands for SeededGemm {
    fn a(&self, i: u64, p: u64) -> i8 {
        Self::element(self.seed_a, i * self.k + p)
    }
    fn b(&self, p: u64, j: u64) -> i8 {
        Self::element(self.seed_b, p * self.n + j)
    }
}

/// Operands read from a data input: A (m×k) then B (k×n), i8, row-major.
#[derive(Clone, Copy, Debug)]
pub struct DataGemm<'a> {
    pub a: &'a [i8],
    pub b: &'a [i8],
    pub k: u64,
    pub n: u64,
}

impl<'a> DataGemm<'a> {
    /// Splits `bytes` into A and B after checking its size against the kernel.
    pub fn new(bytes: &'a [u8], m: u32, n: u32, k: u32) -> Result<Self, KernelError> {
        let expected = Kernel::GemmI8 { m, n, k }.data_input_bytes()?;
        if bytes.len() as u64 != expected {
            return Err(KernelError::InputSize {
                expected,
                actual: bytes.len() as u64,
            });
        }
        let split = (u64::from(m) * u64::from(k)) as usize;
        let all = as_i8(bytes);
        Ok(Self {
            a: &all[..split],
            b: &all[split..],
            k: u64::from(k),
            n: u64::from(n),
        })
    }
}

/// `bytes` read as i8 values.
fn as_i8(bytes: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have identical size, alignment and validity (every bit pattern is valid).
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) }
}

impl GemmOperands for DataGemm<'_> {
    fn a(&self, i: u64, p: u64) -> i8 {
        self.a[(i * self.k + p) as usize]
    }
    fn b(&self, p: u64, j: u64) -> i8 {
        self.b[(p * self.n + j) as usize]
    }
}

/// One element of C: Σₚ A[i][p]·B[p][j], exact in i32.
pub fn gemm_element(operands: &impl GemmOperands, k: u64, i: u64, j: u64) -> i32 {
    (0..k)
        .map(|p| i32::from(operands.a(i, p)) * i32::from(operands.b(p, j)))
        .sum()
}

/// The bytes of gemm_i8 leaf `leaf` of shard `shard`: its C elements, little-endian.
pub fn gemm_leaf(
    operands: &impl GemmOperands,
    (m, n, k): (u32, u32, u32),
    shards: u32,
    shard: u32,
    leaf: u64,
) -> Result<Vec<u8>, KernelError> {
    let kernel = Kernel::GemmI8 { m, n, k };
    let leaves = kernel.shard_leaves(shards, shard)?;
    if leaf >= leaves {
        return Err(KernelError::LeafOutOfRange { leaf, leaves });
    }
    let rows = part(u64::from(m), shards, shard);
    let elements = (rows.end - rows.start) * u64::from(n);
    let first = leaf * GEMM_LEAF_ELEMENTS;
    let last = (first + GEMM_LEAF_ELEMENTS).min(elements);
    let mut out = Vec::with_capacity(((last - first) * 4) as usize);
    for e in first..last {
        let (i, j) = (rows.start + e / u64::from(n), e % u64::from(n));
        out.extend_from_slice(&gemm_element(operands, u64::from(k), i, j).to_le_bytes());
    }
    Ok(out)
}

/// The start state of shard `shard`'s SHA-256 chain: `sha256("gpushare:sha256_chain" ‖ seed ‖ shard)`.
pub fn sha256_chain_start(seed: &[u8; 32], shard: u32) -> [u8; 32] {
    sha256(&[b"gpushare:sha256_chain", seed, &shard.to_le_bytes()])
}

/// The key of shard `shard`'s chain, hashed into every step: the first
/// [`SHA256_CHAIN_KEY_BYTES`] bytes of `sha256("gpushare:sha256_chain:key" ‖ seed ‖ shard)`. With the
/// job's seed in every step, no run of the chain serves another shard or job.
pub fn sha256_chain_key(seed: &[u8; 32], shard: u32) -> [u8; SHA256_CHAIN_KEY_BYTES] {
    let digest = sha256(&[b"gpushare:sha256_chain:key", seed, &shard.to_le_bytes()]);
    let mut key = [0u8; SHA256_CHAIN_KEY_BYTES];
    key.copy_from_slice(&digest[..SHA256_CHAIN_KEY_BYTES]);
    key
}

/// `state` advanced `times` keyed steps, `state ← sha256(state ‖ key)`: a leaf from the state of the
/// previous leaf (or the start state).
pub fn sha256_chain_advance(
    mut state: [u8; 32],
    key: &[u8; SHA256_CHAIN_KEY_BYTES],
    times: u32,
) -> [u8; 32] {
    for _ in 0..times {
        state = sha256(&[&state, key]);
    }
    state
}

/// The Philox key of a Monte Carlo job: `sha256("gpushare:monte_carlo" ‖ seed)[..8]` as two u32.
pub fn monte_carlo_key(seed: &[u8; 32]) -> [u32; 2] {
    let d = derive_u64(b"gpushare:monte_carlo", seed);
    [d as u32, (d >> 32) as u32]
}

/// Whether the point (x, y), read as fractions of 2³², falls inside the quarter circle: x² + y² < 2⁶⁴,
/// that is, the sum of the two squares (each below 2⁶⁴) does not overflow 64 bits. No 128-bit
/// arithmetic, which SBF can only do by calling `__multi3`.
pub fn inside_quarter_circle(x: u32, y: u32) -> bool {
    let square = |v: u32| u64::from(v) * u64::from(v);
    square(x).checked_add(square(y)).is_some()
}

/// Hits of block `block`: sample pair t uses Philox4x32-10 on counter (t, block, 0, 0); words 0–1 are
/// the first point, words 2–3 the second (used while fewer than `samples` points were drawn).
pub fn monte_carlo_block(key: [u32; 2], block: u32, samples: u32) -> u32 {
    let mut hits = 0;
    for t in 0..samples.div_ceil(2) {
        let r = philox4x32_10([t, block, 0, 0], key);
        hits += u32::from(inside_quarter_circle(r[0], r[1]));
        if 2 * t + 1 < samples {
            hits += u32::from(inside_quarter_circle(r[2], r[3]));
        }
    }
    hits
}

/// The bytes of leaf `leaf` of shard `shard` of a seeded job, from the reference definitions: what
/// an on-chain spot-check recomputes. `seed` is the job's kernel seed ([`job_seed`]). For
/// sha256_chain, `previous` is the state of leaf `leaf − 1` (leaf 0 starts from the shard's start
/// state).
pub fn seeded_leaf(
    kernel: Kernel,
    seed: &[u8; 32],
    shards: u32,
    shard: u32,
    leaf: u64,
    previous: Option<[u8; 32]>,
) -> Result<Vec<u8>, KernelError> {
    let leaves = kernel.shard_leaves(shards, shard)?;
    if leaf >= leaves {
        return Err(KernelError::LeafOutOfRange { leaf, leaves });
    }
    match kernel {
        Kernel::GemmI8 { m, n, k } => {
            gemm_leaf(&SeededGemm::new(seed, n, k), (m, n, k), shards, shard, leaf)
        }
        Kernel::Sha256Chain { leaf_every, .. } => {
            let from = match (leaf, previous) {
                (0, _) => sha256_chain_start(seed, shard),
                (_, Some(state)) => state,
                (_, None) => return Err(KernelError::MissingPrevious),
            };
            let key = sha256_chain_key(seed, shard);
            Ok(sha256_chain_advance(from, &key, leaf_every).to_vec())
        }
        Kernel::MonteCarlo {
            blocks,
            samples_per_block,
        } => {
            let block = part(u64::from(blocks), shards, shard).start + leaf;
            Ok(
                monte_carlo_block(monte_carlo_key(seed), block as u32, samples_per_block)
                    .to_le_bytes()
                    .to_vec(),
            )
        }
        Kernel::Embedding { .. } => Err(KernelError::DataOnly),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_quarter_circle_test_at_its_edges() {
        // 2 · 0xb504f333² = 2⁶⁴ − 11,857,053,614 (just inside); one more on each axis is outside.
        assert!(
            inside_quarter_circle(u32::MAX, 0) && inside_quarter_circle(0xb504_f333, 0xb504_f333)
        );
        assert!(
            !inside_quarter_circle(0xb504_f334, 0xb504_f334)
                && !inside_quarter_circle(u32::MAX, u32::MAX)
        );
        assert!(inside_quarter_circle(0, 0));
    }

    proptest! {
        /// The 64-bit test is the definition, x² + y² < 2⁶⁴ in 128 bits, on every input.
        #[test]
        fn the_quarter_circle_test_is_the_128_bit_definition(x in any::<u32>(), y in any::<u32>()) {
            let definition = u128::from(x) * u128::from(x) + u128::from(y) * u128::from(y) < 1u128 << 64;
            prop_assert_eq!(inside_quarter_circle(x, y), definition);
        }

        #[test]
        fn fill_is_element_by_element(seed in any::<u64>(), first in 0u64..1 << 40, len in 0usize..70) {
            let mut filled = alloc::vec![0i8; len];
            SeededGemm::fill(seed, first, &mut filled);
            let expected: Vec<i8> = (0..len as u64).map(|i| SeededGemm::element(seed, first + i)).collect();
            prop_assert_eq!(filled, expected);
        }
    }

    const SEED: [u8; 32] = [7; 32];

    #[test]
    fn shards_partition_the_output() {
        let kernel = Kernel::GemmI8 { m: 10, n: 3, k: 4 };
        let total: u64 = (0..3)
            .map(|s| kernel.shard_output_bytes(3, s).unwrap())
            .sum();
        assert_eq!(total, 10 * 3 * 4);
        assert_eq!(
            kernel.shard_output_bytes(3, 3),
            Err(KernelError::ShardOutOfRange {
                shard: 3,
                shards: 3
            })
        );
        assert_eq!(
            Kernel::GemmI8 { m: 2, n: 3, k: 4 }.validate(3),
            Err(KernelError::InvalidShape)
        );
        assert_eq!(
            Kernel::Sha256Chain {
                steps: 10,
                leaf_every: 3
            }
            .validate(1),
            Err(KernelError::InvalidShape)
        );
    }

    #[test]
    fn data_inputs_must_have_the_kernel_size() {
        assert_eq!(
            DataGemm::new(&[0; 5], 2, 2, 2).err(),
            Some(KernelError::InputSize {
                expected: 8,
                actual: 5
            })
        );
        assert_eq!(
            Kernel::MonteCarlo {
                blocks: 1,
                samples_per_block: 1
            }
            .data_input_bytes(),
            Err(KernelError::SeedOnly)
        );
    }

    #[test]
    fn gemm_leaf_is_the_row_major_dot_products() {
        let bytes: Vec<u8> = [1i8, 2, 3, 4, -1, -2, 5, 6, 7, 8]
            .iter()
            .map(|v| *v as u8)
            .collect();
        let ops = DataGemm::new(&bytes, 2, 3, 2).unwrap();
        let leaf = gemm_leaf(&ops, (2, 3, 2), 1, 0, 0).unwrap();
        let c: Vec<i32> = leaf
            .chunks(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        // A = [[1, 2], [3, 4]], B = [[-1, -2, 5], [6, 7, 8]]
        assert_eq!(c, [11, 12, 21, 21, 22, 47]);
        assert_eq!(
            gemm_leaf(&ops, (2, 3, 2), 1, 0, 1),
            Err(KernelError::LeafOutOfRange { leaf: 1, leaves: 1 })
        );
    }

    /// Golden values: changing any of these changes every result ever committed.
    #[test]
    fn seeded_inputs_and_small_results_are_stable() {
        let ops = SeededGemm::new(&SEED, 4, 4);
        let first_a: Vec<i8> = (0..4).map(|p| ops.a(0, p)).collect();
        let leaf = gemm_leaf(&ops, (4, 4, 4), 2, 1, 0).unwrap();
        let chain = sha256_chain_advance(
            sha256_chain_start(&SEED, 0),
            &sha256_chain_key(&SEED, 0),
            1000,
        );
        let hits = monte_carlo_block(monte_carlo_key(&SEED), 0, 1_000_000);
        assert_eq!((first_a, leaf, chain, hits), golden());
    }

    fn golden() -> (Vec<i8>, Vec<u8>, [u8; 32], u32) {
        let leaf = [
            34, 1, 0, 0, 129, 17, 0, 0, 134, 60, 0, 0, 9, 250, 255, 255, 218, 240, 255, 255, 3, 64,
            0, 0, 138, 234, 255, 255, 193, 240, 255, 255,
        ];
        // The keyed chain, as Python's hashlib computes it from the definition.
        let chain = [
            45, 236, 103, 101, 29, 15, 53, 130, 38, 201, 229, 226, 217, 225, 5, 89, 199, 255, 112,
            135, 132, 145, 14, 210, 23, 64, 27, 157, 221, 229, 126, 183,
        ];
        (alloc::vec![6, 17, 32, -84], leaf.to_vec(), chain, 785_082)
    }

    /// A step of one shard's chain is not a step of another's, and a job's seed is not another's.
    #[test]
    fn chains_and_inputs_are_bound_to_their_shard_and_job() {
        let start = [1u8; 32];
        let step = |shard| sha256_chain_advance(start, &sha256_chain_key(&SEED, shard), 1);
        assert_ne!(step(0), step(1));
        assert_ne!(job_seed(&SEED, &[1; 32]), job_seed(&SEED, &[2; 32]));
        assert_ne!(job_seed(&SEED, &[1; 32]), SEED);
    }

    #[test]
    fn shards_over_a_gibibyte_are_refused() {
        let chain = |steps| Kernel::Sha256Chain {
            steps,
            leaf_every: 1,
        };
        assert_eq!(chain(1 << 25).check_shard_size(1), Ok(()));
        assert_eq!(
            chain(1 << 30).check_shard_size(1),
            Err(KernelError::ShardTooLarge { bytes: 1 << 35 })
        );
        assert!(
            chain(1 << 30).check_shard_size(32).is_err(),
            "every shard runs its own whole chain"
        );
        let gemm = Kernel::GemmI8 {
            m: 1 << 14,
            n: 1 << 14,
            k: 64,
        };
        assert_eq!(gemm.check_shard_size(1), Ok(()));
        let doubled = Kernel::GemmI8 {
            m: 1 << 15,
            n: 1 << 14,
            k: 64,
        };
        assert!(doubled.check_shard_size(1).is_err());
    }

    #[test]
    fn monte_carlo_estimates_pi() {
        let key = monte_carlo_key(&SEED);
        let hits: u64 = (0..4)
            .map(|b| u64::from(monte_carlo_block(key, b, 250_000)))
            .sum();
        let pi_millionths = hits * 4;
        assert!(
            (3_138_000..3_145_000).contains(&pi_millionths),
            "{pi_millionths}"
        );
    }
}
