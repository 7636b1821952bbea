//! What every compute backend offers (the kernels' operations), and the shard pipeline built on them
//! as the trait's own default: operands, kernel, Freivalds' check, output bytes, Merkle root.
use std::ops::Range;
use std::time::Instant;

use gpushare_core::kernels::{
    Kernel, SeededGemm, monte_carlo_key, part, sha256_chain_key, sha256_chain_start,
};

use gpushare_core::embedding::layout::TokenBatch;
use gpushare_core::embedding::model::Model;

use crate::embed::embedding_shard_output;
use crate::error::EngineError;
use crate::freivalds;
use crate::hashing;
use crate::shard::{
    GemmShard, Input, Phases, ShardOutput, ShardRun, embedding_input, gemm_operands, i32s_to_le,
    seed_of,
};

/// The key every step of a sha256_chain hashes after the state.
pub type ChainKey = [u8; gpushare_core::kernels::SHA256_CHAIN_KEY_BYTES];

/// What a backend computes. Every backend must produce the reference bits (`gpushare_core::kernels`).
pub trait Backend: Send + Sync {
    /// A short name for logs and reports, e.g. `cpu (2 threads)` or `cuda (NVIDIA H100)`.
    fn name(&self) -> String;

    /// C = A·B with A m×k and B k×n (i8, row-major); C m×n in i32, row-major, exact.
    fn gemm_i8(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, EngineError>;

    /// For each start state, the states after every `leaf_every` keyed SHA-256 steps
    /// (`state ← sha256(state ‖ key)`) up to `steps`.
    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        key: &ChainKey,
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, EngineError>;

    /// Hit counts of the Monte Carlo blocks `blocks`, `samples` points each, under Philox key `key`.
    fn monte_carlo(
        &self,
        key: [u32; 2],
        blocks: Range<u32>,
        samples: u32,
    ) -> Result<Vec<u32>, EngineError>;

    /// A whole gemm_i8 shard: operands, GEMM, Freivalds' check, output bytes and Merkle root, each
    /// phase's time added to `phases`. By default the host pipeline around [`Backend::gemm_i8`].
    fn gemm_shard(
        &self,
        shard: &GemmShard,
        phases: &mut Phases,
    ) -> Result<ShardOutput, EngineError> {
        host_gemm_shard(self, shard, phases)
    }

    /// Shard `shard` of `shards` end to end on one device: the kernel through this backend's
    /// operations, timed phase by phase, with the device that computed it (a pool of devices picks
    /// the device first). GEMM results are checked with one Freivalds round before they are returned:
    /// a faulty device must not get its owner slashed.
    fn shard(
        &self,
        kernel: Kernel,
        input: &Input,
        shards: u32,
        shard: u32,
    ) -> Result<ShardRun, EngineError> {
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
                self.gemm_shard(&gemm, &mut phases)?
            }
            Kernel::Sha256Chain { steps, leaf_every } => {
                let seed = seed_of(input)?;
                let (start, key) = (
                    sha256_chain_start(seed, shard),
                    sha256_chain_key(seed, shard),
                );
                let states = Phases::timed(&mut phases.kernel, || {
                    self.sha256_chains(&[start], &key, steps, leaf_every)
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
                    self.monte_carlo(key, range.start as u32..range.end as u32, samples_per_block)
                })?;
                let bytes = Phases::timed(&mut phases.copy_out, || {
                    hits.iter().flat_map(|h| h.to_le_bytes()).collect()
                });
                hash_timed(&kernel, bytes, &mut phases)
            }
            Kernel::Embedding {
                dims,
                sequences,
                tokens,
                ..
            } => {
                let (data, model, job) = embedding_input(input, dims)?;
                let batch = Phases::timed(&mut phases.generate, || {
                    TokenBatch::from_bytes(data, sequences, tokens)
                })?;
                let bytes = Phases::timed(&mut phases.kernel, || {
                    self.embedding_shard(model, &batch, job, shards, shard)
                })?;
                hash_timed(&kernel, bytes, &mut phases)
            }
        };
        phases.total = started.elapsed().as_secs_f64();
        Ok(ShardRun {
            output,
            phases,
            device: self.name(),
        })
    }

    /// The output bytes of an embedding shard of job `job` (each sequence's embedding and trace
    /// root). By default on the host ([`crate::embed::embedding_shard_output`]).
    fn embedding_shard(
        &self,
        model: &Model,
        batch: &TokenBatch,
        job: &[u8; 32],
        shards: u32,
        shard: u32,
    ) -> Result<Vec<u8>, EngineError> {
        embedding_shard_output(model, batch, job, shards, shard)
    }

    /// The bare GEMM of seeded size³ operands: the fastest of `repeats` runs after a warm-up (on a
    /// GPU, device time with the operands already there).
    fn bare_gemm_seconds(&self, size: usize, repeats: u32) -> Result<f64, EngineError> {
        let (a, b) = bench_operands(size);
        self.gemm_i8(&a, &b, size, size, size)?;
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let started = std::time::Instant::now();
            self.gemm_i8(&a, &b, size, size, size)?;
            best = best.min(started.elapsed().as_secs_f64());
        }
        Ok(best)
    }

    /// The devices this backend computes on, one name each.
    fn device_names(&self) -> Vec<String> {
        vec![self.name()]
    }

    /// Memory of those devices, MiB (0 when it is the host's).
    fn memory_mib(&self) -> u64 {
        0
    }
}

