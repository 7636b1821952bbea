//! Benchmarks from the provider's side: the benchmark's units computed on every device at
//! once, the commitment over their roots, the two-step proofs of the challenged samples, and the
//! chain steps that take an open challenge from its seed to its verdict.
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anchor_lang::prelude::{Pubkey, borsh};
use gpushare::instructions::BenchmarkProof;
use gpushare::state::{Benchmark, Provider};
use gpushare_client::chain::Chain;
use gpushare_client::{ix, pda};
use gpushare_core::benchmark::{BenchmarkSize, SAMPLES, unit_seed};
use gpushare_core::merkle::{Hash, MerkleTree};
use gpushare_core::spot_check::{CHALLENGE_SLOTS, PROOF_BYTES_PER_TRANSACTION, sample_index};
use gpushare_engine::backend::Backend;
use gpushare_engine::hashing;
use gpushare_engine::shard::{Input, ShardOutput};
use solana_signer::Signer;

use crate::error::WorkerError;
use crate::identity::Identity;
use crate::prover;

/// One drawn benchmark: its size and seed.
#[derive(Clone, Copy, Debug)]
pub struct Work {
    pub size: BenchmarkSize,
    pub seed: [u8; 32],
}

impl Work {
    /// The work of an open challenge, once its seed is drawn.
    pub fn of(benchmark: &Benchmark) -> Option<Self> {
        benchmark.seed.map(|seed| Self {
            size: benchmark.size(),
            seed,
        })
    }

    /// Unit `unit`'s output, computed (and self-checked) on one of the backend's devices.
    fn unit(&self, backend: &dyn Backend, unit: u32) -> Result<ShardOutput, WorkerError> {
        let input = Input::Seed(unit_seed(&self.seed, unit));
        Ok(backend.shard(self.size.unit_kernel(), &input, 1, 0)?.output)
    }

    /// Every unit's root, in order; as many units compute at once as the backend has devices.
    pub fn unit_roots(&self, backend: &dyn Backend) -> Result<Vec<Hash>, WorkerError> {
        let next = AtomicU32::new(0);
        let lanes = backend.device_names().len().max(1);
        let results: Vec<Result<Vec<(u32, Hash)>, WorkerError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..lanes)
                .map(|_| {
                    scope.spawn(|| {
                        let mut roots = Vec::new();
                        loop {
                            let unit = next.fetch_add(1, Ordering::Relaxed);
                            if unit >= self.size.units {
                                return Ok(roots);
                            }
                            roots.push((unit, self.unit(backend, unit)?.root));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .map_err(|_| WorkerError::SelfCheck("a benchmark thread panicked".into()))?
                })
                .collect()
        });
        let mut roots = Vec::with_capacity(self.size.units as usize);
        for lane in results {
            roots.extend(lane?);
        }
        roots.sort_unstable_by_key(|(unit, _)| *unit);
        Ok(roots.into_iter().map(|(_, root)| root).collect())
    }

    /// This pass's proof steps of every challenged sample not yet proven, one transaction per
    /// sample, independent of each other: both steps when they fit, else the unit root now and the
    /// leaf on the next pass. Only the units holding a sample are recomputed.
    pub fn proofs(
        &self,
        backend: &dyn Backend,
        commitment: &MerkleTree,
        challenge: &[u8; 32],
        units_proven: u32,
        proven: u32,
    ) -> Result<Vec<Vec<BenchmarkProof>>, WorkerError> {
        let leaf_bytes = self.size.unit_kernel().leaf_bytes();
        // Samples often share a unit in a small benchmark: each is computed once.
        let mut units: HashMap<u32, (ShardOutput, MerkleTree)> = HashMap::new();
        let mut transactions = Vec::new();
        for sample in (0..SAMPLES).filter(|s| proven & (1 << s) == 0) {
            let (unit, leaf) =
                self.size
                    .locate(sample_index(challenge, sample, self.size.leaves()));
            let (output, tree) = match units.entry(unit) {
                Entry::Occupied(computed) => computed.into_mut(),
                Entry::Vacant(slot) => {
                    let output = self.unit(backend, unit)?;
                    let tree = hashing::tree(&output.bytes, leaf_bytes);
                    slot.insert((output, tree))
                }
            };
            let mut steps = Vec::new();
            if units_proven & (1 << sample) == 0 {
                steps.push(BenchmarkProof::Unit {
                    sample,
                    root: output.root,
                    path: prover::audit_path(commitment, u64::from(unit))?,
                });
            }
            let leaf_step = BenchmarkProof::Leaf {
                sample,
                witness: prover::witness(&output.bytes, tree, leaf_bytes, leaf)?,
            };
            // When both steps do not fit one transaction the leaf waits for the next pass, after
            // its unit root has landed: every transaction of a pass stands alone.
            if steps.is_empty()
                || (encoded_len(&steps) + encoded_len(std::slice::from_ref(&leaf_step))) as u64
                    <= PROOF_BYTES_PER_TRANSACTION
            {
                steps.push(leaf_step);
            }
            transactions.push(steps);
        }
        Ok(transactions)
    }
}

