//! Settling: which replica settles a ready shard and when, the settlement transaction with the
//! verdict it makes final, and cranking expired slots.
use std::time::Instant;

use anchor_lang::solana_program::instruction::Instruction;
use gpushare::state::{Assignment, KernelSpec, Resolution, ShardPhase, Verdict, VerificationMode};
use gpushare_client::chain::ChainError;
use gpushare_client::ix::{self, Holder, Slot};

use crate::error::WorkerError;

use super::*;

impl Worker {
    /// Settles the shard, and this slot with it in the same transaction where settling the shard
    /// decides the slot.
    pub(super) async fn settle_shard(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
        let slot = &at.slot;
        let alone = match self.send_then_settle(at, Vec::new()).await {
            Ok(true) => return Ok(()),
            Ok(false) => self
                .chain
                .submit(ix::settle_shard(&slot.job, slot.shard_index))
                .await
                .map_err(WorkerError::from),
            Err(error) => Err(error),
        };
        match alone {
            Ok(_) => {
                tracing::info!(job = %slot.job, shard = slot.shard_index, "settled shard");
                Ok(())
            }
            Err(e) if e.is_refusal("ShardAlreadySettled") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends `steps` — with the settlement of the shard and of this slot appended where the shard,
    /// as `steps` leave it (`at.shard`, with the slot as `at.assignment`), is then ready to settle
    /// with a final verdict on the slot, so that one transaction does all; without it where that
    /// combined transaction fails (refused, too large, or out of compute). Returns whether the slot
    /// was settled.
    pub(super) async fn send_then_settle(
        &self,
        at: &SlotStep<'_>,
        steps: Vec<Instruction>,
    ) -> Result<bool, WorkerError> {
        let ready = at.job.check_ready_to_settle(at.shard, at.round.now).is_ok();
        if let Some(verdict) = ready.then(|| verdict_once_settled(at)).flatten() {
            let mut all = steps.clone();
            all.push(ix::settle_shard(&at.slot.job, at.slot.shard_index));
            match self.settle(at, all, verdict).await {
                Ok(()) => return Ok(true),
                Err(WorkerError::Chain(
                    error @ (ChainError::Refused { .. }
                    | ChainError::TooLarge(_)
                    | ChainError::Transaction(_)),
                )) => {
                    tracing::debug!(%error, "the steps with the settlement do not go together; sending the steps alone")
                }
                Err(error) => return Err(error),
            }
        }
        if !steps.is_empty() {
            self.chain.send(&steps, &[]).await?;
        }
        Ok(false)
    }

    /// Settles this provider's slot (paid, slashed or released) after `before`, in one
    /// transaction, and forgets it.
    pub(super) async fn settle(
        &self,
        at: &SlotStep<'_>,
        mut before: Vec<Instruction>,
        verdict: Verdict,
    ) -> Result<(), WorkerError> {
        let slot = &at.slot;
        let started = Instant::now();
        // A private claim that lapsed without its key: its client keys some claims and not others
        // (docs/privacy.md); this worker claims no more of the job.
        if let Verdict::Unkeyed { .. } = verdict {
            self.refuse_job(slot.job);
        }
        let Some(outcome) = ix::outcome(&self.me.net, slot, &self.me.holder, verdict) else {
            return Ok(());
        };
        before.push(outcome);
        self.chain.send(&before, &[]).await?;
        self.store.remove_slot(&at.key)?;
        self.index.lock().forget(at.key, at.round.slot);
        if let (KernelSpec::Embedding { .. }, VerificationMode::SpotCheck { samples }) =
            (at.job.kernel, at.job.mode)
            && let Err(error) = self.sweep_proof_buffers(slot, samples).await
        {
            tracing::warn!(job = %slot.job, shard = slot.shard_index, %error, "proof buffers left open");
        }
        self.metrics
            .observe("settle", started.elapsed().as_secs_f64());
        match verdict {
            Verdict::Pay => {
                tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "paid")
            }
            other => {
                self.metrics.fail(match other {
                    Verdict::SlashFraud => "slashed_fraud",
                    Verdict::SlashMissed { .. } => "slashed_missed",
                    _ => "released",
                });
                tracing::warn!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, verdict = ?other, "settled without pay");
            }
        }
        Ok(())
    }

    /// Expires other providers' claims on the shard that missed their commit deadline, so the
    /// shard can move.
    pub(super) async fn crank_expired(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
        let (slot, shard) = (&at.slot, at.shard);
        if shard.phase != ShardPhase::Committing {
            return Ok(());
        }
        let waiting: Vec<u8> = (0..shard.replicas_open)
            .filter(|r| {
                shard.held_mask & !shard.committed_mask & (1 << r) != 0 && *r != slot.replica
            })
            .collect();
        for replica in waiting {
            let other = Slot { replica, ..*slot };
            let Some(assignment) = self
                .chain
                .account::<Assignment>(&other.assignment())
                .await?
            else {
                continue;
            };
            if at.round.now <= assignment.commit_deadline {
                continue;
            }
            let holder = Holder {
                authority: assignment.authority,
                token: self.me.net.associated_token(&assignment.authority),
            };
            match self
                .chain
                .submit(ix::expire_claim(&self.me.net, &other, &holder))
                .await
            {
                Ok(_) => {
                    tracing::info!(job = %slot.job, shard = slot.shard_index, replica, "expired a missed claim")
                }
                Err(error) => tracing::debug!(%error, "could not expire a missed claim"),
            }
        }
        Ok(())
    }
}

/// Whether this slot's replica settles its ready shard now: the lowest decided replica (revealed;
/// spot-checked: passed or failed) at once, the others [`SETTLE_TURN_SLOTS`] after the shard's last
/// change, so that two replicas do not both send the settlement and one pay for a failed
/// transaction.
pub(super) fn settles_now(at: &SlotStep<'_>) -> bool {
    let shard = at.shard;
    let decided = if at.job.samples_to_prove(shard).is_some() {
        shard.passed_mask | shard.failed_mask
    } else {
        shard.revealed_mask
    };
    let first = (0..shard.replicas_open).find(|replica| decided & (1 << replica) != 0);
    first == Some(at.slot.replica)
        || at.round.slot >= at.shard_changed_at.saturating_add(SETTLE_TURN_SLOTS)
}

/// The verdict on this provider's slot once its shard is settled now, where settling it is final
/// (so that one transaction can settle both); `None` where the slot stays pending or the tally
/// opens a dispute.
pub(super) fn verdict_once_settled(at: &SlotStep<'_>) -> Option<Verdict> {
    let mut settled = at.shard.clone();
    let resolution = at
        .job
        .resolve_shard(&mut settled, at.round.now, at.round.slot);
    let Resolution::Final(_) = resolution else {
        return None;
    };
    let verdict = at.assignment.verdict(&settled, at.job, at.round.now);
    (verdict != Verdict::Pending).then_some(verdict)
}
