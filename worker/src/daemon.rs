//! The `run` loop: finds open slots, claims what this machine can run at an acceptable price, computes,
//! commits, reveals, proves, settles and closes — driven by the chain's state of every slot this
//! provider holds, so that a restart (even after `kill -9`) picks up exactly where the chain is.
//! Everything a later step needs (the salt and root) is written to the data directory before the step
//! that depends on it is sent; commitments are only ever sent for the one saved salt of a slot.
//!
//! A round works from the [`Index`](crate::index) (no listing of the chain per round) and starts each
//! held slot's next step as a task of its own, so one slow transaction or computation delays nothing
//! else; a slot's next step starts once the chain changed what that step read, or after
//! [`RETRY_SLOTS`] without change (deadlines pass with time alone).
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use gpushare::commitment::work_commitment;
use gpushare::state::{
    Assignment, Job, JobInput, KernelSpec, Provider, Resolution, Shard, ShardPhase, Verdict,
};
use gpushare_client::chain::{Chain, ChainError};
use gpushare_client::ix::{self, Holder, NetworkKeys, Slot};
use gpushare_client::pda;
use gpushare_core::kernels::job_seed;
use gpushare_core::spot_check::{CHALLENGE_SLOTS, leaf_fits_budget};
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};
use solana_keypair::Keypair;
use solana_signer::Signer;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use gpushare_engine::backend::Backend;
use crate::benchmark::{Challenger, Outcome};
use crate::budget::{OverBudget, shard_needs};
use crate::config::Config;
use gpushare_engine::shard::{Input, ShardRun};
use crate::error::WorkerError;
use crate::fault::Fault;
use crate::index::check_shard;
use crate::index::{Held, SharedIndex, View};
use crate::inputs::{InputError, Inputs};
use crate::metrics::Metrics;
use crate::prover;
use crate::store::{Needed, Pruned, SlotRecord, Store};

/// A job's claim timeout must leave this many times the estimated compute time, plus
/// [`CLAIM_TIMEOUT_SLACK_SECONDS`] for the transactions around it.
const CLAIM_TIMEOUT_MARGIN: f64 = 2.0;
const CLAIM_TIMEOUT_SLACK_SECONDS: f64 = 10.0;
/// How long a claim waits for its shard's computation, to send the commitment with it.
const COMMIT_WITH_CLAIM_WAIT: Duration = Duration::from_millis(200);
/// How long a provider waits for each provider ahead of it in a slot's claim order (see
/// [`Daemon::turn`]): about the time a claim takes to land and be seen.
const CLAIM_TURN: Duration = Duration::from_millis(800);
/// Slots a replica other than the first decided one waits before settling a ready shard itself.
const SETTLE_TURN_SLOTS: u64 = 3;
/// Slots after which a held slot's step runs again though nothing it read has changed.
const RETRY_SLOTS: u64 = 2;
/// Pause after a chain notification before the round, so that a burst of them makes one round.
const ROUND_DEBOUNCE: Duration = Duration::from_millis(50);
/// How long a stopping daemon lets running steps finish before abandoning them (each resumes from
/// the chain and the data directory on restart).
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The provider's identity on the network.
#[derive(Clone)]
pub struct Identity {
    pub wallet: Arc<Keypair>,
    pub holder: Holder,
    pub net: NetworkKeys,
}

impl Identity {
    pub fn provider(&self) -> Pubkey {
        pda::provider(&self.net.network, &self.wallet.pubkey())
    }

    fn slot_of(assignment: &Assignment) -> Slot {
        Slot {
            job: assignment.job,
            shard_index: assignment.shard_index,
            replica: assignment.replica,
        }
    }
}

/// What one round works from: the clock and the index's view.
struct Round {
    now: i64,
    slot: u64,
    view: View,
}

/// What every step needs, shared by the daemon and the tasks it starts: the chain, this
/// provider's identity, the compute backend, the data directory, settings, metrics, the injected
/// fault (tests only) and the chain index.
pub struct Worker {
    pub chain: Arc<Chain>,
    pub me: Identity,
    pub backend: Arc<dyn Backend>,
    pub store: Store,
    pub config: Config,
    /// Fetches job inputs under the configured policy.
    pub inputs: Inputs,
    pub metrics: Arc<Metrics>,
    pub fault: Fault,
    pub index: SharedIndex,
    /// Computations started at a claim and still running when it was sent, by assignment.
    pub computing: std::sync::Mutex<HashMap<Pubkey, Computation>>,
}

