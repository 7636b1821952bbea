//! Claiming a slot: vetting the job and its input, the claim transaction (with the commitment when
//! the computation finishes in time), and handing the computation over to the slot's steps.
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use gpushare::state::{Assignment, Job, JobInput};
use gpushare_client::chain::ChainError;
use gpushare_client::ix::{self, Slot};
use gpushare_core::kernels::Kernel;
use gpushare_engine::embed::host_threads;
use solana_signer::Signer;

use crate::budget::{OverBudget, embedding_shard_needs, shard_needs};
use crate::error::WorkerError;
use crate::input_policy::InputError;

use super::*;

impl Worker {
    /// `job`'s data input as published, of exactly the size its kernel takes (sealed, for a private
    /// job; none for a kernel that takes no data: any input is then refused for its size).
    pub(super) async fn fetch_input(
        &self,
        job: &Job,
        uri: &str,
        sha256: &[u8; 32],
    ) -> Result<Vec<u8>, InputError> {
        let plain = job.kernel.to_core().data_input_bytes().unwrap_or(0);
        let size = match job.private {
            Some(_) => plain.saturating_add(gpushare_privacy::SEALED_OVERHEAD as u64),
            None => plain,
        };
        self.inputs.fetch(&self.store, uri, sha256, size).await
    }

    /// Whether one shard of `job` fits one slot's share of the memory and disk budgets.
    pub(super) fn fits_budgets(&self, job: &Job) -> Result<(), OverBudget> {
        let kernel = job.kernel.to_core();
        let input_bytes = match &job.input {
            JobInput::Data { .. } => kernel.data_input_bytes()?,
            JobInput::Seed(_) => 0,
        };
        let shards = u32::from(job.shards);
        let served = match kernel {
            Kernel::Embedding { model, .. } => self.models.get(&model),
            _ => None,
        };
        let needs = match served {
            Some(served) => {
                embedding_shard_needs(&kernel, shards, input_bytes, &served.shape, host_threads())?
            }
            None => shard_needs(&kernel, shards, input_bytes)?,
        };
        self.config.budgets.check(needs)
    }

    /// Claims `slot` of `job` (its budgets checked and its input downloaded and checked first, so
    /// neither is ever a missed claim), and reads the new assignment into the index so it counts as held at once.
    /// Waits `wait` (its turn) first, and gives up if another provider took the slot meanwhile.
    /// Returns the job when its input is unusable (it is not tried again).
    pub(super) async fn claim(&self, slot: &Slot, job: &Job, wait: Duration) -> Option<Pubkey> {
        if let Some(refused) = self.vet(slot, job).await {
            return Some(refused);
        }
        tokio::time::sleep(wait).await;
        let taken = self.index.lock().shard(&slot.shard()).is_some_and(|shard| {
            shard
                .check_claimable(slot.replica, &self.me.provider())
                .is_err()
        });
        if taken {
            return None;
        }
        let claimed = match job.private {
            Some(_) => self.claim_private(slot).await,
            None => self.claim_computed(slot, job).await,
        };
        if let Err(error) = claimed {
            match error {
                WorkerError::Chain(ChainError::Refused { .. }) => {
                    tracing::debug!(%error, job = %slot.job, shard = slot.shard_index, "claim refused");
                    self.metrics.fail("claim_refused");
                }
                error => {
                    tracing::warn!(%error, job = %slot.job, shard = slot.shard_index, "claim failed");
                    self.metrics.fail("claim");
                }
            }
        }
        None
    }

    /// Starts computing `slot` and claims it: with the commitment in the same transaction where the
    /// computation finishes within [`COMMIT_WITH_CLAIM_WAIT`], else alone, handing the running
    /// computation to the slot's first step.
    pub(super) async fn claim_computed(&self, slot: &Slot, job: &Job) -> Result<(), WorkerError> {
        let key = slot.assignment();
        let mut computation = self.start_compute(slot, job).await?;
        let mut claim = vec![ix::claim(
            &self.me.wallet.pubkey(),
            &self.me.net.network,
            slot,
        )];
        let finished = tokio::time::timeout(COMMIT_WITH_CLAIM_WAIT, &mut computation)
            .await
            .ok();
        let record = finished
            .map(|finished| self.keep(&key, slot, job, finished))
            .transpose()?;
        match &record {
            Some(record) => claim.push(self.commit_instruction(slot, record)?),
            // The slot's first step may start as soon as the claim is seen: the computation
            // waits for it there.
            None => self.hand_over(key, computation),
        }
        if let Err(error) = self.chain.send(&claim, &[]).await {
            self.forget_failed_claim(&key, slot).await?;
            return Err(error.into());
        }
        self.metrics.claims.inc();
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, committed = record.is_some(), "claimed");
        self.index.reread(&self.chain, &[key, slot.shard()]).await;
        Ok(())
    }

    /// Hands a running computation of the slot `key` to the slot's first step.
    pub(super) fn hand_over(&self, key: Pubkey, computation: Computation) {
        if let Ok(mut computing) = self.computing.lock() {
            computing.insert(key, computation);
        }
    }

    /// After a claim's transaction failed: unless the chain shows the slot held by this provider
    /// after all (a first attempt may have landed unseen), forgets what was prepared for it.
    pub(super) async fn forget_failed_claim(
        &self,
        key: &Pubkey,
        slot: &Slot,
    ) -> Result<(), WorkerError> {
        let held = self
            .chain
            .account::<Assignment>(key)
            .await?
            .is_some_and(|assignment| assignment.provider == self.me.provider());
        if held {
            return Ok(());
        }
        if let Ok(mut computing) = self.computing.lock() {
            computing.remove(key);
        }
        self.store.remove_slot(key)?;
        self.store.remove_output(&slot.job, slot.shard_index)
    }

    /// Checks `job` against the budgets and its input against the input policy, before anything is
    /// claimed or entered; returns the job when it is refused (it is not tried again).
    pub(super) async fn vet(&self, slot: &Slot, job: &Job) -> Option<Pubkey> {
        if let Err(over) = self.fits_budgets(job) {
            let reason = over.reason();
            tracing::warn!(job = %slot.job, reason, %over, "over budget; skipping the job, nothing claimed");
            self.metrics.refuse_budget(reason);
            return Some(slot.job);
        }
        // A private input is checked against the model once its key opens it (a refusal then).
        if let JobInput::Data { uri, sha256 } = &job.input
            && let Err(error) = self
                .fetch_input(job, uri, sha256)
                .await
                .and_then(|data| match job.private {
                    Some(_) => Ok(()),
                    None => self.models.check_data(&job.kernel, job.mode, &data),
                })
        {
            let reason = error.reason();
            tracing::warn!(job = %slot.job, reason, %error, "input refused; skipping the job, nothing claimed");
            self.metrics.refuse_input(reason);
            return Some(slot.job);
        }
        None
    }
}
