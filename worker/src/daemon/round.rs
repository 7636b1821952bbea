//! The daemon's round: the loop that waits for the chain to change, then accounts for this provider's
//! stake and pay, starts each held slot's next step, collects claims, closes paid shards and prunes
//! the data directory; and how it winds down on a signal.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anchor_lang::prelude::Pubkey;
use gpushare::state::{JobInput, Provider, Shard};
use gpushare_client::chain::ChainError;
use gpushare_client::ix::{self};
use solana_signer::Signer;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::WorkerError;
use crate::store::{Needed, Pruned};

use super::*;

impl Daemon {
    pub fn new(worker: Worker) -> Self {
        Self {
            worker: Arc::new(worker),
            steps: HashMap::new(),
            claims: HashMap::new(),
            closing: None,
            pruning: None,
            sweeping: None,
            last_seen: None,
            unusable_jobs: HashSet::new(),
            benchmark: None,
            opened_benchmark_at: None,
            resynced_at: None,
        }
    }

    /// Runs rounds until `stop` is set; a round starts on a chain notification (every slot while the
    /// websocket is up) or every poll interval.
    pub async fn run(
        mut self,
        stop: Arc<AtomicBool>,
        wake: Arc<Notify>,
    ) -> Result<(), WorkerError> {
        while !stop.load(Ordering::SeqCst) {
            if let Err(error) = self.round(&stop).await {
                tracing::warn!(%error, "round failed; retrying next round");
                self.worker.metrics.fail("round");
            }
            tokio::select! {
                _ = wake.notified() => tokio::time::sleep(ROUND_DEBOUNCE).await,
                _ = tokio::time::sleep(self.worker.config.poll_interval) => {}
            }
        }
        self.wind_down().await;
        Ok(())
    }