/// A shard computing in the background.
pub type Computation = JoinHandle<Result<ShardRun, WorkerError>>;

/// One held slot as its next step sees it.
#[derive(Clone, Copy)]
struct SlotStep<'a> {
    round: &'a Round,
    key: Pubkey,
    slot: Slot,
    job: &'a Job,
    assignment: &'a Assignment,
    shard: &'a Shard,
    /// The slot the shard last changed at.
    shard_changed_at: u64,
}

/// The step running (or last run) for one held slot, and the index slots of what it read.
struct Step {
    task: JoinHandle<()>,
    seen: (u64, u64),
    started_at: u64,
}

/// The worker daemon.
pub struct Daemon {
    worker: Arc<Worker>,
    steps: HashMap<Pubkey, Step>,
    /// Claims in flight, by the job and shard index they are for; each ends with the job it found
    /// unusable, if any.
    claims: HashMap<(Pubkey, u16), JoinHandle<Option<Pubkey>>>,
    closing: Option<JoinHandle<()>>,
    pruning: Option<JoinHandle<()>>,
    last_seen: Option<Provider>,
    unusable_jobs: HashSet<Pubkey>,
    /// The throughput challenge being answered in the background.
    challenge: Option<JoinHandle<Result<Outcome, WorkerError>>>,
    /// Slot of the last challenge this worker opened itself (a failed one is not retried at once).
    opened_challenge_at: Option<u64>,
    resynced_at: Option<Instant>,
}

