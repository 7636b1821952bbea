//! Spot-check proofs: for a challenged slot, the sampled leaves of the worker's own output with their
//! RFC 6962 audit paths (and the previous leaf where the kernel chains leaves), packed into batches
//! that each fit one transaction's size and the compute budget of the leaves it recomputes.
use anchor_lang::prelude::borsh;
use gpushare::instructions::{LeafWitness, SampleProof};
use gpushare_core::kernels::Kernel;
use gpushare_core::merkle::MerkleTree;
use gpushare_core::spot_check::{
    LEAF_BUDGET_UNITS, PROOF_BYTES_PER_TRANSACTION, leaf_cost_units, sample_index,
};
use gpushare_engine::hashing;

use crate::error::WorkerError;

/// The proofs of every sample in `0..samples` not yet in `proven` (bit i = sample i proven).
pub fn proofs(
    kernel: &Kernel,
    output: &[u8],
    challenge: &[u8; 32],
    samples: u8,
    proven: u64,
) -> Result<Vec<SampleProof>, WorkerError> {
    let leaf_bytes = kernel.leaf_bytes();
    let tree = hashing::tree(output, leaf_bytes);
    let leaves = tree.size();
    let witness = |index: u64| witness(output, &tree, leaf_bytes, index);
    let chained = matches!(kernel, Kernel::Sha256Chain { .. });
    (0..samples)
        .filter(|sample| proven & (1u64 << sample) == 0)
        .map(|sample| {
            let index = sample_index(challenge, sample, leaves);
            Ok(SampleProof {
                sample,
                witness: witness(index)?,
                previous: match (chained, index) {
                    (true, 1..) => Some(witness(index - 1)?),
                    _ => None,
                },
            })
        })
        .collect()
}

/// Leaf `index` of `output` (cut into `leaf_bytes`-byte leaves, whose tree is `tree`) with its
/// audit path.
pub fn witness(
    output: &[u8],
    tree: &MerkleTree,
    leaf_bytes: usize,
    index: u64,
) -> Result<LeafWitness, WorkerError> {
    let start = index as usize * leaf_bytes;
    let leaf = output
        .get(start..(start + leaf_bytes).min(output.len()))
        .ok_or_else(|| WorkerError::SelfCheck(format!("leaf {index} is outside the output")))?
        .to_vec();
    let path = audit_path(tree, index)?;
    Ok(LeafWitness { leaf, path })
}

/// The audit path of leaf `index` of `tree`.
pub fn audit_path(tree: &MerkleTree, index: u64) -> Result<Vec<[u8; 32]>, WorkerError> {
    tree.audit_path(index)
        .map_err(|e| WorkerError::SelfCheck(format!("audit path of leaf {index}: {e:?}")))
}

/// Splits proofs into batches that each fit one transaction: its bytes, and the compute units of
/// recomputing its leaves (a proof too big to share goes alone).
pub fn batches(kernel: &Kernel, proofs: Vec<SampleProof>) -> Vec<Vec<SampleProof>> {
    let units = leaf_cost_units(kernel);
    let mut batches: Vec<Vec<SampleProof>> = Vec::new();
    let (mut bytes, mut budget) = (0, 0);
    for proof in proofs {
        let size = borsh::to_vec(&proof).map_or(usize::MAX, |bytes| bytes.len());
        match batches.last_mut() {
            Some(batch)
                if (bytes + size) as u64 <= PROOF_BYTES_PER_TRANSACTION
                    && budget + units <= LEAF_BUDGET_UNITS =>
            {
                batch.push(proof);
                bytes += size;
                budget += units;
            }
            _ => {
                batches.push(vec![proof]);
                (bytes, budget) = (size, units);
            }
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpushare_core::merkle::{leaf_hash, verify_audit_path};
    use gpushare_engine::reference::reference_shard;
    use gpushare_engine::shard::Input;

    #[test]
    fn proofs_verify_against_the_root_and_skip_proven_samples() {
        let kernel = Kernel::Sha256Chain {
            steps: 64,
            leaf_every: 4,
        };
        let output = reference_shard(kernel, &Input::Seed([5; 32]), 2, 1).unwrap();
        let root = output.root;
        let challenge = [42u8; 32];
        let all = proofs(&kernel, &output.bytes, &challenge, 8, 0).unwrap();
        assert_eq!(all.len(), 8);
        for proof in &all {
            let index = sample_index(&challenge, proof.sample, 16);
            let w = &proof.witness;
            assert!(verify_audit_path(
                index,
                16,
                &leaf_hash(&w.leaf),
                &w.path,
                &root
            ));
            assert_eq!(proof.previous.is_some(), index > 0);
        }
        let rest = proofs(&kernel, &output.bytes, &challenge, 8, 0b1010_1010).unwrap();
        assert_eq!(
            rest.iter().map(|p| p.sample).collect::<Vec<_>>(),
            [0, 2, 4, 6]
        );
        let packed = batches(&kernel, all);
        assert!(packed.len() > 1 && packed.iter().all(|b| !b.is_empty()));
        for batch in &packed {
            let size: usize = batch.iter().map(|p| borsh::to_vec(p).unwrap().len()).sum();
            assert!(batch.len() == 1 || size as u64 <= PROOF_BYTES_PER_TRANSACTION);
        }
    }

    /// Small proofs of expensive leaves share a transaction only while their recomputation fits
    /// its compute budget.
    #[test]
    fn batches_respect_the_compute_budget() {
        let kernel = Kernel::GemmI8 { m: 4, n: 2, k: 600 };
        let proof = |sample| SampleProof {
            sample,
            witness: LeafWitness {
                leaf: vec![0; 32],
                path: Vec::new(),
            },
            previous: None,
        };
        let per_leaf = leaf_cost_units(&kernel);
        let fit = (LEAF_BUDGET_UNITS / per_leaf) as usize;
        assert!((1..6).contains(&fit), "the test needs expensive leaves");
        let packed = batches(&kernel, (0..6).map(proof).collect());
        assert!(packed.iter().all(|batch| batch.len() <= fit));
        assert_eq!(packed.iter().map(Vec::len).sum::<usize>(), 6);
    }
}
