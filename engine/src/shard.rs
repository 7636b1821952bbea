//! What a shard computation takes and gives: a job's input, the gemm_i8 shard and its operands
//! (generated from the seed or sliced from data), the output bytes with their Merkle root, and the
//! time of each phase. How a backend computes a shard is [`crate::backend::Backend::shard`].
use std::ops::Range;
use std::time::Instant;

use gpushare_core::embedding::model::Model;
use gpushare_core::kernels::{DataGemm, Kernel, KernelError, SeededGemm, part};
use gpushare_core::merkle::Hash;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::EngineError;
use crate::hashing;

/// A job's input.
#[derive(Clone, Debug)]
pub enum Input {
    /// Generated from the seed by the kernel's standard generator.
    Seed([u8; 32]),
    /// Downloaded bytes (gemm_i8: A then B, i8, row-major).
    Data(Vec<u8>),
    /// An embedding job's downloaded token batch, the model its kernel names, and the job's address
    /// (every trace root is bound to it).
    Embedding {
        data: Vec<u8>,
        model: std::sync::Arc<gpushare_core::embedding::model::Model>,
        job: [u8; 32],
    },
}

/// An embedding job's token batch, model and address, the model checked to be `dims` wide.
pub fn embedding_input(
    input: &Input,
    dims: u32,
) -> Result<(&[u8], &Model, &[u8; 32]), EngineError> {
    match input {
        Input::Embedding { data, model, job } if model.shape.hidden == dims => {
            Ok((data, model, job))
        }
        Input::Embedding { model, .. } => Err(EngineError::Shape(format!(
            "the model is {} wide, the job asks for {dims}",
            model.shape.hidden
        ))),
        _ => Err(EngineError::InvalidArgument(
            "an embedding job needs its token batch and its model".into(),
        )),
    }
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
) -> Result<GemmShardOperands, EngineError> {
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
        Input::Embedding { .. } => return Err(KernelError::SeedOnly.into()),
    };
    Ok(GemmShardOperands {
        a_rows,
        b,
        rows: (rows.end - rows.start) as usize,
    })
}

pub(crate) fn seed_of(input: &Input) -> Result<&[u8; 32], EngineError> {
    match input {
        Input::Seed(seed) => Ok(seed),
        Input::Data(_) | Input::Embedding { .. } => Err(KernelError::SeedOnly.into()),
    }
}

/// Values laid out little-endian, in parallel.
pub(crate) fn i32s_to_le(values: &[i32]) -> Vec<u8> {
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

/// A computed shard, with the device that computed it and the time of each phase.
#[derive(Clone, Debug)]
pub struct ShardRun {
    pub output: ShardOutput,
    pub phases: Phases,
    pub device: String,
}
