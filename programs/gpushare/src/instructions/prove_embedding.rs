//! `prove_embedding`: on a spot-checked embedding job, the provider proves one challenged sample
//! from the witness it staged in its proof buffer. `gpushare_core::embedding::check` opens the
//! model's header and rows, the sequence's token ids, the shard's output record and the sequence's
//! trace, and recomputes the sampled cell: a witness that does not verify is refused; a verified
//! one that recomputes to another value is fraud. The sample's buffer is closed back to the provider.
use anchor_lang::prelude::*;
use gpushare_core::embedding::check::{CheckError, Verdict, check_sample};

use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::{Assignment, Job, ProofBuffer, Shard};

use super::prove::{SampleOutcome, check_provable, record_sample, samples_to_prove};

#[derive(Accounts)]
#[instruction(sample: u8)]
pub struct ProveEmbedding<'info> {
    #[account(mut)]
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
    #[account(
        mut,
        seeds = [seeds::PROOF_BUFFER, assignment.key().as_ref(), &[sample]],
        bump = buffer.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        close = authority,
    )]
    pub buffer: Box<Account<'info, ProofBuffer>>,
}

impl ProveEmbedding<'_> {
    fn validate(&self, sample: u8) -> Result<()> {
        check_provable(&self.job, &self.shard, &self.assignment, [sample])
    }

    /// Checks the staged witness of `sample` against the job, the revealed root and the challenge.
    fn check(&self, sample: u8) -> Result<Verdict> {
        let job = self
            .job
            .embedding_check(&self.job.key(), self.shard.index)
            .ok_or(GpuShareError::NotEmbeddingJob)?;
        let (root, challenge) = self.assignment.challenged_root()?;
        let context = job.context(&root, &challenge);
        let info = self.buffer.to_account_info();
        let data = info.try_borrow_data()?;
        let end = ProofBuffer::HEADER + self.buffer.length as usize;
        let witness = data
            .get(ProofBuffer::HEADER..end)
            .ok_or(GpuShareError::MalformedWitness)?;
        check_sample(&context, sample, witness).map_err(|refusal| {
            error!(match refusal {
                CheckError::Malformed => GpuShareError::MalformedWitness,
                CheckError::InvalidProof => GpuShareError::InvalidMerkleProof,
                CheckError::InvalidModel => GpuShareError::InvalidModelLeaf,
                CheckError::WidthMismatch => GpuShareError::EmbeddingWidthNotCheckable,
                CheckError::InvalidSequence => GpuShareError::SequenceNotCheckable,
                CheckError::WrongSequence => GpuShareError::NotTheSampledSequence,
                CheckError::ShapeNotCheckable => GpuShareError::ModelNotCheckable,
            })
        })
    }

    #[access_control(ctx.accounts.validate(sample))]
    pub fn handler(ctx: Context<Self>, sample: u8) -> Result<()> {
        let samples = samples_to_prove(&ctx.accounts.job, &ctx.accounts.shard)?;
        let outcome = match ctx.accounts.check(sample)? {
            Verdict::Matches => SampleOutcome::Matches,
            Verdict::Differs => SampleOutcome::Differs,
        };
        let job = ctx.accounts.job.key();
        let accounts = &mut *ctx.accounts;
        record_sample(
            &mut accounts.shard,
            &mut accounts.assignment,
            job,
            samples,
            sample,
            outcome,
        );
        Ok(())
    }
}
