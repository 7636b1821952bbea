//! A private job's key exchange from the holder's side (docs/privacy.md): the claim, with a fresh
//! claim key published in the same transaction; the wait for the client's envelope; opening it,
//! checking the key against the job's commitment and opening the input under it before anything is
//! computed; and, when any of them fails, a refusal by name: the claim given back (free within the
//! key's refusal window) and the job left alone after it.
use anchor_lang::prelude::Pubkey;
use gpushare::state::{Job, JobInput, Shard};
use gpushare_client::ix::{self, Slot};
use gpushare_privacy::{KeyEnvelope, PrivacyError, Sealed, SealingKeypair, SlotBinding};
use solana_signer::Signer;

use crate::error::WorkerError;
use crate::store::JobKey;

use super::*;

impl Worker {
    /// Claims `slot` of a private job with a fresh claim key, kept durably before the claim and the
    /// key's publication go out in one transaction. Nothing is computed before the key comes.
    pub(super) async fn claim_private(&self, slot: &Slot) -> Result<(), WorkerError> {
        let key = slot.assignment();
        let claim_key = SealingKeypair::generate();
        self.store.save_claim_key(&key, &claim_key)?;
        let wallet = self.me.wallet.pubkey();
        let claim = [
            ix::claim(&wallet, &self.me.net.network, slot),
            ix::publish_claim_key(&wallet, slot, claim_key.public_key()),
        ];
        if let Err(error) = self.chain.send(&claim, &[]).await {
            self.forget_failed_claim(&key, slot).await?;
            return Err(error.into());
        }
        self.metrics.claims.inc();
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "claimed a private slot; waiting for its key");
        self.index.reread(&self.chain, &[key, slot.shard()]).await;
        Ok(())
    }

    /// The step of a private claim not yet committed: nothing while its key has not come (the
    /// program takes no commitment before it); then the key opened and checked, and the input
    /// opened under it and checked as a public input is before a claim (a refusal where any of that
    /// fails), unless another slot of the job already opened the job's key here; then computed and
    /// committed as any claim.
    pub(super) async fn compute_private(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
        let (slot, job) = (&at.slot, at.job);
        let Some(envelope) = at.assignment.key_exchange.envelope else {
            return Ok(());
        };
        if self.committed_key(&slot.job, job)?.is_none() {
            match self.open_key(at, &KeyEnvelope(envelope)).await {
                Ok(key) => self.store.save_job_key(&slot.job, &key)?,
                Err(error) => {
                    // A download that failed is tried again; anything else wrong with the key or
                    // the input is refused.
                    let reason = match &error {
                        WorkerError::Privacy(refusal) => refusal.reason(),
                        WorkerError::Input(refusal) if !refusal.is_transient() => refusal.reason(),
                        _ => return Err(error),
                    };
                    return self.refuse_key(at, &error.to_string(), reason).await;
                }
            }
        }
        self.compute_and_commit(&at.key, slot, job).await
    }

    /// The job's key from `envelope`, once it opened for this slot with its claim key, matched the
    /// job's commitment, and opened the input to data the job's kernel and model accept; kept with
    /// the client key of the terms it was opened under.
    async fn open_key(
        &self,
        at: &SlotStep<'_>,
        envelope: &KeyEnvelope,
    ) -> Result<JobKey, WorkerError> {
        let (slot, job) = (&at.slot, at.job);
        let (Some(terms), JobInput::Data { uri, sha256 }) = (job.private, &job.input) else {
            return Err(WorkerError::Privacy(PrivacyError::Malformed("private job")));
        };
        // Without its claim key nothing can open the envelope: refused as one not for this slot.
        let claim_key = self
            .store
            .claim_key(&at.key)?
            .ok_or(PrivacyError::EnvelopeNotForThisSlot)?;
        let binding = SlotBinding {
            job: slot.job.to_bytes(),
            shard_index: slot.shard_index,
            replica: slot.replica,
            provider: at.assignment.provider.to_bytes(),
        };
        let key = envelope
            .open(&claim_key, &binding)?
            .check_commitment(&terms.key_commitment)?;
        let input = key.open(Sealed::Input, &self.fetch_input(job, uri, sha256).await?)?;
        self.models.check_data(&job.kernel, job.mode, &input)?;
        Ok(JobKey {
            data: key,
            client_key: terms.client_key,
        })
    }

    /// Refuses the delivered key of the slot at `at`: claims no more of the job, gives the claim
    /// back (free within the key's refusal window, half a miss after it, still less than the miss
    /// of a lapse), then counts and logs the refusal once, forgets the slot and reads it again so
    /// that no later step sees it held.
    async fn refuse_key(
        &self,
        at: &SlotStep<'_>,
        why: &str,
        reason: &'static str,
    ) -> Result<(), WorkerError> {
        self.refuse_job(at.slot.job);
        let free = at.assignment.key_exchange.refusal_is_free(at.round.now);
        self.chain
            .submit(ix::give_back_claim(&self.me.net, &at.slot, &self.me.holder))
            .await?;
        tracing::warn!(job = %at.slot.job, shard = at.slot.shard_index, replica = at.slot.replica, why, free, "refused the delivered key; gave the claim back");
        self.metrics.refuse_key(reason);
        self.store.remove_slot(&at.key)?;
        self.index
            .reread(&self.chain, &[at.key, at.slot.shard()])
            .await;
        Ok(())
    }

    /// Whether this worker may claim a slot of started `shard` of `job` (at `address`): a public
    /// job's, or a private one's while the shard has a free refusal left to reserve or this worker
    /// already holds the key the job commits to.
    pub(super) fn may_join_private(&self, address: &Pubkey, job: &Job, shard: &Shard) -> bool {
        job.private.is_none()
            || shard.has_free_refusal()
            || self.committed_key(address, job).ok().flatten().is_some()
    }

    /// The key kept here for private `job` (at `address`), if the job commits to it: a key kept
    /// from a job posted earlier at the same address, closed since, is not this job's.
    pub(super) fn committed_key(
        &self,
        address: &Pubkey,
        job: &Job,
    ) -> Result<Option<JobKey>, WorkerError> {
        let committed = job.private.map(|terms| terms.key_commitment);
        Ok(self
            .store
            .job_key(address)?
            .filter(|kept| Some(kept.data.commitment()) == committed))
    }

    /// Claims no more slots of `job`: its client's key did not work here, or never came.
    pub(super) fn refuse_job(&self, job: Pubkey) {
        if let Ok(mut refused) = self.refused_jobs.lock() {
            refused.insert(job);
        }
    }

    /// Whether this worker refused a key of `job` (see [`Worker::refuse_key`]).
    pub(super) fn refused(&self, job: &Pubkey) -> bool {
        self.refused_jobs
            .lock()
            .is_ok_and(|refused| refused.contains(job))
    }
}
