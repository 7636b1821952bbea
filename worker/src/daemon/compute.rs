//! Computing a claimed shard in the background, keeping its salt, root and output in the data
//! directory before anything that depends on them is sent, and committing to it.
use std::sync::Arc;

use anchor_lang::prelude::Pubkey;
use gpushare::state::{Job, JobInput, KernelSpec};
use gpushare_client::ix::Slot;
use gpushare_core::kernels::job_seed;
use gpushare_engine::shard::{Input, ShardRun};
use gpushare_privacy::Sealed;

use crate::error::WorkerError;
use crate::store::SlotRecord;

use super::*;

impl Worker {
    /// Computes the slot's shard (unless its record is saved already, or a computation started at
    /// its claim is running), saves the record, commits.
    pub(super) async fn compute_and_commit(
        &self,
        key: &Pubkey,
        slot: &Slot,
        job: &Job,
    ) -> Result<(), WorkerError> {
        if let Some(record) = self.store.slot(key)? {
            return self.commit(slot, &record).await;
        }
        let started_at_claim = self
            .computing
            .lock()
            .ok()
            .and_then(|mut computing| computing.remove(key));
        let computation = match started_at_claim {
            Some(computation) => computation,
            None => self.start_compute(slot, job).await?,
        };
        let record = self.keep(key, slot, job, computation.await)?;
        self.commit(slot, &record).await
    }

    /// Saves a finished computation of `slot` of `job`: its output (sealed at rest for a private
    /// job), and the slot's record with a fresh salt (durably, before any commitment to it is sent).
    pub(super) fn keep(
        &self,
        key: &Pubkey,
        slot: &Slot,
        job: &Job,
        finished: Result<Result<ShardRun, WorkerError>, tokio::task::JoinError>,
    ) -> Result<SlotRecord, WorkerError> {
        let run = finished.map_err(|e| WorkerError::SelfCheck(format!("compute task: {e}")))??;
        let (output, seconds) = (run.output, run.phases.total);
        self.metrics.observe("compute", seconds);
        self.metrics.computed_on(&run.device, seconds);
        let mut salt = [0u8; 32];
        rand::fill(&mut salt);
        let record = SlotRecord {
            assignment: key.to_string(),
            job: slot.job.to_string(),
            shard_index: slot.shard_index,
            replica: slot.replica,
            root: hex::encode(output.root),
            salt: hex::encode(salt),
        };
        self.store.save_output(
            &slot.job,
            slot.shard_index,
            &output.bytes,
            job.private.is_some(),
        )?;
        self.store.save_slot(key, &record)?;
        tracing::info!(job = %slot.job, shard = slot.shard_index, root = %record.root, device = %run.device, seconds, "computed");
        Ok(record)
    }

    /// `job`'s data input, opened: as published for a public job, under the key this worker opened
    /// for a private one and the job commits to ([`WorkerError::NoDataKey`] before that).
    pub(super) async fn data_input(
        &self,
        address: &Pubkey,
        job: &Job,
        uri: &str,
        sha256: &[u8; 32],
    ) -> Result<Vec<u8>, WorkerError> {
        let published = self.fetch_input(job, uri, sha256).await?;
        if job.private.is_none() {
            return Ok(published);
        }
        let key = self
            .committed_key(address, job)?
            .ok_or(WorkerError::NoDataKey(*address))?;
        Ok(key.data.open(Sealed::Input, &published)?)
    }

    pub(super) async fn start_compute(
        &self,
        slot: &Slot,
        job: &Job,
    ) -> Result<Computation, WorkerError> {
        let input = match (&job.input, job.kernel) {
            (JobInput::Seed(seed), _) => Input::Seed(job_seed(seed, &slot.job.to_bytes())),
            (JobInput::Data { uri, sha256 }, KernelSpec::Embedding { model, .. }) => {
                let model = self.models.get(&model).ok_or_else(|| {
                    WorkerError::Config(format!("model {} is not served", hex::encode(model)))
                })?;
                let data = self.data_input(&slot.job, job, uri, sha256).await?;
                Input::Embedding {
                    data,
                    model,
                    job: slot.job.to_bytes(),
                }
            }
            (JobInput::Data { uri, sha256 }, _) => {
                Input::Data(self.data_input(&slot.job, job, uri, sha256).await?)
            }
        };
        let input = self.fault.prepare(input);
        let (backend, kernel, shards, shard, fault) = (
            Arc::clone(&self.backend),
            job.kernel.to_core(),
            u32::from(job.shards),
            u32::from(slot.shard_index),
            self.fault,
        );
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, ?kernel, "computing");
        Ok(tokio::task::spawn_blocking(move || {
            let mut run = backend.shard(kernel, &input, shards, shard)?;
            fault.apply(&kernel, &mut run.output);
            Ok(run)
        }))
    }
}
