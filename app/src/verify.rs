//! Checks a shard's output bytes before a client uses them: the Merkle root must be the one the chain
//! accepted, and the contents must be right on their own — Freivalds for gemm_i8, reference leaves at
//! random positions for seeded kernels, and for embeddings sequences recomputed in full (embedding
//! and trace root) on this machine.
use gpushare::state::{Job, JobInput, Shard};
use gpushare_core::embedding::layout::{
    TokenBatch, sequence_output, sequence_output_bytes, shard_sequences,
};
use gpushare_core::embedding::model::Model;
use gpushare_core::kernels::{Kernel, seeded_leaf};
use gpushare_core::merkle::MerkleTree;
use gpushare_engine::embed::HostSteps;
use gpushare_engine::freivalds;
use gpushare_engine::shard::{Input, embedding_input, gemm_operands};
use rand::Rng;

/// Freivalds rounds on gemm_i8 results: a wrong product passes with probability ≤ 2⁻⁶¹ per round.
const FREIVALDS_ROUNDS: u32 = 2;
/// Leaves of a seeded non-GEMM shard, or sequences of an embedding shard, recomputed by the client.
const REFERENCE_SAMPLES: usize = 8;

/// Why a result was rejected.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the shard has no verified result on chain")]
    NotVerified,
    #[error("{actual} bytes, the kernel's shard has {expected}")]
    WrongLength { expected: u64, actual: u64 },
    #[error("Merkle root {0} is not the root the chain accepted")]
    RootMismatch(String),
    #[error("Freivalds' check failed: C is not A·B")]
    Freivalds,
    #[error("leaf {0} differs from the reference")]
    ReferenceMismatch(u64),
    #[error("the data input (and an embedding job's model) is needed to check a data job's result")]
    MissingData,
    #[error("sequence {0} differs from this machine's run")]
    SequenceMismatch(usize),
    #[error("kernel: {0}")]
    Kernel(String),
}

/// Verifies `bytes` as the output of `shard` of `job`; `data` is the input of a data job (with the
/// model, for an embedding job).
pub fn verify_shard(
    job: &Job,
    shard: &Shard,
    bytes: &[u8],
    data: Option<&Input>,
) -> Result<(), Rejection> {
    let accepted = shard.accepted_roots();
    if accepted.is_empty() {
        return Err(Rejection::NotVerified);
    }
    let kernel = job.kernel.to_core();
    let (shards, index) = (u32::from(job.shards), u32::from(shard.index));
    let expected = kernel
        .shard_output_bytes(shards, index)
        .map_err(|e| Rejection::Kernel(format!("{e:?}")))?;
    if bytes.len() as u64 != expected {
        return Err(Rejection::WrongLength {
            expected,
            actual: bytes.len() as u64,
        });
    }
    let root = MerkleTree::from_data(bytes, kernel.leaf_bytes()).root();
    if !accepted.contains(&root) {
        return Err(Rejection::RootMismatch(hex::encode(root)));
    }
    let seeded;
    let input = match (job.kernel_seed(&shard.job), &job.input, data) {
        (Some(seed), _, _) => {
            seeded = Input::Seed(seed);
            &seeded
        }
        (None, JobInput::Data { .. }, Some(data)) => data,
        (None, _, _) => return Err(Rejection::MissingData),
    };
    match (kernel, input) {
        (Kernel::GemmI8 { m, n, k }, _) => {
            let ops = gemm_operands(input, (m, n, k), shards, index)
                .map_err(|e| Rejection::Kernel(e.to_string()))?;
            let c: Vec<i32> = bytes
                .chunks_exact(4)
                .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let shape = (ops.rows, n as usize, k as usize);
            if !freivalds::check(
                &ops.a_rows,
                &ops.b,
                &c,
                shape,
                FREIVALDS_ROUNDS,
                &mut rand::rng(),
            ) {
                return Err(Rejection::Freivalds);
            }
            Ok(())
        }
        (_, Input::Seed(seed)) => check_reference_leaves(kernel, seed, shards, index, bytes),
        (
            Kernel::Embedding {
                dims,
                sequences,
                tokens,
                model,
                ..
            },
            _,
        ) => {
            let (data, held, _) =
                embedding_input(input, dims).map_err(|e| Rejection::Kernel(e.to_string()))?;
            if held.identity() != model {
                return Err(Rejection::Kernel(
                    "the model is not the one the job names".into(),
                ));
            }
            let batch = TokenBatch::from_bytes(data, sequences, tokens)
                .map_err(|e| Rejection::Kernel(e.to_string()))?;
            let range = shard_sequences(sequences, shards, index);
            let ids: Vec<&[u32]> = range.map(|i| batch.sequence(i)).collect();
            check_sampled_sequences(held, &ids, &shard.job.to_bytes(), dims, bytes)
        }
        (_, _) => Err(Rejection::Kernel("this kernel takes no data input".into())),
    }
}

/// Recomputes [`REFERENCE_SAMPLES`] distinct sequences of an embedding shard of job `job` (`ids`, in
/// order), chosen at random, or all of them when there are no more, and compares their embedding
/// and trace root with `bytes`.
fn check_sampled_sequences(
    model: &Model,
    ids: &[&[u32]],
    job: &[u8; 32],
    dims: u32,
    bytes: &[u8],
) -> Result<(), Rejection> {
    let record = sequence_output_bytes(dims) as usize;
    let chosen = rand::seq::index::sample(
        &mut rand::rng(),
        ids.len(),
        REFERENCE_SAMPLES.min(ids.len()),
    );
    let steps = HostSteps::new(model);
    for i in chosen {
        let run = steps
            .run_sequence(model, ids[i])
            .map_err(|e| Rejection::Kernel(e.to_string()))?;
        if sequence_output(model, &run, job) != bytes[i * record..(i + 1) * record] {
            return Err(Rejection::SequenceMismatch(i));
        }
    }
    Ok(())
}

/// Recomputes randomly chosen leaves of a seeded shard and compares them with `bytes`.
fn check_reference_leaves(
    kernel: Kernel,
    seed: &[u8; 32],
    shards: u32,
    index: u32,
    bytes: &[u8],
) -> Result<(), Rejection> {
    let leaf_bytes = kernel.leaf_bytes();
    let leaves = bytes.len().div_ceil(leaf_bytes) as u64;
    let leaf =
        |i: u64| &bytes[i as usize * leaf_bytes..((i as usize + 1) * leaf_bytes).min(bytes.len())];
    let mut rng = rand::rng();
    for _ in 0..REFERENCE_SAMPLES {
        let i = rng.random_range(0..leaves);
        let previous = match (kernel, i) {
            (Kernel::Sha256Chain { .. }, 1..) => leaf(i - 1).try_into().ok(),
            _ => None,
        };
        let reference = seeded_leaf(kernel, seed, shards, index, i, previous)
            .map_err(|e| Rejection::Kernel(format!("{e:?}")))?;
        if reference != leaf(i) {
            return Err(Rejection::ReferenceMismatch(i));
        }
    }
    Ok(())
}
