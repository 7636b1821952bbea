//! The reference computations the backends are checked against: a shard leaf by leaf from the core
//! crate's definitions, and the textbook GEMM.
use gpushare_core::embedding::forward::run_sequence;
use gpushare_core::embedding::layout::{TokenBatch, sequence_output, shard_sequences};
use gpushare_core::kernels::{DataGemm, Kernel, KernelError, gemm_leaf, seeded_leaf};
use rayon::prelude::*;

use crate::error::EngineError;
use crate::shard::{Input, ShardOutput, embedding_input};

/// The textbook triple loop, kept as the baseline the benchmark compares against.
pub fn gemm_i8_naive(a: &[i8], b: &[i8], m: usize, n: usize, k: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for p in 0..k {
                acc += i32::from(a[i * k + p]) * i32::from(b[p * n + j]);
            }
            c[i * n + j] = acc;
        }
    }
    c
}

/// The shard's output straight from the reference definitions, leaf by leaf — seeded leaves with
/// `seeded_leaf`, the function the program's spot-checks run (slow; for self-tests and checks).
pub fn reference_shard(
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<ShardOutput, EngineError> {
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
        (
            Input::Embedding { .. },
            Kernel::Embedding {
                dims,
                sequences,
                tokens,
                ..
            },
        ) => {
            let (data, model, job) = embedding_input(input, dims)?;
            let batch = TokenBatch::from_bytes(data, sequences, tokens)?;
            let runs: Result<Vec<Vec<u8>>, EngineError> = shard_sequences(sequences, shards, shard)
                .into_par_iter()
                .map(|i| {
                    let run = run_sequence(model, batch.sequence(i))?;
                    Ok(sequence_output(model, &run, job))
                })
                .collect();
            runs?.concat()
        }
        (Input::Embedding { .. }, _) => return Err(KernelError::SeedOnly.into()),
        (Input::Seed(_), Kernel::Embedding { .. }) => return Err(KernelError::DataOnly.into()),
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
