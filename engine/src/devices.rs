//! Every GPU of the machine: which devices the worker uses (`--devices all|0,2`), and the pool that
//! runs shards on all of them at once, each device taking one shard at a time.
use std::ops::Range;
use std::str::FromStr;
use std::sync::{Condvar, Mutex, PoisonError};

use gpushare_core::kernels::Kernel;

use crate::backend::{Backend, ChainKey};
use crate::error::{EngineError, GpuError};
use crate::gpu::GpuBackend;
use crate::shard::{GemmShard, Input, Phases, ShardOutput, ShardRun};

/// Which GPUs to use.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Devices {
    /// Every device the driver shows.
    #[default]
    All,
    /// These ordinals.
    List(Vec<usize>),
}

impl FromStr for Devices {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim() == "all" {
            return Ok(Devices::All);
        }
        let ordinals = text
            .split(',')
            .map(|part| {
                part.trim().parse::<usize>().map_err(|_| {
                    format!("devices: {part:?} is not a device ordinal (use `all` or e.g. `0,2`)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Devices::List(ordinals))
    }
}

impl TryFrom<String> for Devices {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl Devices {
    /// The ordinals to open, given how many devices there are.
    pub fn ordinals(&self, count: usize) -> Vec<usize> {
        match self {
            Devices::All => (0..count).collect(),
            Devices::List(list) => list.clone(),
        }
    }
}

/// Several GPUs behind one backend: each call takes a free device (waiting for one when all are
/// busy) and gives it back when done, so concurrent shards spread over every device.
pub struct GpuPool {
    devices: Vec<GpuBackend>,
    busy: Mutex<Vec<bool>>,
    freed: Condvar,
}

impl GpuPool {
    /// Opens the chosen devices; a device named explicitly must open, `all` skips (and logs) ones
    /// that do not.
    pub fn open(choice: &Devices, memory_limit: Option<u64>) -> Result<Self, GpuError> {
        let count = GpuBackend::device_count();
        let mut devices = Vec::new();
        for ordinal in choice.ordinals(count) {
            match GpuBackend::new(ordinal) {
                Ok(device) => devices.push(device.with_memory_limit(memory_limit)),
                Err(error) if *choice == Devices::All => {
                    tracing::warn!(ordinal, %error, "GPU unusable; skipped");
                }
                Err(error) => return Err(error),
            }
        }
        if devices.is_empty() {
            return Err(GpuError::NoDevice);
        }
        let busy = Mutex::new(vec![false; devices.len()]);
        Ok(Self {
            devices,
            busy,
            freed: Condvar::new(),
        })
    }

    /// The opened devices, each on its own.
    pub fn into_devices(self) -> Vec<GpuBackend> {
        self.devices
    }

    /// Runs `work` on a free device, waiting for one.
    fn on_free_device<T>(&self, work: impl FnOnce(&GpuBackend) -> T) -> T {
        let lease = self.lease();
        work(&self.devices[lease.index])
    }

    fn lease(&self) -> Lease<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(index) = busy.iter().position(|taken| !taken) {
                busy[index] = true;
                return Lease { pool: self, index };
            }
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// One device taken from the pool, given back when dropped (also when the work panics).
struct Lease<'a> {
    pool: &'a GpuPool,
    index: usize,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.pool
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)[self.index] = false;
        self.pool.freed.notify_one();
    }
}

impl Backend for GpuPool {
    fn name(&self) -> String {
        match self.devices.as_slice() {
            [one] => one.name(),
            all => format!(
                "cuda x{} ({})",
                all.len(),
                all.iter()
                    .map(|d| d.device_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn device_names(&self) -> Vec<String> {
        self.devices.iter().map(GpuBackend::name).collect()
    }

    fn memory_mib(&self) -> u64 {
        self.devices.iter().map(Backend::memory_mib).sum()
    }

    fn gemm_i8(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, EngineError> {
        self.on_free_device(|gpu| gpu.gemm_i8(a, b, m, n, k))
    }

    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        key: &ChainKey,
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, EngineError> {
        self.on_free_device(|gpu| gpu.sha256_chains(starts, key, steps, leaf_every))
    }

    fn monte_carlo(
        &self,
        key: [u32; 2],
        blocks: Range<u32>,
        samples: u32,
    ) -> Result<Vec<u32>, EngineError> {
        self.on_free_device(|gpu| gpu.monte_carlo(key, blocks, samples))
    }

    fn gemm_shard(
        &self,
        shard: &GemmShard,
        phases: &mut Phases,
    ) -> Result<ShardOutput, EngineError> {
        self.on_free_device(|gpu| gpu.gemm_shard(shard, phases))
    }

    /// A whole shard on one free device, named in the output. Embedding shards run on the host
    /// without holding a device when the devices' start-up probe kept them off the device, so that
    /// they never keep a GPU from the shards that use it.
    fn shard(
        &self,
        kernel: Kernel,
        input: &Input,
        shards: u32,
        shard: u32,
    ) -> Result<ShardRun, EngineError> {
        if let Kernel::Embedding { .. } = kernel
            && !self.devices.iter().all(GpuBackend::embeds_on_device)
        {
            return crate::cpu::CpuBackend::new().shard(kernel, input, shards, shard);
        }
        self.on_free_device(|gpu| gpu.shard(kernel, input, shards, shard))
    }

    fn bare_gemm_seconds(&self, size: usize, repeats: u32) -> Result<f64, EngineError> {
        self.on_free_device(|gpu| gpu.bare_gemm_seconds(size, repeats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_parse_and_bad_ones_are_refused() {
        assert_eq!("all".parse::<Devices>(), Ok(Devices::All));
        assert_eq!("0, 2".parse::<Devices>(), Ok(Devices::List(vec![0, 2])));
        assert!("0,x".parse::<Devices>().unwrap_err().contains("\"x\""));
        assert_eq!(Devices::All.ordinals(3), vec![0, 1, 2]);
        assert_eq!(Devices::List(vec![1]).ordinals(3), vec![1]);
    }
}
