//! The accounts shared by the steps a provider takes on its own benchmark
//! (`commit_benchmark`, `prove_benchmark`), and their handlers.
use anchor_lang::prelude::*;

use gpushare_core::benchmark::{SAMPLES, unit_seed};
use gpushare_core::kernels::seeded_leaf;
use gpushare_core::merkle::{leaf_hash, verify_audit_path};
use gpushare_core::spot_check::sample_index;

use crate::errors::GpuShareError;
use crate::events::{BenchmarkCommitted, BenchmarkSampleFailed, emit_event};
use crate::instructions::LeafWitness;
use crate::seeds;
use crate::state::{Benchmark, Provider};

#[derive(Accounts)]
pub struct ProviderBenchmark<'info> {
    pub authority: Signer<'info>,
    #[account(has_one = authority @ GpuShareError::NotProviderAuthority)]
    pub provider: Box<Account<'info, Provider>>,
    #[account(
        mut,
        seeds = [seeds::BENCHMARK, provider.key().as_ref()],
        bump = benchmark.bump,
    )]
    pub benchmark: Box<Account<'info, Benchmark>>,
}

/// `commit_benchmark`: before the challenge's deadline the provider posts the Merkle root of the
/// whole seeded output; the slot it lands in ends the measured window.
impl ProviderBenchmark<'_> {
    fn validate_commit(&self) -> Result<()> {
        let benchmark = &self.benchmark;
        require!(benchmark.seed.is_some(), GpuShareError::BenchmarkNotStarted);
        require!(benchmark.root.is_none(), GpuShareError::BenchmarkCommitted);
        require!(
            Clock::get()?.slot <= benchmark.commit_deadline,
            GpuShareError::BenchmarkDeadlinePassed
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate_commit())]
    pub fn commit_benchmark(ctx: Context<Self>, root: [u8; 32]) -> Result<()> {
        let slot = Clock::get()?.slot;
        let benchmark = &mut ctx.accounts.benchmark;
        benchmark.root = Some(root);
        benchmark.committed_slot = slot;
        emit_event(BenchmarkCommitted {
            provider: benchmark.provider,
            root,
            slot,
        });
        Ok(())
    }
}

/// One step of one sample's proof.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub enum BenchmarkProof {
    /// The root of the unit holding sample `sample`'s leaf, and its path among the units' roots.
    Unit {
        sample: u8,
        root: [u8; 32],
        path: Vec<[u8; 32]>,
    },
    /// The sampled leaf and its path in its unit (after that unit's root is proven).
    Leaf { sample: u8, witness: LeafWitness },
}

impl BenchmarkProof {
    fn sample(&self) -> u8 {
        match self {
            BenchmarkProof::Unit { sample, .. } | BenchmarkProof::Leaf { sample, .. } => *sample,
        }
    }
}

/// `prove_benchmark`: the provider proves the challenged samples of its committed benchmark, each in
/// two steps that fit a transaction: the root of the unit holding the sampled leaf, with its path
/// among the units' roots to the committed root; then the leaf, with its path in that unit. The
/// program recomputes the leaf from the seed with the reference function spot-checked jobs use: a
/// bad path is refused; a valid path to a leaf that differs from the reference fails the challenge.
impl ProviderBenchmark<'_> {
    fn validate_proofs(&self, proofs: &[BenchmarkProof]) -> Result<()> {
        let benchmark = &self.benchmark;
        require!(benchmark.challenge.is_some(), GpuShareError::NotChallenged);
        require!(!benchmark.failed, GpuShareError::DuplicateProof);
        require!(
            Clock::get()?.slot <= benchmark.proof_deadline(),
            GpuShareError::BenchmarkDeadlinePassed
        );
        for proof in proofs {
            require!(proof.sample() < SAMPLES, GpuShareError::InvalidSample);
        }
        Ok(())
    }

    /// Checks one step; returns false when a leaf with a valid path differs from the reference.
    fn check(&mut self, proof: &BenchmarkProof) -> Result<bool> {
        let benchmark = &mut self.benchmark;
        let (Some(seed), Some(root), Some(challenge)) =
            (benchmark.seed, benchmark.root, benchmark.challenge)
        else {
            return err!(GpuShareError::NotChallenged);
        };
        let size = benchmark.size();
        let bit = 1u32 << proof.sample();
        let index = sample_index(&challenge, proof.sample(), size.leaves());
        let (unit, leaf) = size.locate(index);
        let slot = usize::from(proof.sample());
        match proof {
            BenchmarkProof::Unit {
                root: unit_root,
                path,
                ..
            } => {
                require!(
                    benchmark.units_proven & bit == 0,
                    GpuShareError::DuplicateProof
                );
                require!(
                    verify_audit_path(
                        u64::from(unit),
                        u64::from(size.units),
                        unit_root,
                        path,
                        &root
                    ),
                    GpuShareError::InvalidMerkleProof
                );
                benchmark.unit_roots[slot] = *unit_root;
                benchmark.units_proven |= bit;
                Ok(true)
            }
            BenchmarkProof::Leaf { witness, .. } => {
                require!(
                    benchmark.units_proven & bit != 0,
                    GpuShareError::UnitNotProven
                );
                require!(benchmark.proven & bit == 0, GpuShareError::DuplicateProof);
                require!(
                    verify_audit_path(
                        leaf,
                        size.unit_leaves(),
                        &leaf_hash(&witness.leaf),
                        &witness.path,
                        &benchmark.unit_roots[slot],
                    ),
                    GpuShareError::InvalidMerkleProof
                );
                let reference = seeded_leaf(
                    size.unit_kernel(),
                    &unit_seed(&seed, unit),
                    1,
                    0,
                    leaf,
                    None,
                )
                .map_err(|_| GpuShareError::InvalidKernelSpec)?;
                if reference != witness.leaf {
                    return Ok(false);
                }
                benchmark.proven |= bit;
                Ok(true)
            }
        }
    }

    #[access_control(ctx.accounts.validate_proofs(&proofs))]
    pub fn prove_benchmark(ctx: Context<Self>, proofs: Vec<BenchmarkProof>) -> Result<()> {
        for proof in &proofs {
            if !ctx.accounts.check(proof)? {
                ctx.accounts.benchmark.failed = true;
                emit_event(BenchmarkSampleFailed {
                    provider: ctx.accounts.provider.key(),
                    sample: proof.sample(),
                });
                return Ok(());
            }
        }
        Ok(())
    }
}
