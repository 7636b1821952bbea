//! The compute backends' common interface, and the choice between them (GPU when usable, else CPU).
use std::ops::Range;
use std::sync::Arc;

use crate::cpu::CpuBackend;
use crate::engine::{self, GemmShard, Phases, ShardOutput};
use crate::error::WorkerError;
use crate::gpu::GpuBackend;

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
    ) -> Result<Vec<i32>, WorkerError>;

    /// For each start state, the states after every `leaf_every` keyed SHA-256 steps
    /// (`state ← sha256(state ‖ key)`) up to `steps`.
    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        key: &ChainKey,
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, WorkerError>;

    /// Hit counts of the Monte Carlo blocks `blocks`, `samples` points each, under Philox key `key`.
    fn monte_carlo(
        &self,
        key: [u32; 2],
        blocks: Range<u32>,
        samples: u32,
    ) -> Result<Vec<u32>, WorkerError>;

    /// A whole gemm_i8 shard: operands, GEMM, Freivalds' check, output bytes and Merkle root, each
    /// phase's time added to `phases`. By default the host pipeline around [`Backend::gemm_i8`].
    fn gemm_shard(
        &self,
        shard: &GemmShard,
        phases: &mut Phases,
    ) -> Result<ShardOutput, WorkerError> {
        engine::host_gemm_shard(self, shard, phases)
    }
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The GPU when one is usable, else the CPU.
    Auto,
    Cpu,
    Gpu,
}

/// The backend for `choice`; `Auto` logs why it fell back to the CPU.
pub fn select(choice: BackendChoice) -> Result<Arc<dyn Backend>, WorkerError> {
    match choice {
        BackendChoice::Cpu => Ok(Arc::new(CpuBackend::new())),
        BackendChoice::Gpu => Ok(Arc::new(GpuBackend::new(0)?)),
        BackendChoice::Auto => match GpuBackend::new(0) {
            Ok(gpu) => {
                tracing::info!(backend = %gpu.name(), "using the GPU backend");
                Ok(Arc::new(gpu))
            }
            Err(why) => {
                let cpu = CpuBackend::new();
                tracing::info!(reason = %why, backend = %cpu.name(), "no usable GPU; using the CPU backend");
                Ok(Arc::new(cpu))
            }
        },
    }
}

/// Every backend usable here: the CPU always, the GPU when it starts.
pub fn available() -> Vec<Arc<dyn Backend>> {
    let mut backends: Vec<Arc<dyn Backend>> = vec![Arc::new(CpuBackend::new())];
    match GpuBackend::new(0) {
        Ok(gpu) => backends.push(Arc::new(gpu)),
        Err(why) => tracing::info!(reason = %why, "GPU backend unavailable"),
    }
    backends
}

/// Refuses operand buffers whose lengths do not match the GEMM shape.
pub fn check_gemm_shape(
    a: &[i8],
    b: &[i8],
    m: usize,
    n: usize,
    k: usize,
) -> Result<(), WorkerError> {
    if a.len() != m * k || b.len() != k * n {
        return Err(WorkerError::Shape(format!(
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
pub fn check_chain_shape(steps: u32, leaf_every: u32) -> Result<(), WorkerError> {
    if leaf_every == 0 || !steps.is_multiple_of(leaf_every) {
        return Err(WorkerError::Shape(format!(
            "{steps} steps are not a multiple of {leaf_every}"
        )));
    }
    Ok(())
}
