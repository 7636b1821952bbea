//! `selftest`: every kernel on every available backend against the reference definitions, on
//! small shapes with ragged edges; one PASS or FAIL line each.
use gpushare_core::kernels::Kernel;

use std::sync::Arc;

use crate::backend::Backend;
use crate::cpu::CpuBackend;
use crate::embed::seeded_embedding_case;
use crate::error::EngineError;
use crate::gpu::GpuBackend;
use crate::reference::reference_shard;
use crate::select;
use crate::shard::Input;

/// The cases: (label, kernel, input, shards, shard).
pub fn cases() -> Vec<(&'static str, Kernel, Input, u32, u32)> {
    let seed = [0x5e; 32];
    let data: Vec<u8> = (0..(37 * 29 + 29 * 23))
        .map(|i| (i * 97 % 256) as u8)
        .collect();
    vec![
        (
            "gemm_i8 seeded, ragged",
            Kernel::GemmI8 {
                m: 67,
                n: 45,
                k: 129,
            },
            Input::Seed(seed),
            3,
            1,
        ),
        (
            "gemm_i8 seeded, square",
            Kernel::GemmI8 {
                m: 128,
                n: 128,
                k: 256,
            },
            Input::Seed(seed),
            2,
            0,
        ),
        (
            "gemm_i8 data",
            Kernel::GemmI8 {
                m: 37,
                n: 23,
                k: 29,
            },
            Input::Data(data),
            1,
            0,
        ),
        (
            "sha256_chain",
            Kernel::Sha256Chain {
                steps: 4096,
                leaf_every: 64,
            },
            Input::Seed(seed),
            4,
            3,
        ),
        (
            "monte_carlo",
            Kernel::MonteCarlo {
                blocks: 40,
                samples_per_block: 10_001,
            },
            Input::Seed(seed),
            3,
            2,
        ),
        {
            let (kernel, input) = seeded_embedding_case(2, 5, 11);
            ("embedding, seeded model", kernel, input, 2, 1)
        },
    ]
}

/// Whether `backend` reproduces the reference for one case.
pub fn check(
    backend: &dyn Backend,
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<bool, EngineError> {
    let reference = reference_shard(kernel, input, shards, shard)?;
    let computed = crate::backend::compute_shard(backend, kernel, input, shards, shard)?;
    Ok(computed.bytes == reference.bytes && computed.root == reference.root)
}

/// Device memory budget of the panelled GPU runs: the larger cases then run in several row panels.
const PANELLED_BUDGET_BYTES: u64 = 176 << 10;

/// Every backend to check, labelled: the CPU, each GPU, and each GPU again with a memory budget
/// that splits shards into panels.
fn labelled_backends() -> Vec<(String, Arc<dyn Backend>)> {
    let mut backends: Vec<(String, Arc<dyn Backend>)> =
        vec![(CpuBackend::new().name(), Arc::new(CpuBackend::new()))];
    for gpu in select::available_gpus() {
        backends.push((gpu.name(), Arc::clone(&gpu) as Arc<dyn Backend>));
        match GpuBackend::new(gpu.ordinal()) {
            Ok(limited) => backends.push((
                format!("{}, panelled", gpu.name()),
                Arc::new(limited.with_memory_limit(Some(PANELLED_BUDGET_BYTES))),
            )),
            Err(error) => tracing::warn!(%error, "panelled selftest skipped"),
        }
    }
    backends
}

/// Runs every case on every backend; fails if any case fails.
pub fn run() -> Result<(), EngineError> {
    let mut failures = 0;
    for (name, backend) in labelled_backends() {
        for (label, kernel, input, shards, shard) in cases() {
            let verdict = match check(backend.as_ref(), kernel, &input, shards, shard) {
                Ok(true) => "PASS".to_string(),
                Ok(false) => "FAIL (differs from the reference)".to_string(),
                Err(error) => format!("FAIL ({error})"),
            };
            if verdict != "PASS" {
                failures += 1;
            }
            println!("{verdict:<4} {name:<28} {label}");
        }
    }
    if failures > 0 {
        return Err(EngineError::SelftestFailed(failures));
    }
    Ok(())
}
