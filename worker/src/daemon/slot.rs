//! The slot state machine: from the chain's state of one held slot, its next step: commit, reveal,
//! prove the sampled leaves, answer a dispute, settle.
use std::time::Instant;

use anchor_lang::solana_program::instruction::Instruction;
use gpushare::commitment::work_commitment;
use gpushare::state::{KernelSpec, Shard, ShardPhase, Verdict};
use gpushare_client::ix::{self, Slot};
use gpushare_core::spot_check::CHALLENGE_SLOTS;
use solana_signer::Signer;

use crate::error::WorkerError;
use crate::index::Held;
use crate::index::check_shard;
use crate::prover;
use crate::store::SlotRecord;

use super::settle::settles_now;
use super::*;

impl Worker {
    /// Runs one held slot's next step, reporting a failure (the step runs again later).
    pub(super) async fn step(&self, round: &Round, held: &Held) {
        let assignment = &held.assignment;
        if let Err(error) = self.advance(round, held).await {
            tracing::warn!(assignment = %held.key, job = %assignment.job, shard = assignment.shard_index, %error, "slot step failed");
            self.metrics.fail(error.kind());
            self.index
                .reread(&self.chain, &[held.key, assignment.shard])
                .await;
        }
    }

    /// Takes the next step of one held slot, as its on-chain state says.
    pub(super) async fn advance(&self, round: &Round, held: &Held) -> Result<(), WorkerError> {
        let (key, assignment) = (&held.key, &held.assignment);
        let Some(job) = round.view.jobs.get(&assignment.job) else {
            return Ok(());
        };
        let slot = Slot::of(assignment);
        let shard = match round.view.shards.get(&assignment.shard) {
            Some(shard) => Shard::clone(shard),
            None => {
                let shard: Shard = self.chain.existing(&assignment.shard).await?;
                // Read past the index (which may just have refused it): the same bounds apply.
                check_shard(&shard).map_err(|e| WorkerError::AccountMath(e.to_string()))?;
                shard
            }
        };
        let at = SlotStep {
            round,
            key: *key,
            slot,
            job,
            assignment,
            shard: &shard,
            shard_changed_at: held.seen.1,
        };
        let verdict = assignment.verdict(&shard, job, round.now);
        if verdict != Verdict::Pending {
            return self.settle(&at, Vec::new(), verdict).await;
        }
        match (assignment.commitment, assignment.root) {
            (None, _) if job.private.is_some() => self.compute_private(&at).await,
            (None, _) => self.compute_and_commit(key, &slot, job).await,
            (Some(_), None) => self.reveal(&at).await,
            (Some(_), Some(_)) => self.prove_or_settle(&at).await,
        }
    }

    /// The commit instruction for `record`'s root and salt.
    pub(super) fn commit_instruction(
        &self,
        slot: &Slot,
        record: &SlotRecord,
    ) -> Result<Instruction, WorkerError> {
        let commitment =
            work_commitment(&record.root()?, &self.me.wallet.pubkey(), &record.salt()?);
        Ok(ix::commit(
            &self.me.wallet.pubkey(),
            &self.me.net.network,
            slot,
            commitment,
        ))
    }

