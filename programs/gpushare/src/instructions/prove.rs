//! `prove`: on a spot-checked job, or a disputed shard of a quorum job, the provider proves its
//! challenged samples, in one or several transactions. For each, the program recomputes the leaf from the job's seed with the reference
//! function the worker uses, and checks the provider's leaf and Merkle path against its revealed
//! root: a bad path is refused; a valid path to a leaf that differs from the reference is fraud.
use anchor_lang::prelude::*;
use gpushare_core::kernels::{Kernel, seeded_leaf};
use gpushare_core::merkle::{leaf_hash, verify_audit_path};
use gpushare_core::spot_check::sample_index;

use crate::errors::GpuShareError;
use crate::events::{ReplicaProven, SampleProven, SpotCheckFailed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job, Shard};

/// A leaf of the provider's output with its audit path.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct LeafWitness {
    pub leaf: Vec<u8>,
    pub path: Vec<[u8; 32]>,
}

/// The proof of one challenged sample. `previous` (sha256_chain, leaf index > 0) is the leaf
/// before it, from which the program recomputes this one.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct SampleProof {
    pub sample: u8,
    pub witness: LeafWitness,
    pub previous: Option<LeafWitness>,
}

#[derive(Accounts)]
pub struct Prove<'info> {
    pub authority: Signer<'info>,
    #[account(
        seeds = [seeds::JOB, job.network.as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        seeds = [seeds::SHARD, job.key().as_ref(), &shard.index.to_le_bytes()],
        bump = shard.bump,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub shard: Box<Account<'info, Shard>>,
    #[account(
        mut,
        seeds = [seeds::ASSIGNMENT, shard.key().as_ref(), &[assignment.replica]],
        bump = assignment.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = shard @ GpuShareError::WrongJob,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
}

/// What one sample's proof showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SampleOutcome {
    Matches,
    Differs,
}

impl Prove<'_> {
    fn validate(&self, proofs: &[SampleProof]) -> Result<()> {
        check_provable(
            &self.job,
            &self.shard,
            &self.assignment,
            proofs.iter().map(|proof| proof.sample),
        )
    }

    /// Checks one sample's witnesses against the revealed root and compares its leaf with the reference.
    fn check_sample(&self, kernel: Kernel, proof: &SampleProof) -> Result<SampleOutcome> {
        let (root, challenge) = self.assignment.challenged_root()?;
        let seed = self
            .job
            .kernel_seed(&self.job.key())
            .ok_or(GpuShareError::SpotCheckNeedsSeed)?;
        let (shards, shard) = (u32::from(self.job.shards), u32::from(self.shard.index));
        let leaves = kernel
            .shard_leaves(shards, shard)
            .map_err(|_| GpuShareError::InvalidKernelSpec)?;
        let index = sample_index(&challenge, proof.sample, leaves);
        let included = |at: u64, witness: &LeafWitness| {
            verify_audit_path(at, leaves, &leaf_hash(&witness.leaf), &witness.path, &root)
        };
        require!(
            included(index, &proof.witness),
            GpuShareError::InvalidMerkleProof
        );
        let previous = match (&kernel, index, &proof.previous) {
            (Kernel::Sha256Chain { .. }, 1.., None) => return err!(GpuShareError::MissingPrevious),
            (Kernel::Sha256Chain { .. }, 1.., Some(previous)) => {
                require!(
                    included(index - 1, previous),
                    GpuShareError::InvalidMerkleProof
                );
                Some(
                    previous
                        .leaf
                        .as_slice()
                        .try_into()
                        .map_err(|_| GpuShareError::InvalidMerkleProof)?,
                )
            }
            _ => None,
        };
        let reference = seeded_leaf(kernel, &seed, shards, shard, index, previous)
            .map_err(|_| GpuShareError::InvalidKernelSpec)?;
        Ok(if reference == proof.witness.leaf {
            SampleOutcome::Matches
        } else {
            SampleOutcome::Differs
        })
    }

    #[access_control(ctx.accounts.validate(&proofs))]
    pub fn handler(ctx: Context<Self>, proofs: Vec<SampleProof>) -> Result<()> {
        let samples = samples_to_prove(&ctx.accounts.job, &ctx.accounts.shard)?;
        let kernel = ctx.accounts.job.kernel.to_core();
        let job = ctx.accounts.job.key();
        for proof in &proofs {
            let outcome = ctx.accounts.check_sample(kernel, proof)?;
            let accounts = &mut *ctx.accounts;
            if record_sample(
                &mut accounts.shard,
                &mut accounts.assignment,
                job,
                samples,
                proof.sample,
                outcome,
            ) == SampleOutcome::Differs
            {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Samples the assignment must prove: a spot-check's, or a dispute's.
pub(crate) fn samples_to_prove(job: &Job, shard: &Shard) -> Result<u8> {
    job.samples_to_prove(shard)
        .ok_or_else(|| error!(GpuShareError::NotSpotCheck))
}

/// Refuses proofs of `samples` unless the assignment is challenged, has not failed, its shard's
/// proof window is open, and each sample is one it must prove and has not proven yet.
pub(crate) fn check_provable(
    job: &Job,
    shard: &Shard,
    assignment: &Assignment,
    samples: impl IntoIterator<Item = u8>,
) -> Result<()> {
    let count = samples_to_prove(job, shard)?;
    require!(assignment.challenge.is_some(), GpuShareError::NotChallenged);
    require!(
        shard.failed_mask & (1 << assignment.replica) == 0,
        GpuShareError::DuplicateProof
    );
    shard.check_proof_open(Clock::get()?.unix_timestamp)?;
    let mut seen = assignment.proven;
    for sample in samples {
        require!(sample < count, GpuShareError::InvalidSample);
        require!(seen & (1 << sample) == 0, GpuShareError::DuplicateProof);
        seen |= 1 << sample;
    }
    Ok(())
}

/// Records what one sample's proof showed: proven (and the replica passed once all `samples` are),
/// or the replica failed, with its events. Returns the outcome.
pub(crate) fn record_sample(
    shard: &mut Shard,
    assignment: &mut Assignment,
    job: Pubkey,
    samples: u8,
    sample: u8,
    outcome: SampleOutcome,
) -> SampleOutcome {
    let (shard_index, replica) = (shard.index, assignment.replica);
    match outcome {
        SampleOutcome::Matches => {
            assignment.proven |= 1 << sample;
            emit_event(SampleProven {
                job,
                shard_index,
                replica,
                sample,
            });
            let all = if samples == 64 {
                u64::MAX
            } else {
                (1u64 << samples) - 1
            };
            if assignment.proven == all {
                shard.record_passed(replica);
                emit_event(ReplicaProven {
                    job,
                    shard_index,
                    replica,
                });
            }
        }
        SampleOutcome::Differs => {
            shard.record_failed(replica);
            emit_event(SpotCheckFailed {
                job,
                shard_index,
                replica,
                sample,
            });
        }
    }
    outcome
}