/// The seeded size×size operands A and B of every bare GEMM that `bench` times (the GPU generates
/// the same ones on the device).
pub fn bench_operands(size: usize) -> (Vec<i8>, Vec<i8>) {
    let seeded = SeededGemm::new(&BENCH_SEED, size as u32, size as u32);
    let mut a = vec![0i8; size * size];
    let mut b = vec![0i8; size * size];
    SeededGemm::fill(seeded.seed_a, 0, &mut a);
    SeededGemm::fill(seeded.seed_b, 0, &mut b);
    (a, b)
}

/// The seed of `bench`'s GEMM operands.
pub const BENCH_SEED: [u8; 32] = [0xbe; 32];

/// Refuses operand buffers whose lengths do not match the GEMM shape.
pub fn check_gemm_shape(
    a: &[i8],
    b: &[i8],
    m: usize,
    n: usize,
    k: usize,
) -> Result<(), EngineError> {
    if a.len() != m * k || b.len() != k * n {
        return Err(EngineError::Shape(format!(
            "A has {} elements and B {}, but m={m} n={n} k={k} needs {} and {}",
            a.len(),
            b.len(),
            m * k,
            k * n
        )));
    }
    Ok(())
}

/// Refuses a chain whose length is not a whole number of leaves.
pub fn check_chain_shape(steps: u32, leaf_every: u32) -> Result<(), EngineError> {
    if leaf_every == 0 || !steps.is_multiple_of(leaf_every) {
        return Err(EngineError::Shape(format!(
            "{steps} steps are not a multiple of {leaf_every}"
        )));
    }
    Ok(())
}

/// Computes shard `shard` of `shards` on `backend` (on one of its devices). GEMM results are checked
/// with one Freivalds round before they are returned: a faulty device must not get its owner slashed.
pub fn compute_shard(
    backend: &dyn Backend,
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<ShardOutput, EngineError> {
    Ok(backend.shard(kernel, input, shards, shard)?.output)
}

/// A gemm_i8 shard on the host: operands generated or sliced on the CPU, the backend's GEMM,
/// Freivalds' check and the Merkle root on the CPU. Every backend's fallback, and the CPU's pipeline.
pub fn host_gemm_shard(
    backend: &(impl Backend + ?Sized),
    shard: &GemmShard,
    phases: &mut Phases,
) -> Result<ShardOutput, EngineError> {
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
            Err(EngineError::SelfCheck(format!(
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

/// The output's Merkle root, its time added to the hash phase.
fn hash_timed(kernel: &Kernel, bytes: Vec<u8>, phases: &mut Phases) -> ShardOutput {
    Phases::timed(&mut phases.hash, || ShardOutput::hashed(kernel, bytes))
}