    pub(super) async fn commit(&self, slot: &Slot, record: &SlotRecord) -> Result<(), WorkerError> {
        let started = Instant::now();
        match self
            .chain
            .submit(self.commit_instruction(slot, record)?)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_refusal("AlreadyCommitted") => {
                // The index missed the commitment: read the slot again.
                self.index.refresh(&self.chain, &slot.assignment()).await?;
            }
            Err(e) => return Err(e.into()),
        }
        self.metrics
            .observe("commit", started.elapsed().as_secs_f64());
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "committed");
        Ok(())
    }

    /// Reveals the slot's root once the shard allows it — and settles the shard and the slot in the
    /// same transaction where this reveal decides the shard. A spot-check challenge comes from the
    /// slot hashes after the commitment's slot: it is fixed as soon as they exist, before they leave
    /// the SlotHashes sysvar, whatever the other replicas do, in the reveal's transaction when the
    /// reveal can go with it.
    pub(super) async fn reveal(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
        let (slot, assignment) = (&at.slot, at.assignment);
        let mut steps = Vec::new();
        if at.job.mode.is_spot_check() && assignment.challenge.is_none() {
            if at.round.slot <= assignment.commit_slot + CHALLENGE_SLOTS as u64 {
                return Ok(());
            }
            steps.push(ix::fix_challenge(slot));
        }
        let mut after = at.shard.clone();
        let mut revealed = assignment.clone();
        if at
            .shard
            .check_can_reveal(slot.replica, at.round.now)
            .is_ok()
        {
            let record = self
                .store
                .slot(&at.key)?
                .ok_or(WorkerError::SaltLost(at.key))?;
            let root = record.root()?;
            steps.push(ix::reveal(
                &self.me.wallet.pubkey(),
                slot,
                root,
                record.salt()?,
            ));
            after.record_reveal(slot.replica, root);
            revealed.root = Some(root);
        } else {
            self.crank_expired(at).await?;
            // Slots nobody filled in time: close them, so that this replica can reveal.
            if at.shard.phase == ShardPhase::Committing
                && at.job.check_ready_to_settle(at.shard, at.round.now).is_ok()
            {
                return self.settle_shard(at).await;
            }
            if steps.is_empty() {
                return Ok(());
            }
        }
        let started = Instant::now();
        let revealed_at = SlotStep {
            assignment: &revealed,
            shard: &after,
            ..*at
        };
        let sent = self.send_then_settle(&revealed_at, steps).await;
        match sent {
            Ok(_) => {
                self.metrics
                    .observe("reveal", started.elapsed().as_secs_f64());
                tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "revealed");
                Ok(())
            }
            Err(e) if e.is_refusal("ChallengeNotReady") => Ok(()),
            Err(e) if e.is_refusal("AlreadyChallenged") || e.is_refusal("AlreadyRevealed") => {
                // The index missed the change: read the slot again.
                Ok(self.index.refresh(&self.chain, &at.key).await?)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn prove_or_settle(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
        let (slot, job, assignment, shard) = (&at.slot, at.job, at.assignment, at.shard);
        if job.check_ready_to_settle(shard, at.round.now).is_ok() {
            if !settles_now(at) {
                return Ok(());
            }
            return self.settle_shard(at).await;
        }
        if shard.phase == ShardPhase::Committing {
            return self.crank_expired(at).await;
        }
        let Some(samples) = job.samples_to_prove(shard) else {
            return Ok(());
        };
        let Some(challenge) = assignment.challenge else {
            return self.fix_dispute_challenge(at).await;
        };
        let decided = (shard.passed_mask | shard.failed_mask) & (1 << slot.replica) != 0;
        if decided || shard.check_proof_open(at.round.now).is_err() {
            return Ok(());
        }
        if matches!(job.kernel, KernelSpec::Embedding { .. }) {
            return self.prove_embedding(at, samples, challenge).await;
        }
        let output = self
            .store
            .output(&slot.job, slot.shard_index, job.private.is_some())?
            .ok_or(WorkerError::SaltLost(at.key))?;
        let proofs = prover::proofs(
            &job.kernel.to_core(),
            &output,
            &challenge,
            samples,
            assignment.proven,
        )?;
        let started = Instant::now();
        // Every batch but the last at once; the last, which completes the proof, then goes with
        // the settlement where that decides the shard.
        let mut batches = prover::batches(&job.kernel.to_core(), proofs);
        let last = batches.pop();
        let earlier = batches.into_iter().map(|batch| {
            let prove = ix::prove(&self.me.wallet.pubkey(), slot, batch);
            async move { self.chain.send(&[prove], &[]).await }
        });
        futures::future::try_join_all(earlier).await?;
        if let Some(batch) = last {
            let mut after = shard.clone();
            after.record_passed(slot.replica);
            let proven_at = SlotStep {
                shard: &after,
                ..*at
            };
            let prove = ix::prove(&self.me.wallet.pubkey(), slot, batch);
            self.send_then_settle(&proven_at, vec![prove]).await?;
        }
        self.metrics
            .observe("prove", started.elapsed().as_secs_f64());
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, samples, "proved");
        Ok(())
    }

    /// Fixes this slot's challenge in its shard's dispute, once the slots after the dispute opened
    /// exist (a spot-check's is fixed at reveal).
    pub(super) async fn fix_dispute_challenge(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
        let Some(after) = at.shard.dispute_slot() else {
            return Ok(());
        };
        if at.round.slot <= after + CHALLENGE_SLOTS as u64 {
            return Ok(());
        }
        let fix = ix::fix_challenge(&at.slot);
        match self.chain.send(&[fix], &[]).await {
            Ok(_) => {
                tracing::info!(job = %at.slot.job, shard = at.slot.shard_index, replica = at.slot.replica, "dispute challenge fixed");
                Ok(self.index.refresh(&self.chain, &at.key).await?)
            }
            Err(e) if e.is_refusal("AlreadyChallenged") => {
                Ok(self.index.refresh(&self.chain, &at.key).await?)
            }
            Err(e) if e.is_refusal("ChallengeNotReady") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
