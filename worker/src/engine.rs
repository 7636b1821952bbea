//! Computes one shard of a job on a backend: generates or reads the inputs, runs the kernel, lays
//! the output out as the core crate defines it, self-checks GEMM results with Freivalds, and hashes
//! the Merkle root the commitment is made to; timing each phase for the pipeline benchmark.
use std::ops::Range;
use std::time::Instant;

use gpushare_core::kernels::{
    DataGemm, Kernel, KernelError, SeededGemm, gemm_leaf, monte_carlo_key, part, seeded_leaf,
    sha256_chain_key, sha256_chain_start,
};
use gpushare_core::merkle::Hash;
use rayon::prelude::*;
use serde::Serialize;

use crate::backend::Backend;
use crate::error::WorkerError;
use crate::{freivalds, hashing};

/// A job's input.
#[derive(Clone, Debug)]
pub enum Input {
    /// Generated from the seed by the kernel's standard generator.
    Seed([u8; 32]),
    /// Downloaded bytes (gemm_i8 only: A then B, i8, row-major).
    Data(Vec<u8>),
}

/// One computed shard: its output bytes and the root of their Merkle tree.
#[derive(Clone, Debug)]
pub struct ShardOutput {
    pub bytes: Vec<u8>,
    pub root: Hash,
}

impl ShardOutput {
    /// The output with its root hashed on the CPU.
    pub fn hashed(kernel: &Kernel, bytes: Vec<u8>) -> Self {
        let root = hashing::root(&bytes, kernel.leaf_bytes());
        Self { bytes, root }
    }
}

/// Seconds spent in each phase of one shard, each timed after its work finished (on a GPU, with
/// CUDA events). Phases overlap on a GPU, so they may add up to more than `total`, the wall clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Seeded operands generated (or data operands packed).
    pub generate: f64,
    /// Inputs copied to the device.
    pub copy_in: f64,
    /// The kernel itself (the GEMM, the chains, the Monte Carlo blocks).
    pub kernel: f64,
    /// Freivalds' check of a GEMM.
    pub verify: f64,
    /// The Merkle tree's leaves and levels.
    pub hash: f64,
    /// The output laid out as bytes in host memory (from the device, or from i32 values on the CPU).
    pub copy_out: f64,
    /// The whole shard, start to output bytes and root on the host.
    pub total: f64,
}

impl Phases {
    /// Runs `work`, adding its wall-clock seconds to `phase`.
    pub fn timed<T>(phase: &mut f64, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let value = work();
        *phase += started.elapsed().as_secs_f64();
        value
    }
}

/// A gemm_i8 shard to compute: its input, the GEMM's shape, and which shard of how many.
#[derive(Clone, Copy, Debug)]
pub struct GemmShard<'a> {
    pub input: &'a Input,
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub shards: u32,
    pub shard: u32,
}

impl GemmShard<'_> {
    pub fn kernel(&self) -> Kernel {
        Kernel::GemmI8 {
            m: self.m,
            n: self.n,
            k: self.k,
        }
    }

    /// The rows of C (and A) this shard computes.
    pub fn rows(&self) -> Range<u64> {
        part(u64::from(self.m), self.shards, self.shard)
    }
}

/// The operands of a gemm_i8 shard: the shard's rows of A, and B.
pub struct GemmShardOperands {
    pub a_rows: Vec<i8>,
    pub b: Vec<i8>,
    pub rows: usize,
}