/// Bytes `steps` take in an instruction.
fn encoded_len(steps: &[BenchmarkProof]) -> usize {
    borsh::to_vec(steps).map_or(usize::MAX, |bytes| bytes.len())
}

/// The tree over the units' roots: its root is the commitment, and a unit root's path in it
/// continues a leaf's path in its unit up to the commitment.
pub fn commitment_tree(unit_roots: Vec<Hash>) -> MerkleTree {
    MerkleTree::from_leaf_hashes(unit_roots)
}

/// What a challenge ended with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// Mega-operations per second proven (0: failed).
    pub mops: u64,
    /// Seconds this machine took to compute every unit (0 when it computed none this time).
    pub compute_seconds: f64,
}

/// The provider's side of a challenge on the chain.
pub struct BenchmarkRun {
    pub chain: Arc<Chain>,
    pub me: Identity,
    pub backend: Arc<dyn Backend>,
}

impl BenchmarkRun {
    fn provider(&self) -> Pubkey {
        self.me.provider()
    }

    async fn open(&self) -> Result<Option<Benchmark>, WorkerError> {
        Ok(self
            .chain
            .account::<Benchmark>(&pda::benchmark(&self.provider()))
            .await?)
    }

    /// Draws the next value once the slots after `slot` exist (skipped slots can make that later
    /// than `slot` + their count: a refusal for that is waited out).
    async fn draw_after(&self, slot: u64) -> Result<(), WorkerError> {
        while self.chain.clock().await?.slot <= slot + CHALLENGE_SLOTS as u64 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match self
            .chain
            .submit(ix::draw_benchmark(&self.provider()))
            .await
        {
            Err(error) if error.is_refusal("ChallengeNotReady") => {
                tokio::time::sleep(Duration::from_millis(400)).await;
                Ok(())
            }
            other => other.map(drop).map_err(WorkerError::from),
        }
    }

    /// Opens a challenge on this provider (unless one is open) and takes it to its verdict.
    pub async fn prove(&self) -> Result<Outcome, WorkerError> {
        if self.open().await?.is_none() {
            let request = ix::request_benchmark(
                &self.me.wallet.pubkey(),
                &self.me.net.network,
                &self.provider(),
            );
            self.chain.submit(request).await?;
        }
        self.answer().await
    }

    /// Takes the open challenge on this provider, whoever asked for it, from wherever it stands
    /// to its verdict: draw the seed, compute and commit, draw the challenge, prove, settle.
    pub async fn answer(&self) -> Result<Outcome, WorkerError> {
        let mut compute_seconds = 0.0;
        let mut commitment: Option<MerkleTree> = None;
        loop {
            let Some(benchmark) = self.open().await? else {
                let provider: Provider = self.chain.existing(&self.provider()).await?;
                return Ok(Outcome {
                    mops: provider.proven.mops,
                    compute_seconds,
                });
            };
            let slot = self.chain.clock().await?.slot;
            if benchmark.verdict(slot).is_some() {
                let settle = ix::settle_benchmark(
                    &self.me.net,
                    &self.me.wallet.pubkey(),
                    &benchmark.requester,
                );
                self.chain.submit(settle).await?;
                continue;
            }
            let Some(work) = Work::of(&benchmark) else {
                self.draw_after(benchmark.requested_slot).await?;
                continue;
            };
            let tree = match commitment.take() {
                Some(tree) => tree,
                None => {
                    let backend = Arc::clone(&self.backend);
                    let started = Instant::now();
                    let roots = tokio::task::spawn_blocking(move || work.unit_roots(&*backend))
                        .await
                        .map_err(|e| WorkerError::SelfCheck(format!("benchmark task: {e}")))??;
                    compute_seconds = started.elapsed().as_secs_f64();
                    tracing::info!(
                        units = work.size.units,
                        rows = work.size.unit_rows,
                        seconds = compute_seconds,
                        "computed the benchmark"
                    );
                    commitment_tree(roots)
                }
            };
            match (benchmark.root, benchmark.challenge) {
                (None, _) => {
                    let commit = ix::commit_benchmark(
                        &self.me.wallet.pubkey(),
                        &self.me.net.network,
                        tree.root(),
                    );
                    self.chain.submit(commit).await?;
                }
                (Some(_), None) => {
                    self.draw_after(benchmark.committed_slot).await?;
                }
                (Some(_), Some(challenge)) => {
                    self.send_proofs(&work, &tree, &benchmark, &challenge)
                        .await?
                }
            }
            commitment = Some(tree);
        }
    }

