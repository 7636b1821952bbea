//! Which backend the worker computes on: the GPUs as one pool when one is usable, else the CPU; and
//! every backend usable here, for the selftest and the benchmark.
use std::sync::Arc;

use crate::backend::Backend;
use crate::cpu::CpuBackend;
use crate::devices::{Devices, GpuPool};
use crate::error::EngineError;
use crate::gpu::GpuBackend;

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
pub fn select(options: &BackendOptions) -> Result<Arc<dyn Backend>, EngineError> {
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
