//! A kernel and its sizes as command-line flags, and seeds as hex: what the worker's `compute` and the
//! client CLI's `post` and `verify` take.
use clap::{Args, ValueEnum};
use gpushare_core::kernels::Kernel;

use crate::error::EngineError;

/// The kernels by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelName {
    GemmI8,
    Sha256Chain,
    MonteCarlo,
}

/// A kernel and its sizes, as flags.
#[derive(Args, Debug, Clone)]
pub struct KernelArgs {
    #[arg(long, value_enum)]
    pub kernel: KernelName,
    /// gemm_i8: rows of A and C.
    #[arg(long, default_value_t = 256)]
    pub m: u32,
    /// gemm_i8: columns of B and C.
    #[arg(long, default_value_t = 256)]
    pub n: u32,
    /// gemm_i8: columns of A, rows of B.
    #[arg(long, default_value_t = 256)]
    pub k: u32,
    /// sha256_chain: SHA-256 iterations per shard.
    #[arg(long, default_value_t = 1 << 16)]
    pub steps: u32,
    /// sha256_chain: one leaf every this many iterations.
    #[arg(long, default_value_t = 1 << 10)]
    pub leaf_every: u32,
    /// monte_carlo: blocks in the whole job.
    #[arg(long, default_value_t = 64)]
    pub blocks: u32,
    /// monte_carlo: samples per block.
    #[arg(long, default_value_t = 1 << 16)]
    pub samples_per_block: u32,
}

impl KernelArgs {
    /// The kernel these arguments describe.
    pub fn kernel(&self) -> Kernel {
        match self.kernel {
            KernelName::GemmI8 => Kernel::GemmI8 {
                m: self.m,
                n: self.n,
                k: self.k,
            },
            KernelName::Sha256Chain => Kernel::Sha256Chain {
                steps: self.steps,
                leaf_every: self.leaf_every,
            },
            KernelName::MonteCarlo => Kernel::MonteCarlo {
                blocks: self.blocks,
                samples_per_block: self.samples_per_block,
            },
        }
    }
}

/// A 32-byte seed from 64 hex digits.
pub fn parse_seed(text: &str) -> Result<[u8; 32], EngineError> {
    let bytes =
        hex::decode(text).map_err(|e| EngineError::InvalidArgument(format!("seed: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        EngineError::InvalidArgument(format!("seed: {} bytes, need 32", b.len()))
    })
}