    /// Abandons claims in flight, lets running steps finish (up to [`STOP_GRACE`]), then abandons
    /// the rest: every slot resumes from the chain and the data directory on restart.
    pub(super) async fn wind_down(self) {
        self.claims.values().for_each(JoinHandle::abort);
        let (aborts, tasks): (Vec<_>, Vec<_>) = self
            .steps
            .into_values()
            .map(|step| (step.task.abort_handle(), step.task))
            .unzip();
        if tokio::time::timeout(STOP_GRACE, futures::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!("steps still running at shutdown were abandoned");
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
        let held = self
            .worker
            .index
            .lock()
            .view()
            .map_or(0, |view| view.held.len());
        tracing::info!(
            held,
            "stopped; held slots resume from the data directory on restart"
        );
    }

    pub(super) async fn round(&mut self, stop: &AtomicBool) -> Result<(), WorkerError> {
        let worker = Arc::clone(&self.worker);
        let owed = worker.index.take_resync_owed();
        let due = self
            .resynced_at
            .is_none_or(|at| at.elapsed() >= worker.config.resync_interval);
        let resync = owed || due || !worker.index.is_live();
        if resync {
            // A failed resync leaves the index as it was: held slots still take their steps.
            match worker.index.resync(&worker.chain).await {
                Ok(()) => self.resynced_at = Some(Instant::now()),
                Err(error) => {
                    tracing::warn!(%error, "resync failed; working from the index as it is");
                    worker.metrics.fail("resync");
                }
            }
        }
        let clock = worker.index.clock(&worker.chain).await?;
        let view = {
            let index = worker.index.lock();
            worker.metrics.indexed_accounts.set(index.tracked() as i64);
            index.view()
        }
        .ok_or(ChainError::Missing(worker.me.provider()))?;
        let round = Arc::new(Round {
            now: clock.unix_timestamp,
            slot: clock.slot,
            view,
        });
        self.account_for(&round.view.provider);
        worker.metrics.in_flight.set(round.view.held.len() as i64);
        self.start_steps(&round);
        self.collect_claims().await;
        self.close_paid_shards(&round);
        if resync {
            self.prune(&round);
            self.sweep_abandoned_proof_buffers();
        }
        if !stop.load(Ordering::SeqCst) {
            self.claim_open_slots(&round);
            self.tend_benchmark(&round).await;
            self.activate_own_stake(&round).await;
        }
        Ok(())
    }

    /// Joins the provider's own added stake to its active stake within the window after its warm-up.
    pub(super) async fn activate_own_stake(&self, round: &Round) {
        let warming = round.view.provider.own_warming;
        if warming.amount == 0 || !warming.may_join(round.now) {
            return;
        }
        let worker = &self.worker;
        let activate = ix::activate_stake(&worker.me.net, &worker.me.wallet.pubkey(), None);
        match worker.chain.submit(activate).await {
            Ok(_) => tracing::info!(amount = warming.amount, "own stake activated"),
            Err(error) => tracing::debug!(%error, "could not activate own stake"),
        }
    }

    /// Starts the next step of every held slot that has none running and whose inputs changed
    /// since its last step, or that waited [`RETRY_SLOTS`].
    pub(super) fn start_steps(&mut self, round: &Arc<Round>) {
        let held: HashSet<Pubkey> = round.view.held.iter().map(|held| held.key).collect();
        self.steps
            .retain(|key, step| held.contains(key) || !step.task.is_finished());
        if let Ok(mut computing) = self.worker.computing.lock() {
            computing.retain(|key, computation| held.contains(key) || !computation.is_finished());
        }
        for slot in &round.view.held {
            let due = self.steps.get(&slot.key).is_none_or(|step| {
                step.task.is_finished()
                    && (step.seen != slot.seen
                        || round.slot >= step.started_at.saturating_add(RETRY_SLOTS))
            });
            if !due {
                continue;
            }
            let (worker, round_now, held) =
                (Arc::clone(&self.worker), Arc::clone(round), slot.clone());
            let task = tokio::spawn(async move { worker.step(&round_now, &held).await });
            self.steps.insert(
                slot.key,
                Step {
                    task,
                    seen: slot.seen,
                    started_at: round.slot,
                },
            );
        }
    }

    /// Counts earnings, completions and slashes from the provider account's counters.
    pub(super) fn account_for(&mut self, now: &Provider) {
        let metrics = &self.worker.metrics;
        if let Some(before) = &self.last_seen {
            metrics
                .earnings
                .inc_by(now.earned.saturating_sub(before.earned));
            metrics
                .completions
                .inc_by(now.completed.saturating_sub(before.completed));
            let slashed = now.slashed.saturating_sub(before.slashed);
            if slashed > 0 {
                metrics.slashes.inc();
                metrics.slashed_tokens.inc_by(slashed);
                tracing::warn!(
                    slashed,
                    total = now.slashed,
                    failed = now.failed,
                    missed = now.missed,
                    "this provider was slashed"
                );
            }
        }
        self.last_seen = Some(now.clone());
    }

    /// Closes, in the background, shards whose rent this wallet paid once their job expired and no
    /// slot is held. Before that the settled shard holds the accepted root its client verifies
    /// results against; the client closes it (rent still to this wallet) when it closes the job.
    pub(super) fn close_paid_shards(&mut self, round: &Arc<Round>) {
        if self
            .closing
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let wallet = self.worker.me.wallet.pubkey();
        let closable: Vec<(Pubkey, Arc<Shard>)> = round
            .view
            .shards
            .iter()
            .filter(|(_, shard)| {
                shard.payer == wallet
                    && shard.held_mask == 0
                    && round
                        .view
                        .jobs
                        .get(&shard.job)
                        .is_none_or(|job| job.is_expired(round.now))
            })
            .map(|(key, shard)| (*key, Arc::clone(shard)))
            .collect();
        if closable.is_empty() {
            return;
        }
        let (worker, slot) = (Arc::clone(&self.worker), round.slot);
        self.closing = Some(tokio::spawn(async move {
            for (key, shard) in closable {
                let close = ix::close_shard(&shard.job, shard.index, &wallet, &wallet);
                match worker.chain.submit(close).await {
                    Ok(_) => {
                        worker.index.lock().forget(key, slot);
                        tracing::info!(job = %shard.job, shard = shard.index, "closed shard; rent returned")
                    }
                    Err(error) => {
                        tracing::debug!(%error, "could not close a shard");
                        worker.index.reread(&worker.chain, &[key]).await;
                    }
                }
            }
        }));
    }

    /// Prunes the data directory in the background (one pruning at a time) of what the jobs and
    /// slots of `round` no longer need, past the retention time.
    pub(super) fn prune(&mut self, round: &Round) {
        if self
            .pruning
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let jobs: HashSet<Pubkey> = round.view.jobs.keys().copied().collect();
        let inputs: HashSet<[u8; 32]> = round
            .view
            .jobs
            .values()
            .filter_map(|job| match &job.input {
                JobInput::Data { sha256, .. } => Some(*sha256),
                JobInput::Seed(_) => None,
            })
            .collect();
        let slots: HashSet<Pubkey> = round.view.held.iter().map(|held| held.key).collect();
        let worker = Arc::clone(&self.worker);
        self.pruning = Some(tokio::task::spawn_blocking(move || {
            let needed = Needed {
                jobs: &jobs,
                inputs: &inputs,
                slots: &slots,
            };
            match worker.store.prune(&needed, worker.config.retention) {
                Ok(pruned) if pruned != Pruned::default() => {
                    tracing::info!(?pruned, "pruned the data directory")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not prune the data directory"),
            }
        }));
    }

    /// Records how finished claims ended.
    pub(super) async fn collect_claims(&mut self) {
        let finished: Vec<(Pubkey, u16)> = self
            .claims
            .iter()
            .filter(|(_, task)| task.is_finished())
            .map(|(key, _)| *key)
            .collect();
        for key in finished {
            let Some(task) = self.claims.remove(&key) else {
                continue;
            };
            match task.await {
                Ok(unusable) => self.unusable_jobs.extend(unusable),
                Err(error) => tracing::warn!(%error, "claim task failed"),
            }
        }
    }
}
