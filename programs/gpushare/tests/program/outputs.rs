//! A provider's output in the spot-check tests: leaves recomputed from the reference on a job's
//! kernel seed (or made up), their RFC 6962 tree, and the proofs of challenged samples.
use gpushare::events::SpotCheckFailed;
use gpushare::instructions::{LeafWitness, SampleProof};
use gpushare::state::Assignment;
use gpushare_core::kernels::{Kernel, job_seed, seeded_leaf};
use gpushare_core::merkle::{MerkleTree, leaf_hash};
use gpushare_core::spot_check::sample_index;

use crate::harness::{Env, JobHandle, ProviderHandle, assignment_address, shard_address};

/// One shard's output: its leaves and their tree.
pub struct Output {
    pub leaves: Vec<Vec<u8>>,
    pub tree: MerkleTree,
}

impl Output {
    pub fn new(leaves: Vec<Vec<u8>>) -> Self {
        let tree = MerkleTree::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l)).collect());
        Self { leaves, tree }
    }

    /// The honest output of shard `shard` of `shards` of `job`, posted with `seed`: leaf by leaf
    /// from the reference on the job's kernel seed.
    pub fn honest(
        kernel: Kernel,
        seed: &[u8; 32],
        job: &JobHandle,
        shards: u32,
        shard: u32,
    ) -> Self {
        let seed = job_seed(seed, &job.job.to_bytes());
        let mut leaves: Vec<Vec<u8>> = Vec::new();
        for leaf in 0..kernel.shard_leaves(shards, shard).unwrap() {
            let previous = leaves.last().and_then(|l| l.as_slice().try_into().ok());
            leaves.push(seeded_leaf(kernel, &seed, shards, shard, leaf, previous).unwrap());
        }
        Self::new(leaves)
    }

    pub fn root(&self) -> [u8; 32] {
        self.tree.root()
    }

    /// Leaf `leaf` with its audit path.
    pub fn witness(&self, leaf: u64) -> LeafWitness {
        LeafWitness {
            leaf: self.leaves[leaf as usize].clone(),
            path: self.tree.audit_path(leaf).unwrap(),
        }
    }

    /// The proof of `sample` for the leaf `challenge` picked (and, chained, the leaf before it).
    pub fn proof(&self, kernel: Kernel, challenge: &[u8; 32], sample: u8) -> SampleProof {
        let leaf = sample_index(challenge, sample, self.tree.size());
        let chained = matches!(kernel, Kernel::Sha256Chain { .. });
        SampleProof {
            sample,
            witness: self.witness(leaf),
            previous: (chained && leaf > 0).then(|| self.witness(leaf - 1)),
        }
    }

    /// The proofs of every sample under `challenge`.
    pub fn proofs(&self, kernel: Kernel, challenge: &[u8; 32], samples: u8) -> Vec<SampleProof> {
        (0..samples)
            .map(|sample| self.proof(kernel, challenge, sample))
            .collect()
    }
}

/// Proves every sample of `replica` of shard 0 of `job` from `output` under its fixed challenge, one
/// transaction per sample, stopping at the first sample that fails.
pub fn prove_all(
    env: &mut Env,
    p: &ProviderHandle,
    job: &JobHandle,
    replica: u8,
    kernel: Kernel,
    output: &Output,
    samples: u8,
) {
    let assignment: Assignment = env.fetch(&assignment_address(&shard_address(&job.job, 0), replica));
    let challenge = assignment.challenge.expect("challenged");
    for proof in output.proofs(kernel, &challenge, samples) {
        let ix = env.prove_ix(p, job, 0, replica, vec![proof]);
        env.send(&[ix], &[&p.wallet.key]).expect("prove");
        if !env.events::<SpotCheckFailed>().is_empty() {
            return;
        }
    }
}
