//! Computes one shard of a job on a backend: generates or reads the inputs, runs the kernel, lays
//! the output out as the core crate defines it, self-checks GEMM results with Freivalds, and builds
//! the Merkle tree the commitment is made to.
use gpushare_core::kernels::{
    DataGemm, Kernel, KernelError, SeededGemm, gemm_leaf, monte_carlo_key, part, seeded_leaf,
    sha256_chain_key, sha256_chain_start,
};
use gpushare_core::merkle::MerkleTree;
use rayon::prelude::*;

use crate::backend::Backend;
use crate::error::WorkerError;
use crate::freivalds;

/// A job's input.
#[derive(Clone, Debug)]
pub enum Input {
    /// Generated from the seed by the kernel's standard generator.
    Seed([u8; 32]),
    /// Downloaded bytes (gemm_i8 only: A then B, i8, row-major).
    Data(Vec<u8>),
}

/// One computed shard: its output bytes and their Merkle tree.
#[derive(Clone, Debug)]
pub struct ShardOutput {
    pub bytes: Vec<u8>,
    pub tree: MerkleTree,
}

impl ShardOutput {
    fn new(kernel: &Kernel, bytes: Vec<u8>) -> Self {
        let tree = MerkleTree::from_data(&bytes, kernel.leaf_bytes());
        Self { bytes, tree }
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
) -> Result<GemmShardOperands, WorkerError> {
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
    };
    Ok(GemmShardOperands {
        a_rows,
        b,
        rows: (rows.end - rows.start) as usize,
    })
}

fn seed_of(input: &Input) -> Result<&[u8; 32], WorkerError> {
    match input {
        Input::Seed(seed) => Ok(seed),
        Input::Data(_) => Err(KernelError::SeedOnly.into()),
    }
}

fn i32s_to_le(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Computes shard `shard` of `shards` on `backend`. GEMM results are checked with one Freivalds
/// round before they are returned: a faulty device must not get its owner slashed.
pub fn compute_shard(
    backend: &dyn Backend,
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<ShardOutput, WorkerError> {
    kernel.shard_output_bytes(shards, shard)?;
    let bytes = match kernel {
        Kernel::GemmI8 { m, n, k } => {
            let ops = gemm_operands(input, (m, n, k), shards, shard)?;
            let c = backend.gemm_i8(&ops.a_rows, &ops.b, ops.rows, n as usize, k as usize)?;
            if !freivalds::check(
                &ops.a_rows,
                &ops.b,
                &c,
                (ops.rows, n as usize, k as usize),
                1,
                &mut rand::rng(),
            ) {
                return Err(WorkerError::SelfCheck(format!(
                    "{} produced a wrong gemm_i8 result",
                    backend.name()
                )));
            }
            i32s_to_le(&c)
        }
        Kernel::Sha256Chain { steps, leaf_every } => {
            let seed = seed_of(input)?;
            let (start, key) = (
                sha256_chain_start(seed, shard),
                sha256_chain_key(seed, shard),
            );
            let states = backend.sha256_chains(&[start], &key, steps, leaf_every)?;
            states.into_iter().flatten().flatten().collect()
        }
        Kernel::MonteCarlo {
            blocks,
            samples_per_block,
        } => {
            let range = part(u64::from(blocks), shards, shard);
            let key = monte_carlo_key(seed_of(input)?);
            let hits = backend.monte_carlo(
                key,
                range.start as u32..range.end as u32,
                samples_per_block,
            )?;
            hits.iter().flat_map(|h| h.to_le_bytes()).collect()
        }
    };
    Ok(ShardOutput::new(&kernel, bytes))
}

/// The shard's output straight from the reference definitions, leaf by leaf — seeded leaves with
/// `seeded_leaf`, the function the program's spot-checks run (slow; for self-tests and checks).
pub fn reference_shard(
    kernel: Kernel,
    input: &Input,
    shards: u32,
    shard: u32,
) -> Result<ShardOutput, WorkerError> {
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
    Ok(ShardOutput::new(&kernel, bytes))
}