/// Generates (seed) or slices (data) the operands of gemm_i8 shard `shard` of `shards`.
pub fn gemm_operands(
    input: &Input,
    (m, n, k): (u32, u32, u32),
    shards: u32,
    shard: u32,
) -> Result<GemmShardOperands, WorkerError> {
    let kernel = Kernel::GemmI8 { m, n, k };
    kernel.shard_output_bytes(shards, shard)?;
    let rows = part(u64::from(m), shards, shard);
    let (k64, n64) = (u64::from(k), u64::from(n));
    let (a_rows, b) = match input {
        Input::Seed(seed) => {
            let seeded = SeededGemm::new(seed, n, k);
            let mut a_rows = vec![0i8; ((rows.end - rows.start) * k64) as usize];
            a_rows
                .par_chunks_mut(k as usize)
                .enumerate()
                .for_each(|(r, row)| {
                    SeededGemm::fill(seeded.seed_a, (rows.start + r as u64) * k64, row);
                });
            let mut b = vec![0i8; (k64 * n64) as usize];
            b.par_chunks_mut(n as usize)
                .enumerate()
                .for_each(|(p, row)| {
                    SeededGemm::fill(seeded.seed_b, p as u64 * n64, row);
                });
            (a_rows, b)
        }
        Input::Data(bytes) => {
            let data = DataGemm::new(bytes, m, n, k)?;
            let a_rows = data.a[(rows.start * k64) as usize..(rows.end * k64) as usize].to_vec();
            (a_rows, data.b.to_vec())
        }
    };
    Ok(GemmShardOperands {
        a_rows,
        b,
        rows: (rows.end - rows.start) as usize,
    })
}

fn seed_of(input: &Input) -> Result<&[u8; 32], WorkerError> {
    match input {
        Input::Seed(seed) => Ok(seed),
        Input::Data(_) => Err(KernelError::SeedOnly.into()),
    }
}

/// Values laid out little-endian, in parallel.
fn i32s_to_le(values: &[i32]) -> Vec<u8> {
    let mut bytes = vec![0u8; values.len() * 4];
    bytes
        .par_chunks_mut(4 << 14)
        .zip(values.par_chunks(1 << 14))
        .for_each(|(out, chunk)| {
            for (slot, value) in out.chunks_exact_mut(4).zip(chunk) {
                slot.copy_from_slice(&value.to_le_bytes());
            }
        });
    bytes
}

/// A gemm_i8 shard on the host: operands generated or sliced on the CPU, the backend's GEMM,
/// Freivalds' check and the Merkle root on the CPU. Every backend's fallback, and the CPU's pipeline.
pub fn host_gemm_shard(
    backend: &(impl Backend + ?Sized),
    shard: &GemmShard,
    phases: &mut Phases,
) -> Result<ShardOutput, WorkerError> {
    let (m, n, k) = (shard.m, shard.n, shard.k);
    let ops = Phases::timed(&mut phases.generate, || {
        gemm_operands(shard.input, (m, n, k), shard.shards, shard.shard)
    })?;
    let c = Phases::timed(&mut phases.kernel, || {
        backend.gemm_i8(&ops.a_rows, &ops.b, ops.rows, n as usize, k as usize)
    })?;
    Phases::timed(&mut phases.verify, || {
        let shape = (ops.rows, n as usize, k as usize);
        if freivalds::check(&ops.a_rows, &ops.b, &c, shape, 1, &mut rand::rng()) {
            Ok(())
        } else {
            Err(WorkerError::SelfCheck(format!(
                "{} produced a wrong gemm_i8 result",
                backend.name()
            )))
        }
    })?;
    let bytes = Phases::timed(&mut phases.copy_out, || i32s_to_le(&c));
    let root = Phases::timed(&mut phases.hash, || {
        hashing::root(&bytes, shard.kernel().leaf_bytes())
    });
    Ok(ShardOutput { bytes, root })
}

/// A computed shard, with the device that computed it and the time of each phase.
#[derive(Clone, Debug)]
pub struct ShardRun {
    pub output: ShardOutput,
    pub phases: Phases,
    pub device: String,
}