impl Daemon {
    pub fn new(worker: Worker) -> Self {
        Self {
            worker: Arc::new(worker),
            steps: HashMap::new(),
            claims: HashMap::new(),
            closing: None,
            pruning: None,
            last_seen: None,
            unusable_jobs: HashSet::new(),
            challenge: None,
            opened_challenge_at: None,
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
    async fn wind_down(self) {
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

    async fn round(&mut self, stop: &AtomicBool) -> Result<(), WorkerError> {
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
        }
        if !stop.load(Ordering::SeqCst) {
            self.claim_open_slots(&round);
            self.tend_challenge(&round).await;
            self.activate_own_stake(&round).await;
        }
        Ok(())
    }

    /// Joins the provider's own added stake to its active stake within the window after its warm-up.
    async fn activate_own_stake(&self, round: &Round) {
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
    fn start_steps(&mut self, round: &Arc<Round>) {
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

    /// Answers a throughput challenge on this provider, whoever opened it; and (with
    /// `prove_hardware`) opens one when nothing is proven or the proof is in the last tenth of its
    /// validity. One at a time, in the background; a failed one of its own waits a tenth of the
    /// validity before the next.
    async fn tend_challenge(&mut self, round: &Round) {
        if let Some(task) = self.challenge.take_if(|task| task.is_finished()) {
            match task.await {
                Ok(Ok(outcome)) => tracing::info!(
                    mops = outcome.mops,
                    compute_seconds = outcome.compute_seconds,
                    "throughput challenge settled"
                ),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "throughput challenge step failed");
                    self.worker.metrics.fail(error.kind());
                }
                Err(error) => tracing::warn!(%error, "throughput challenge task failed"),
            }
        }
        if self.challenge.is_some() {
            return;
        }
        let provider = &round.view.provider;
        let params = &round.view.network.params;
        let validity = params.proof_validity_slots;
        let retry = validity / 10;
        let open = round.view.challenge_open;
        let due = self.worker.config.prove_hardware
            && provider.hardware.throughput_gops > 0
            && provider
                .own_stake()
                .is_ok_and(|stake| stake >= params.min_stake)
            && (provider.proven.mops == 0
                || round.slot >= provider.proven.slot.saturating_add(validity - retry))
            && self
                .opened_challenge_at
                .is_none_or(|at| round.slot >= at.saturating_add(retry));
        if !open && !due {
            return;
        }
        if !open {
            self.opened_challenge_at = Some(round.slot);
        }
        let challenger = Challenger {
            chain: Arc::clone(&self.worker.chain),
            me: self.worker.me.clone(),
            backend: Arc::clone(&self.worker.backend),
        };
        self.challenge = Some(tokio::spawn(async move { challenger.prove().await }));
    }

    /// Counts earnings, completions and slashes from the provider account's counters.
    fn account_for(&mut self, now: &Provider) {
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
    fn close_paid_shards(&mut self, round: &Arc<Round>) {
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
    fn prune(&mut self, round: &Round) {
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
    async fn collect_claims(&mut self) {
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

    /// Claims open slots this worker can run at an acceptable price, up to its free slots, each
    /// attempt a task of its own. Slots of shards other providers started come first, so started
    /// work finishes before new work starts; and a shard that needs several replicas is started only
    /// while a slot would stay free after it. Otherwise every worker could fill up with first
    /// replicas that all wait for second replicas nobody has room to claim.
    fn claim_open_slots(&mut self, round: &Arc<Round>) {
        if round
            .view
            .provider
            .check_active(&round.view.network.params)
            .is_err()
        {
            return;
        }
        let limit = self.worker.config.concurrent_jobs;
        let mut busy = round.view.held.len() + self.claims.len();
        if busy >= limit {
            return;
        }
        let openings = self.openings(round);
        let peers = &round.view.peers;
        let candidates = self
            .in_turn(openings.joins, peers)
            .into_iter()
            .chain(self.in_turn(openings.starts, peers));
        for (turn, opening) in candidates {
            let slot = opening.slot;
            let shard = (slot.job, slot.shard_index);
            if busy >= limit || (opening.shared_start && busy + 1 >= limit) {
                continue;
            }
            if self.claims.contains_key(&shard) {
                continue;
            }
            let Some(job) = round.view.jobs.get(&slot.job).cloned() else {
                continue;
            };
            let worker = Arc::clone(&self.worker);
            let wait = CLAIM_TURN * u32::try_from(turn).unwrap_or(u32::MAX);
            let task = tokio::spawn(async move { worker.claim(&slot, &job, wait).await });
            self.claims.insert(shard, task);
            busy += 1;
        }
    }

    /// `openings` in this provider's turn order, ties in random order.
    fn in_turn<'a>(
        &self,
        openings: Vec<Opening<'a>>,
        peers: &[Pubkey],
    ) -> Vec<(usize, Opening<'a>)> {
        let mut turns: Vec<(usize, Opening<'a>)> = openings
            .into_iter()
            .map(|opening| (self.turn(&opening, peers), opening))
            .collect();
        turns.shuffle(&mut rand::rng());
        turns.sort_by_key(|(turn, _)| *turn);
        turns
    }

    /// This provider's turn to claim an opening: how many of the network's active providers, among
    /// those holding no replica of its shard, come before it in an order drawn from the slot (each
    /// provider is first for its share of slots). A provider waits [`CLAIM_TURN`] for each, so that providers that saw the same new work do not
    /// all claim it at once: the failed claims would land and pay fees.
    fn turn(&self, opening: &Opening<'_>, peers: &[Pubkey]) -> usize {
        let (me, slot, shard) = (self.worker.me.provider(), &opening.slot, opening.shard);
        let draw = |provider: &Pubkey| {
            let mut hasher = Sha256::new();
            hasher.update(slot.job);
            hasher.update(slot.shard_index.to_le_bytes());
            hasher.update([slot.replica]);
            hasher.update(provider);
            hasher.finalize()
        };
        let mine = draw(&me);
        peers
            .iter()
            .filter(|peer| **peer != me && shard.is_none_or(|shard| !shard.ever_held_by(peer)))
            .filter(|peer| draw(peer) < mine)
            .count()
    }

    /// Whether this worker takes work from `job`: open, paying enough, a kernel it can run, shards it
    /// can hold, proofs that fit a transaction, a claim timeout it can meet, and claims its active
    /// stake can back.
    fn wants(&self, key: &Pubkey, job: &Job, round: &Round) -> bool {
        let kernel = job.kernel.to_core();
        let provider = &round.view.provider;
        let provable = !job.mode.is_spot_check() || leaf_fits_budget(&kernel);
        let holdable = kernel.check_shard_size(u32::from(job.shards)).is_ok();
        let timeout_met = meets_claim_timeout(job, provider);
        let backed = provider
            .check_can_claim(&round.view.network.params, job.stake_per_claim)
            .is_ok();
        let proven_enough = provider
            .check_hardware(
                &job.hardware,
                round.view.network.params.proof_validity_slots,
                round.slot,
            )
            .is_ok();
        let supported = match (&job.input, job.kernel) {
            (JobInput::Data { uri, .. }, KernelSpec::GemmI8 { .. }) => {
                ["http://", "https://", "file://"]
                    .iter()
                    .any(|scheme| uri.starts_with(scheme))
            }
            (JobInput::Data { .. }, _) => false,
            (JobInput::Seed(_), _) => true,
        };
        supported
            && provable
            && proven_enough
            && holdable
            && timeout_met
            && backed
            && !self.unusable_jobs.contains(key)
            && !job.cancelled
            && job.price >= self.worker.config.min_price
            && job.shards_settled < job.shards
    }

    /// The free slots of the jobs this worker wants, claimed in time for their shards to finish.
    fn openings<'a>(&self, round: &'a Round) -> Openings<'a> {
        let provider = self.worker.me.provider();
        let mut shards_of: HashMap<Pubkey, HashMap<u16, &Shard>> = HashMap::new();
        for shard in round.view.shards.values() {
            shards_of
                .entry(shard.job)
                .or_default()
                .insert(shard.index, shard);
        }
        let mut openings = Openings::default();
        for (key, job) in &round.view.jobs {
            if !self.wants(key, job, round) {
                continue;
            }
            let started = shards_of.get(key);
            let deadline = round.now.saturating_add(job.claim_timeout);
            let finishable = |unclaimed| job.check_can_finish(deadline, unclaimed).is_ok();
            for index in 0..job.shards {
                let slot = |replica| Slot {
                    job: *key,
                    shard_index: index,
                    replica,
                };
                match started.and_then(|shards| shards.get(&index)) {
                    None if !job.was_started(index) && finishable(u32::from(job.replicas) - 1) => {
                        openings.starts.push(Opening {
                            slot: slot(0),
                            shard: None,
                            shared_start: job.replicas > 1,
                        })
                    }
                    None => {}
                    Some(shard) => {
                        let claimable = (0..shard.replicas_open)
                            .find(|r| shard.check_claimable(*r, &provider).is_ok())
                            .filter(|_| finishable(shard.unclaimed() - 1));
                        openings.joins.extend(claimable.map(|replica| Opening {
                            slot: slot(replica),
                            shard: Some(shard),
                            shared_start: false,
                        }));
                    }
                }
            }
        }
        openings
    }
}

impl Worker {
    /// Runs one held slot's next step, reporting a failure (the step runs again later).
    async fn step(&self, round: &Round, held: &Held) {
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
    async fn advance(&self, round: &Round, held: &Held) -> Result<(), WorkerError> {
        let (key, assignment) = (&held.key, &held.assignment);
        let Some(job) = round.view.jobs.get(&assignment.job) else {
            return Ok(());
        };
        let slot = Identity::slot_of(assignment);
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
        let verdict = shard.verdict(
            assignment.replica,
            assignment.commit_deadline,
            assignment.root,
            round.now,
            job.is_expired(round.now),
        );
        if verdict != Verdict::Pending {
            return self.settle(&at, Vec::new(), verdict).await;
        }
        match (assignment.commitment, assignment.root) {
            (None, _) => self.compute_and_commit(key, &slot, job).await,
            (Some(_), None) => self.reveal(&at).await,
            (Some(_), Some(_)) => self.prove_or_settle(&at).await,
        }
    }

    /// Computes the slot's shard (unless its record is saved already, or a computation started at
    /// its claim is running), saves the record, commits.
    async fn compute_and_commit(
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
        let record = self.keep(key, slot, computation.await)?;
        self.commit(slot, &record).await
    }

    /// Saves a finished computation of `slot`: its output, and the slot's record with a fresh salt
    /// (durably, before any commitment to it is sent).
    fn keep(
        &self,
        key: &Pubkey,
        slot: &Slot,
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
        self.store
            .save_output(&slot.job, slot.shard_index, &output.bytes)?;
        self.store.save_slot(key, &record)?;
        tracing::info!(job = %slot.job, shard = slot.shard_index, root = %record.root, device = %run.device, seconds, "computed");
        Ok(record)
    }

    /// The commit instruction for `record`'s root and salt.
    fn commit_instruction(
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

    async fn start_compute(&self, slot: &Slot, job: &Job) -> Result<Computation, WorkerError> {
        let input = match &job.input {
            JobInput::Seed(seed) => Input::Seed(job_seed(seed, &slot.job.to_bytes())),
            JobInput::Data { uri, sha256 } => {
                Input::Data(self.fetch_input(job, uri, sha256).await?)
            }
        };
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

    async fn commit(&self, slot: &Slot, record: &SlotRecord) -> Result<(), WorkerError> {
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
    async fn reveal(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
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

    async fn prove_or_settle(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
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
        let output = self
            .store
            .output(&slot.job, slot.shard_index)?
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
    async fn fix_dispute_challenge(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
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

    /// Settles the shard, and this slot with it in the same transaction where settling the shard
    /// decides the slot.
    async fn settle_shard(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
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
    async fn send_then_settle(
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
    async fn settle(
        &self,
        at: &SlotStep<'_>,
        mut before: Vec<Instruction>,
        verdict: Verdict,
    ) -> Result<(), WorkerError> {
        let slot = &at.slot;
        let started = Instant::now();
        let Some(outcome) = ix::outcome(&self.me.net, slot, &self.me.holder, verdict) else {
            return Ok(());
        };
        before.push(outcome);
        self.chain.send(&before, &[]).await?;
        self.store.remove_slot(&at.key)?;
        self.index.lock().forget(at.key, at.round.slot);
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
    async fn crank_expired(&self, at: &SlotStep<'_>) -> Result<(), WorkerError> {
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

    /// `job`'s data input, of exactly the size its kernel takes (none for a kernel that takes no
    /// data: any input is then refused for its size).
    async fn fetch_input(
        &self,
        job: &Job,
        uri: &str,
        sha256: &[u8; 32],
    ) -> Result<Vec<u8>, InputError> {
        let size = job.kernel.to_core().data_input_bytes().unwrap_or(0);
        self.inputs.fetch(&self.store, uri, sha256, size).await
    }

    /// Whether one shard of `job` fits one slot's share of the memory and disk budgets.
    fn fits_budgets(&self, job: &Job) -> Result<(), OverBudget> {
        let kernel = job.kernel.to_core();
        let input_bytes = match &job.input {
            JobInput::Data { .. } => kernel.data_input_bytes()?,
            JobInput::Seed(_) => 0,
        };
        let needs = shard_needs(&kernel, u32::from(job.shards), input_bytes)?;
        self.config.budgets.check(needs)
    }

    /// Claims `slot` of `job` (its budgets checked and its input downloaded and checked first, so
    /// neither is ever a missed claim), and reads the new assignment into the index so it counts as held at once.
    /// Waits `wait` (its turn) first, and gives up if another provider took the slot meanwhile.
    /// Returns the job when its input is unusable (it is not tried again).
    async fn claim(&self, slot: &Slot, job: &Job, wait: Duration) -> Option<Pubkey> {
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
        if let Err(error) = self.claim_computed(slot, job).await {
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
    async fn claim_computed(&self, slot: &Slot, job: &Job) -> Result<(), WorkerError> {
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
            .map(|finished| self.keep(&key, slot, finished))
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
    fn hand_over(&self, key: Pubkey, computation: Computation) {
        if let Ok(mut computing) = self.computing.lock() {
            computing.insert(key, computation);
        }
    }

    /// After a claim's transaction failed: unless the chain shows the slot held by this provider
    /// after all (a first attempt may have landed unseen), forgets what was prepared for it.
    async fn forget_failed_claim(&self, key: &Pubkey, slot: &Slot) -> Result<(), WorkerError> {
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
    async fn vet(&self, slot: &Slot, job: &Job) -> Option<Pubkey> {
        if let Err(over) = self.fits_budgets(job) {
            let reason = over.reason();
            tracing::warn!(job = %slot.job, reason, %over, "over budget; skipping the job, nothing claimed");
            self.metrics.refuse_budget(reason);
            return Some(slot.job);
        }
        if let JobInput::Data { uri, sha256 } = &job.input
            && let Err(error) = self.fetch_input(job, uri, sha256).await
        {
            let reason = error.reason();
            tracing::warn!(job = %slot.job, reason, %error, "input refused; skipping the job, nothing claimed");
            self.metrics.refuse_input(reason);
            return Some(slot.job);
        }
        None
    }
}

/// Whether this slot's replica settles its ready shard now: the lowest decided replica (revealed;
/// spot-checked: passed or failed) at once, the others [`SETTLE_TURN_SLOTS`] after the shard's last
/// change, so that two replicas do not both send the settlement and one pay for a failed
/// transaction.
fn settles_now(at: &SlotStep<'_>) -> bool {
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
fn verdict_once_settled(at: &SlotStep<'_>) -> Option<Verdict> {
    let mut settled = at.shard.clone();
    let resolution = at
        .job
        .resolve_shard(&mut settled, at.round.now, at.round.slot);
    let Resolution::Final(_) = resolution else {
        return None;
    };
    let verdict = settled.verdict(
        at.assignment.replica,
        at.assignment.commit_deadline,
        at.assignment.root,
        at.round.now,
        at.job.is_expired(at.round.now),
    );
    (verdict != Verdict::Pending).then_some(verdict)
}

/// Seconds `provider` expects one shard of `job` to take, from the GEMM rate it measured at
/// registration; `None` where it has no estimate (other kernels, or no measured rate).
fn estimated_compute_seconds(job: &Job, provider: &Provider) -> Option<f64> {
    let KernelSpec::GemmI8 { m, n, k } = job.kernel else {
        return None;
    };
    let gops = provider.hardware.throughput_gops;
    let rows = u64::from(m).div_ceil(u64::from(job.shards.max(1))) as f64;
    (gops > 0).then(|| 2.0 * rows * f64::from(n) * f64::from(k) / (gops as f64 * 1e9))
}

/// Whether `job`'s claim timeout leaves `provider` room to compute a shard and commit: a client
/// setting a deadline nobody can meet would collect the miss slashes of whoever claims.
fn meets_claim_timeout(job: &Job, provider: &Provider) -> bool {
    estimated_compute_seconds(job, provider).is_none_or(|seconds| {
        seconds * CLAIM_TIMEOUT_MARGIN + CLAIM_TIMEOUT_SLACK_SECONDS <= job.claim_timeout as f64
    })
}

/// What the jobs offer this provider: slots to claim.
#[derive(Default)]
struct Openings<'a> {
    /// A claimable replica of each shard already started.
    joins: Vec<Opening<'a>>,
    /// The first replica of each shard not started yet.
    starts: Vec<Opening<'a>>,
}

/// One slot this provider may claim: its shard when started, and whether claiming it starts a
/// shard that needs several replicas.
struct Opening<'a> {
    slot: Slot,
    shard: Option<&'a Shard>,
    shared_start: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::zeroed;

    #[test]
    fn a_claim_timeout_nobody_could_meet_is_refused() {
        let mut provider: Provider = zeroed();
        let mut job: Job = zeroed();
        (job.kernel, job.shards, job.claim_timeout) = (
            KernelSpec::GemmI8 {
                m: 8_192,
                n: 8_192,
                k: 8_192,
            },
            1,
            10,
        );
        assert!(
            meets_claim_timeout(&job, &provider),
            "no measured rate: no estimate"
        );
        provider.hardware.throughput_gops = 100; // 2·8192³ operations: about 11 s at 100 GOPS
        assert!(!meets_claim_timeout(&job, &provider));
        job.claim_timeout = 40;
        assert!(meets_claim_timeout(&job, &provider));
        job.shards = 8;
        job.claim_timeout = 13;
        assert!(
            meets_claim_timeout(&job, &provider),
            "an eighth of the rows"
        );
    }
}
