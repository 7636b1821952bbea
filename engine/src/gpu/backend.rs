//! The GPU as a [`Backend`]: each kernel on the device, small work on the CPU, gemm_i8 shards
//! through the device-resident pipeline and embedding shards through the embedding pipeline.
use std::ops::Range;

use cudarc::driver::{LaunchConfig, PushKernelArg};
use gpushare_core::embedding::layout::{TokenBatch, shard_sequences};
use gpushare_core::embedding::model::Model;

use crate::backend::{Backend, ChainKey, check_chain_shape, check_gemm_shape, host_gemm_shard};
use crate::error::{EngineError, GpuError};
use crate::shard::{GemmShard, Phases, ShardOutput};

use crate::cuda;
use crate::embed::embedding_shard_output;

use super::nvrtc::grid;
use crate::hashing::{digest_bytes, state_words};

use super::{
    GPU_CHAINS_PER_CPU_THREAD, GPU_MIN_MONTE_CARLO_SAMPLES, GpuBackend, OperandLayout, guarded,
};

impl Backend for GpuBackend {
    fn name(&self) -> String {
        let blas = if self.uses_cublas() {
            ", cuBLAS int8"
        } else {
            ""
        };
        format!("cuda {} ({}{blas})", self.ordinal, self.device)
    }

    fn memory_mib(&self) -> u64 {
        guarded(|| Ok(self.context.total_mem()?)).map_or(0, |bytes| bytes as u64 >> 20)
    }

    fn bare_gemm_seconds(&self, size: usize, repeats: u32) -> Result<f64, EngineError> {
        let timed = match self.time_device_gemm(size, true, repeats)? {
            Some(timed) => Some(timed),
            None => self.time_device_gemm(size, false, repeats)?,
        };
        timed
            .map(|(seconds, _)| seconds)
            .ok_or_else(|| GpuError::TooLarge.into())
    }

    fn gemm_i8(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, EngineError> {
        check_gemm_shape(a, b, m, n, k)?;
        if m == 0 || n == 0 || k == 0 {
            return self.cpu.gemm_i8(a, b, m, n, k);
        }
        let layout = OperandLayout::new(m as u64, n as u64, k as u64);
        Ok(self.gemm_host_operands(self.blas_for(&layout), a, b, m, n, k)?)
    }

    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        key: &ChainKey,
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, EngineError> {
        check_chain_shape(steps, leaf_every)?;
        if starts.len() < GPU_CHAINS_PER_CPU_THREAD * rayon::current_num_threads() {
            return self.cpu.sha256_chains(starts, key, steps, leaf_every);
        }
        let leaves = steps / leaf_every;
        let chains = i32::try_from(starts.len()).map_err(|_| GpuError::TooLarge)?;
        let words: Vec<u32> = starts.iter().flat_map(state_words).collect();
        let key_words: [u32; 4] = std::array::from_fn(|i| {
            u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
        });
        let out = guarded(|| {
            self.context.bind_to_thread()?;
            let s = &self.stream;
            let starts_d = s.clone_htod(&words)?;
            let mut out_d = s.alloc_zeros::<u32>(starts.len() * leaves as usize * 8)?;
            let mut launch = s.launch_builder(&self.kernels.sha256_chains);
            launch
                .arg(&starts_d)
                .arg(&mut out_d)
                .arg(&key_words[0])
                .arg(&key_words[1])
                .arg(&key_words[2])
                .arg(&key_words[3])
                .arg(&chains)
                .arg(&leaves)
                .arg(&leaf_every);
            // SAFETY: the arguments match the kernel's signature and the buffers' sizes.
            unsafe { launch.launch(grid(starts.len() as u64, cuda::WIDE_THREADS)?) }?;
            Ok(s.clone_dtoh(&out_d)?)
        })?;
        Ok(out
            .chunks(leaves as usize * 8)
            .map(|chain| chain.chunks(8).map(digest_bytes).collect())
            .collect())
    }

    fn monte_carlo(
        &self,
        key: [u32; 2],
        blocks: Range<u32>,
        samples: u32,
    ) -> Result<Vec<u32>, EngineError> {
        let count = blocks.end.saturating_sub(blocks.start);
        if u64::from(count) * u64::from(samples) < GPU_MIN_MONTE_CARLO_SAMPLES {
            return self.cpu.monte_carlo(key, blocks, samples);
        }
        Ok(guarded(|| {
            self.context.bind_to_thread()?;
            let s = &self.stream;
            let mut hits_d = s.alloc_zeros::<u32>(count as usize)?;
            let config = LaunchConfig {
                grid_dim: (count, 1, 1),
                block_dim: (cuda::WIDE_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = s.launch_builder(&self.kernels.monte_carlo);
            launch
                .arg(&key[0])
                .arg(&key[1])
                .arg(&blocks.start)
                .arg(&samples)
                .arg(&mut hits_d);
            // SAFETY: the arguments match the kernel's signature and the buffer's size.
            unsafe { launch.launch(config) }?;
            Ok(s.clone_dtoh(&hits_d)?)
        })?)
    }

    fn embedding_shard(
        &self,
        model: &Model,
        batch: &TokenBatch,
        job: &[u8; 32],
        shards: u32,
        shard: u32,
    ) -> Result<Vec<u8>, EngineError> {
        if !self.embeds_on_device() || model.shape.head_dim() > cuda::EMBEDDING_MAX_HEAD_DIM {
            return embedding_shard_output(model, batch, job, shards, shard);
        }
        let sequences: Vec<&[u32]> = shard_sequences(batch.len() as u32, shards, shard)
            .map(|i| batch.sequence(i))
            .collect();
        self.device_embeddings(model, &sequences, job)
    }

    /// The device-resident pipeline; the host pipeline when the device has no room for a panel.
    fn gemm_shard(
        &self,
        shard: &GemmShard,
        phases: &mut Phases,
    ) -> Result<ShardOutput, EngineError> {
        match self.device_gemm_shard(shard, phases) {
            Err(EngineError::Gpu(GpuError::NoRoom | GpuError::TooLarge)) => {
                tracing::info!(
                    device = self.ordinal,
                    "shard too large for the device's free memory; computing it on the host"
                );
                *phases = Phases::default();
                host_gemm_shard(self, shard, phases)
            }
            result => result,
        }
    }
}