/// Computes shard `shard` of `shards` on `backend` (on one of its devices). GEMM results are checked
/// with one Freivalds round before they are returned: a faulty device must not get its owner slashed.
pub fn compute_shard(
    backend: &dyn Backend,
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<ShardOutput, WorkerError> {
    Ok(backend.shard(kernel, input, shards, shard)?.output)
}

/// A shard on one device: the kernel through `backend`'s operations, timed phase by phase
/// ([`Backend::shard`]'s definition; a pool of devices picks the device first).
pub fn run_shard(
    backend: &(impl Backend + ?Sized),
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<ShardRun, WorkerError> {
    let started = Instant::now();
    kernel.shard_output_bytes(shards, shard)?;
    let mut phases = Phases::default();
    let output = match kernel {
        Kernel::GemmI8 { m, n, k } => {
            let gemm = GemmShard {
                input,
                m,
                n,
                k,
                shards,
                shard,
            };
            backend.gemm_shard(&gemm, &mut phases)?
        }
        Kernel::Sha256Chain { steps, leaf_every } => {
            let seed = seed_of(input)?;
            let (start, key) = (
                sha256_chain_start(seed, shard),
                sha256_chain_key(seed, shard),
            );
            let states = Phases::timed(&mut phases.kernel, || {
                backend.sha256_chains(&[start], &key, steps, leaf_every)
            })?;
            let bytes = Phases::timed(&mut phases.copy_out, || {
                states.into_iter().flatten().flatten().collect()
            });
            hash_timed(&kernel, bytes, &mut phases)
        }
        Kernel::MonteCarlo {
            blocks,
            samples_per_block,
        } => {
            let range = part(u64::from(blocks), shards, shard);
            let key = monte_carlo_key(seed_of(input)?);
            let hits = Phases::timed(&mut phases.kernel, || {
                backend.monte_carlo(key, range.start as u32..range.end as u32, samples_per_block)
            })?;
            let bytes = Phases::timed(&mut phases.copy_out, || {
                hits.iter().flat_map(|h| h.to_le_bytes()).collect()
            });
            hash_timed(&kernel, bytes, &mut phases)
        }
    };
    phases.total = started.elapsed().as_secs_f64();
    Ok(ShardRun {
        output,
        phases,
        device: backend.name(),
    })
}

fn hash_timed(kernel: &Kernel, bytes: Vec<u8>, phases: &mut Phases) -> ShardOutput {
    Phases::timed(&mut phases.hash, || ShardOutput::hashed(kernel, bytes))
}

/// The shard's output straight from the reference definitions, leaf by leaf — seeded leaves with
/// `seeded_leaf`, the function the program's spot-checks run (slow; for self-tests and checks).
pub fn reference_shard(
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<ShardOutput, WorkerError> {
    let leaves = kernel.shard_leaves(shards, shard)?;
    let bytes = match (input, kernel) {
        (Input::Data(bytes), Kernel::GemmI8 { m, n, k }) => {
            let data = DataGemm::new(bytes, m, n, k)?;
            let leaves: Result<Vec<Vec<u8>>, _> = (0..leaves)
                .into_par_iter()
                .map(|leaf| gemm_leaf(&data, (m, n, k), shards, shard, leaf))
                .collect();
            leaves?.concat()
        }
        (Input::Data(_), _) => return Err(KernelError::SeedOnly.into()),
        (Input::Seed(seed), Kernel::Sha256Chain { .. }) => {
            // Each leaf is hashed on from the one before it.
            let mut bytes = Vec::new();
            let mut previous = None;
            for leaf in 0..leaves {
                let state = seeded_leaf(kernel, seed, shards, shard, leaf, previous)?;
                previous = state.as_slice().try_into().ok();
                bytes.extend(state);
            }
            bytes
        }
        (Input::Seed(seed), _) => {
            let leaves: Result<Vec<Vec<u8>>, _> = (0..leaves)
                .into_par_iter()
                .map(|leaf| seeded_leaf(kernel, seed, shards, shard, leaf, None))
                .collect();
            leaves?.concat()
        }
    };
    Ok(ShardOutput::hashed(&kernel, bytes))
}