    async fn send_proofs(
        &self,
        work: &Work,
        tree: &MerkleTree,
        benchmark: &Benchmark,
        challenge: &[u8; 32],
    ) -> Result<(), WorkerError> {
        let transactions = {
            let (backend, work, tree, challenge) =
                (Arc::clone(&self.backend), *work, tree.clone(), *challenge);
            let (units_proven, proven) = (benchmark.units_proven, benchmark.proven);
            tokio::task::spawn_blocking(move || {
                work.proofs(&*backend, &tree, &challenge, units_proven, proven)
            })
            .await
            .map_err(|e| WorkerError::SelfCheck(format!("benchmark task: {e}")))??
        };
        let sends = transactions.into_iter().map(|steps| {
            let prove = ix::prove_benchmark(&self.me.wallet.pubkey(), &self.me.net.network, steps);
            async move { self.chain.send(&[prove], &[]).await }
        });
        futures::future::try_join_all(sends).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpushare_core::kernels::seeded_leaf;
    use gpushare_core::merkle::{leaf_hash, verify_audit_path};

    use gpushare_engine::cpu::CpuBackend;

    /// The worker's commitment and proofs pass exactly the checks `prove_benchmark` makes, with the
    /// leaves the reference function defines.
    #[test]
    fn proofs_pass_the_programs_checks() {
        let work = Work {
            size: BenchmarkSize {
                units: 3,
                unit_rows: 8,
            },
            seed: [5; 32],
        };
        let backend = CpuBackend::new();
        let roots = work.unit_roots(&backend).unwrap();
        let tree = commitment_tree(roots.clone());
        let challenge = [9; 32];
        let transactions = work.proofs(&backend, &tree, &challenge, 0, 0).unwrap();
        assert_eq!(
            transactions.len(),
            usize::from(SAMPLES),
            "one transaction per sample"
        );
        let mut unit_roots = [[0u8; 32]; SAMPLES as usize];
        let mut proven = 0u32;
        for step in transactions.into_iter().flatten() {
            match step {
                BenchmarkProof::Unit { sample, root, path } => {
                    let index = sample_index(&challenge, sample, work.size.leaves());
                    let (unit, _) = work.size.locate(index);
                    assert_eq!(root, roots[unit as usize]);
                    assert!(verify_audit_path(
                        u64::from(unit),
                        u64::from(work.size.units),
                        &root,
                        &path,
                        &tree.root()
                    ));
                    unit_roots[usize::from(sample)] = root;
                }
                BenchmarkProof::Leaf { sample, witness } => {
                    let index = sample_index(&challenge, sample, work.size.leaves());
                    let (unit, leaf) = work.size.locate(index);
                    assert!(verify_audit_path(
                        leaf,
                        work.size.unit_leaves(),
                        &leaf_hash(&witness.leaf),
                        &witness.path,
                        &unit_roots[usize::from(sample)]
                    ));
                    let seed = unit_seed(&work.seed, unit);
                    let reference =
                        seeded_leaf(work.size.unit_kernel(), &seed, 1, 0, leaf, None).unwrap();
                    assert_eq!(witness.leaf, reference);
                    proven |= 1 << sample;
                }
            }
        }
        assert_eq!(proven, (1 << SAMPLES) - 1);
    }
}
