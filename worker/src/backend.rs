//! The compute backends' common interface, and the choice between them (GPU when usable, else CPU).
use std::ops::Range;
use std::sync::Arc;

use gpushare_core::kernels::{Kernel, SeededGemm};

use crate::cpu::CpuBackend;
use crate::devices::{Devices, GpuPool};
use crate::engine::{self, GemmShard, Input, Phases, ShardOutput, ShardRun};
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

    /// Shard `shard` of `shards` end to end (see [`engine::compute_shard`]), with its phases and
    /// the device that computed it.
    fn shard(
        &self,
        kernel: Kernel,
        input: &Input,
        shards: u32,
        shard: u32,
    ) -> Result<ShardRun, WorkerError> {
        engine::run_shard(self, kernel, input, shards, shard)
    }

    /// The bare GEMM of seeded size³ operands: the fastest of `repeats` runs after a warm-up (on a
    /// GPU, device time with the operands already there).
    fn bare_gemm_seconds(&self, size: usize, repeats: u32) -> Result<f64, WorkerError> {
        let (a, b) = benchmark_operands(size);
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

/// The seeded size×size operands A and B every GEMM benchmark uses (the GPU generates the same ones
/// on the device).
pub fn benchmark_operands(size: usize) -> (Vec<i8>, Vec<i8>) {
    let seeded = SeededGemm::new(&BENCHMARK_SEED, size as u32, size as u32);
    let mut a = vec![0i8; size * size];
    let mut b = vec![0i8; size * size];
    SeededGemm::fill(seeded.seed_a, 0, &mut a);
    SeededGemm::fill(seeded.seed_b, 0, &mut b);
    (a, b)
}

/// The seed of the benchmark's operands.
pub const BENCHMARK_SEED: [u8; 32] = [0xbe; 32];

/// Where the worker computes: the backend, and which GPUs with how much of their memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendOptions {
    pub choice: BackendChoice,
    pub devices: Devices,
    /// Device memory one shard may use, bytes [default: what is free].
    pub device_memory_limit: Option<u64>,
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The GPUs when one is usable, else the CPU.
    #[default]
    Auto,
    Cpu,
    Gpu,
}

/// The backend `options` ask for: the chosen GPUs as one pool, or the CPU; `Auto` logs why it fell
/// back to the CPU.
pub fn select(options: &BackendOptions) -> Result<Arc<dyn Backend>, WorkerError> {
    let pool = || GpuPool::open(&options.devices, options.device_memory_limit);
    match options.choice {
        BackendChoice::Cpu => Ok(Arc::new(CpuBackend::new())),
        BackendChoice::Gpu => Ok(Arc::new(pool()?)),
        BackendChoice::Auto => match pool() {
            Ok(gpus) => {
                tracing::info!(backend = %gpus.name(), "using the GPU backend");
                Ok(Arc::new(gpus))
            }
            Err(why) => {
                let cpu = CpuBackend::new();
                tracing::info!(reason = %why, backend = %cpu.name(), "no usable GPU; using the CPU backend");
                Ok(Arc::new(cpu))
            }
        },
    }
}

/// Every GPU that opens here, each on its own.
pub fn available_gpus() -> Vec<Arc<GpuBackend>> {
    match GpuPool::open(&Devices::All, None) {
        Ok(pool) => pool.into_devices().into_iter().map(Arc::new).collect(),
        Err(why) => {
            tracing::info!(reason = %why, "GPU backend unavailable");
            Vec::new()
        }
    }
}

/// Every backend usable here: the CPU always, then every GPU on its own.
pub fn available() -> Vec<Arc<dyn Backend>> {
    let mut backends: Vec<Arc<dyn Backend>> = vec![Arc::new(CpuBackend::new())];
    backends.extend(
        available_gpus()
            .into_iter()
            .map(|gpu| gpu as Arc<dyn Backend>),
    );
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
