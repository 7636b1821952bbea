//! The `run` loop: finds open slots, claims what this machine can run at an acceptable price, computes,
//! commits, reveals, proves, settles and closes — driven each round by the chain's state of every slot
//! this provider holds, so that a restart (even after `kill -9`) picks up exactly where the chain is.
//! Everything a later step needs (the salt and root) is written to the data directory before the step
//! that depends on it is sent; commitments are only ever sent for the one saved salt of a slot.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use futures::StreamExt;
use gpushare::commitment::work_commitment;
use gpushare::state::{
    Assignment, Benchmark, Job, JobInput, KernelSpec, Network, Provider, Shard, ShardPhase,
    Verdict, VerificationMode,
};
use gpushare_client::chain::{Chain, ChainError, ComputeUnits};
use gpushare_client::ix::{self, Holder, NetworkKeys, Slot};
use gpushare_client::{filters, pda};
use gpushare_core::kernels::job_seed;
use gpushare_core::spot_check::{CHALLENGE_SLOTS, leaf_fits_budget};
use rand::seq::SliceRandom;
use solana_keypair::Keypair;
use solana_signer::Signer;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::backend::Backend;
use crate::benchmark::{Challenger, Outcome};
use crate::config::Config;
use crate::engine::{Input, ShardRun};
use crate::error::WorkerError;
use crate::fault::Fault;
use crate::metrics::Metrics;
use crate::store::{SlotRecord, Store};
use crate::{inputs, prover};

/// Claims tried per round before waiting for the next one.
const CLAIM_ATTEMPTS_PER_ROUND: usize = 4;
/// A job's claim timeout must leave this many times the estimated compute time, plus
/// [`CLAIM_TIMEOUT_SLACK_SECONDS`] for the transactions around it.
const CLAIM_TIMEOUT_MARGIN: f64 = 2.0;
const CLAIM_TIMEOUT_SLACK_SECONDS: f64 = 10.0;

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

/// What the loop reads once per round.
struct Round {
    now: i64,
    slot: u64,
    params: gpushare::state::NetworkParams,
    provider: Provider,
    jobs: HashMap<Pubkey, Job>,
}

/// A shard computing in the background: its output and the seconds it took.
type Computation = JoinHandle<Result<ShardRun, WorkerError>>;

/// The worker daemon.
pub struct Daemon {
    chain: Arc<Chain>,
    me: Identity,
    backend: Arc<dyn Backend>,
    store: Store,
    config: Config,
    metrics: Arc<Metrics>,
    fault: Fault,
    computing: HashMap<Pubkey, Computation>,
    last_seen: Option<Provider>,
    unusable_jobs: HashSet<Pubkey>,
    /// The throughput challenge being answered in the background.
    challenge: Option<JoinHandle<Result<Outcome, WorkerError>>>,
    /// Slot of the last challenge this worker opened itself (a failed one is not retried at once).
    opened_challenge_at: Option<u64>,
}

impl Daemon {
    pub fn new(
        chain: Arc<Chain>,
        me: Identity,
        backend: Arc<dyn Backend>,
        store: Store,
        config: Config,
        metrics: Arc<Metrics>,
        fault: Fault,
    ) -> Self {
        Self {
            chain,
            me,
            backend,
            store,
            config,
            metrics,
            fault,
            computing: HashMap::new(),
            last_seen: None,
            unusable_jobs: HashSet::new(),
            challenge: None,
            opened_challenge_at: None,
        }
    }

    /// Runs rounds until `stop` is set; a round starts on a chain notification or every poll interval.
    pub async fn run(
        mut self,
        stop: Arc<AtomicBool>,
        wake: Arc<Notify>,
    ) -> Result<(), WorkerError> {
        while !stop.load(Ordering::SeqCst) {
            if let Err(error) = self.round(&stop).await {
                tracing::warn!(%error, "round failed; retrying next round");
                self.metrics.fail("round");
            }
            tokio::select! {
                _ = wake.notified() => tokio::time::sleep(Duration::from_millis(100)).await,
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        let held = self.held().await.map(|h| h.len()).unwrap_or_default();
        tracing::info!(
            held,
            "stopped; held slots resume from the data directory on restart"
        );
        Ok(())
    }

    async fn held(&self) -> Result<Vec<(Pubkey, Assignment)>, ChainError> {
        let provider = self.me.provider();
        self.chain
            .program_accounts::<Assignment>(&[(filters::ASSIGNMENT_PROVIDER, provider.as_ref())])
            .await
    }

    async fn round(&mut self, stop: &AtomicBool) -> Result<(), WorkerError> {
        let clock = self.chain.clock().await?;
        let network: Network = self.chain.existing(&self.me.net.network).await?;
        let provider: Provider = self.chain.existing(&self.me.provider()).await?;
        self.account_for(&provider);
        let jobs = self
            .chain
            .program_accounts::<Job>(&[(filters::JOB_NETWORK, self.me.net.network.as_ref())])
            .await?
            .into_iter()
            .collect();
        let round = Round {
            now: clock.unix_timestamp,
            slot: clock.slot,
            params: network.params,
            provider,
            jobs,
        };
        let held = self.held().await?;
        self.metrics.in_flight.set(held.len() as i64);
        for (key, assignment) in &held {
            if let Err(error) = self.advance(&round, key, assignment).await {
                tracing::warn!(assignment = %key, job = %assignment.job, shard = assignment.shard_index, %error, "slot step failed");
                self.metrics.fail(error.kind());
            }
        }
        self.close_paid_shards(&round).await;
        if !stop.load(Ordering::SeqCst) && held.len() < self.config.concurrent_jobs {
            self.claim_next(&round, held.len()).await;
        }
        if !stop.load(Ordering::SeqCst) {
            self.tend_challenge(&round).await?;
        }
        Ok(())
    }

    /// Answers a throughput challenge on this provider, whoever opened it; and (with
    /// `prove_hardware`) opens one when nothing is proven or the proof is in the last tenth of its
    /// validity. One at a time, in the background; a failed one of its own waits a tenth of the
    /// validity before the next.
    async fn tend_challenge(&mut self, round: &Round) -> Result<(), WorkerError> {
        if let Some(task) = self.challenge.take_if(|task| task.is_finished()) {
            match task.await {
                Ok(Ok(outcome)) => tracing::info!(
                    mops = outcome.mops,
                    compute_seconds = outcome.compute_seconds,
                    "throughput challenge settled"
                ),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "throughput challenge step failed");
                    self.metrics.fail(error.kind());
                }
                Err(error) => tracing::warn!(%error, "throughput challenge task failed"),
            }
        }
        if self.challenge.is_some() {
            return Ok(());
        }
        let provider = &round.provider;
        let validity = round.params.proof_validity_slots;
        let retry = validity / 10;
        let open = self
            .chain
            .account::<Benchmark>(&pda::benchmark(&self.me.provider()))
            .await?
            .is_some();
        let due = self.config.prove_hardware
            && provider.hardware.throughput_gops > 0
            && provider.own_stake()? >= round.params.min_stake
            && (provider.proven.mops == 0
                || round.slot >= provider.proven.slot.saturating_add(validity - retry))
            && self
                .opened_challenge_at
                .is_none_or(|at| round.slot >= at.saturating_add(retry));
        if !open && !due {
            return Ok(());
        }
        if !open {
            self.opened_challenge_at = Some(round.slot);
        }
        let challenger = Challenger {
            chain: Arc::clone(&self.chain),
            me: self.me.clone(),
            backend: Arc::clone(&self.backend),
        };
        self.challenge = Some(tokio::spawn(async move { challenger.prove().await }));
        Ok(())
    }

    /// Counts earnings, completions and slashes from the provider account's counters.
    fn account_for(&mut self, now: &Provider) {
        if let Some(before) = &self.last_seen {
            self.metrics
                .earnings
                .inc_by(now.earned.saturating_sub(before.earned));
            self.metrics
                .completions
                .inc_by(now.completed.saturating_sub(before.completed));
            let slashed = now.slashed.saturating_sub(before.slashed);
            if slashed > 0 {
                self.metrics.slashes.inc();
                self.metrics.slashed_tokens.inc_by(slashed);
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

    /// Takes the next step of one held slot, as its on-chain state says.
    async fn advance(
        &mut self,
        round: &Round,
        key: &Pubkey,
        assignment: &Assignment,
    ) -> Result<(), WorkerError> {
        let Some(job) = round.jobs.get(&assignment.job) else {
            return Ok(());
        };
        let slot = Identity::slot_of(assignment);
        let shard: Shard = self.chain.existing(&slot.shard()).await?;
        let expired = job.is_expired(round.now);
        let verdict = shard.verdict(
            assignment.replica,
            assignment.commit_deadline,
            assignment.root,
            round.now,
            expired,
        );
        if verdict != Verdict::Pending {
            return self.settle(key, &slot, verdict).await;
        }
        match (assignment.commitment, assignment.root) {
            (None, _) => self.compute_and_commit(key, &slot, job).await,
            (Some(_), None) => {
                let spot_check = job.mode.is_spot_check();
                self.reveal(round, key, &slot, assignment, &shard, spot_check)
                    .await
            }
            (Some(_), Some(_)) => {
                self.prove_or_settle(round, key, &slot, job, assignment, &shard)
                    .await
            }
        }
    }

    async fn compute_and_commit(
        &mut self,
        key: &Pubkey,
        slot: &Slot,
        job: &Job,
    ) -> Result<(), WorkerError> {
        if let Some(record) = self.store.slot(key)? {
            return self.commit(slot, &record).await;
        }
        match self.computing.remove(key) {
            None => {
                let handle = self.start_compute(slot, job).await?;
                self.computing.insert(*key, handle);
                Ok(())
            }
            Some(handle) if !handle.is_finished() => {
                self.computing.insert(*key, handle);
                Ok(())
            }
            Some(handle) => {
                let run = handle
                    .await
                    .map_err(|e| WorkerError::SelfCheck(format!("compute task: {e}")))??;
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
                self.commit(slot, &record).await
            }
        }
    }

    async fn start_compute(&self, slot: &Slot, job: &Job) -> Result<Computation, WorkerError> {
        let input = match &job.input {
            JobInput::Seed(seed) => Input::Seed(job_seed(seed, &slot.job.to_bytes())),
            JobInput::Data { uri, sha256 } => Input::Data(
                inputs::fetch(&self.store, uri, sha256, self.config.max_input_bytes).await?,
            ),
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
        let commitment =
            work_commitment(&record.root()?, &self.me.wallet.pubkey(), &record.salt()?);
        let started = Instant::now();
        let sent = self
            .chain
            .submit(ix::commit(
                &self.me.wallet.pubkey(),
                &self.me.net.network,
                slot,
                commitment,
            ))
            .await;
        match sent {
            Ok(_) => {}
            Err(e) if e.is_refusal("AlreadyCommitted") => {}
            Err(e) => return Err(e.into()),
        }
        self.metrics
            .observe("commit", started.elapsed().as_secs_f64());
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "committed");
        Ok(())
    }

    async fn reveal(
        &self,
        round: &Round,
        key: &Pubkey,
        slot: &Slot,
        assignment: &Assignment,
        shard: &Shard,
        spot_check: bool,
    ) -> Result<(), WorkerError> {
        // A spot-check challenge comes from the slot hashes after the commitment's slot: fix it as
        // soon as they exist, before they leave the SlotHashes sysvar, whatever the other replicas do.
        if spot_check && assignment.challenge.is_none() {
            if round.slot <= assignment.commit_slot + CHALLENGE_SLOTS as u64 {
                return Ok(());
            }
            match self.chain.submit(ix::fix_challenge(slot)).await {
                Ok(_) => {
                    tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "challenge fixed")
                }
                Err(e)
                    if e.is_refusal("ChallengeNotReady") || e.is_refusal("AlreadyChallenged") => {}
                Err(e) => return Err(e.into()),
            }
        }
        if shard.check_can_reveal(slot.replica, round.now).is_err() {
            return self.crank_expired(round, slot, shard).await;
        }
        let record = self.store.slot(key)?.ok_or(WorkerError::SaltLost(*key))?;
        let started = Instant::now();
        let sent = self
            .chain
            .submit(ix::reveal(
                &self.me.wallet.pubkey(),
                slot,
                record.root()?,
                record.salt()?,
            ))
            .await;
        match sent {
            Ok(_) => {
                self.metrics
                    .observe("reveal", started.elapsed().as_secs_f64());
                tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "revealed");
                Ok(())
            }
            Err(e) if e.is_refusal("ChallengeNotReady") || e.is_refusal("AlreadyRevealed") => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn prove_or_settle(
        &self,
        round: &Round,
        key: &Pubkey,
        slot: &Slot,
        job: &Job,
        assignment: &Assignment,
        shard: &Shard,
    ) -> Result<(), WorkerError> {
        let spot_check = job.mode.is_spot_check();
        if shard.check_ready_to_settle(round.now, spot_check).is_ok() {
            return self.settle_shard(slot).await;
        }
        if shard.phase == ShardPhase::Committing {
            return self.crank_expired(round, slot, shard).await;
        }
        let (VerificationMode::SpotCheck { samples }, Some(challenge)) =
            (job.mode, assignment.challenge)
        else {
            return Ok(());
        };
        let decided = (shard.passed_mask | shard.failed_mask) & (1 << slot.replica) != 0;
        if decided || shard.check_proof_open(round.now).is_err() {
            return Ok(());
        }
        let output = self
            .store
            .output(&slot.job, slot.shard_index)?
            .ok_or(WorkerError::SaltLost(*key))?;
        let proofs = prover::proofs(
            &job.kernel.to_core(),
            &output,
            &challenge,
            samples,
            assignment.proven,
        )?;
        let started = Instant::now();
        for batch in prover::batches(&job.kernel.to_core(), proofs) {
            self.chain
                .send(
                    &[ix::prove(&self.me.wallet.pubkey(), slot, batch)],
                    &[],
                    ComputeUnits::Proof,
                )
                .await?;
        }
        self.metrics
            .observe("prove", started.elapsed().as_secs_f64());
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, samples, "proved");
        Ok(())
    }

    async fn settle_shard(&self, slot: &Slot) -> Result<(), WorkerError> {
        match self
            .chain
            .submit(ix::settle_shard(&slot.job, slot.shard_index))
            .await
        {
            Ok(_) => {
                tracing::info!(job = %slot.job, shard = slot.shard_index, "settled shard");
                Ok(())
            }
            Err(e) if e.is_refusal("ShardAlreadySettled") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Settles this provider's slot (paid, slashed or released) and forgets it.
    async fn settle(&self, key: &Pubkey, slot: &Slot, verdict: Verdict) -> Result<(), WorkerError> {
        let started = Instant::now();
        let Some(instruction) = ix::outcome(&self.me.net, slot, &self.me.holder, verdict) else {
            return Ok(());
        };
        self.chain.submit(instruction).await?;
        self.store.remove_slot(key)?;
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

    /// Expires other providers' claims on `shard` that missed their commit deadline, so the shard can move.
    async fn crank_expired(
        &self,
        round: &Round,
        slot: &Slot,
        shard: &Shard,
    ) -> Result<(), WorkerError> {
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
            if round.now <= assignment.commit_deadline {
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

    /// Closes shards whose rent this wallet paid once their job expired and no slot is held. Before
    /// that the settled shard holds the accepted root its client verifies results against; the client
    /// closes it (rent still to this wallet) when it closes the job.
    async fn close_paid_shards(&self, round: &Round) {
        let wallet = self.me.wallet.pubkey();
        let shards = match self
            .chain
            .program_accounts::<Shard>(&[(filters::SHARD_PAYER, wallet.as_ref())])
            .await
        {
            Ok(shards) => shards,
            Err(error) => return tracing::debug!(%error, "could not list paid shards"),
        };
        for (_, shard) in shards {
            let expired = round
                .jobs
                .get(&shard.job)
                .is_none_or(|job| job.is_expired(round.now));
            if shard.held_mask != 0 || !expired {
                continue;
            }
            match self
                .chain
                .submit(ix::close_shard(&shard.job, shard.index, &wallet, &wallet))
                .await
            {
                Ok(_) => {
                    tracing::info!(job = %shard.job, shard = shard.index, "closed shard; rent returned")
                }
                Err(error) => tracing::debug!(%error, "could not close a shard"),
            }
        }
    }

    /// Claims one open slot this worker can run at an acceptable price, if any, with `held` slots
    /// held already. Slots of shards other providers started come first, so started work finishes
    /// before new work starts; and a shard that needs several replicas is started only while a slot
    /// would stay free after it. Otherwise every worker could fill up with first replicas that all
    /// wait for second replicas nobody has room to claim.
    async fn claim_next(&mut self, round: &Round, held: usize) {
        if round.provider.check_can_claim(&round.params).is_err() {
            return;
        }
        let may_start_shared = held + 1 < self.config.concurrent_jobs;
        let mut joins = Vec::new();
        let mut starts = Vec::new();
        let mut draws = Vec::new();
        for (key, job) in &round.jobs {
            if !self.wants(key, job, round) {
                continue;
            }
            match self.open_slots(key, job, round).await {
                Ok(openings) => {
                    joins.extend(openings.joins);
                    if job.replicas == 1 || may_start_shared {
                        starts.extend(openings.starts);
                    }
                    draws.extend(openings.draws);
                }
                Err(error) => tracing::debug!(%error, job = %key, "could not list a job's shards"),
            }
        }
        for slot in draws {
            self.enter_draw(&slot).await;
        }
        joins.shuffle(&mut rand::rng());
        starts.shuffle(&mut rand::rng());
        let candidates = joins.into_iter().chain(starts);
        for slot in candidates.take(CLAIM_ATTEMPTS_PER_ROUND) {
            if !self.input_ready(&slot.job, &round.jobs[&slot.job]).await {
                continue;
            }
            let claim = ix::claim(&self.me.wallet.pubkey(), &self.me.net.network, &slot);
            match self.chain.submit(claim).await {
                Ok(_) => {
                    self.metrics.claims.inc();
                    tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "claimed");
                    return;
                }
                Err(error @ ChainError::Refused { .. }) => {
                    tracing::debug!(%error, job = %slot.job, shard = slot.shard_index, "claim refused; trying another slot");
                    self.metrics.fail("claim_refused");
                }
                Err(error) => {
                    tracing::warn!(%error, "claim failed");
                    self.metrics.fail("claim");
                    return;
                }
            }
        }
    }

    /// Downloads and checks a data job's input before claiming, so a bad input is never a missed
    /// claim; a job whose input fails is not tried again.
    async fn input_ready(&mut self, key: &Pubkey, job: &Job) -> bool {
        let JobInput::Data { uri, sha256 } = &job.input else {
            return true;
        };
        match inputs::fetch(&self.store, uri, sha256, self.config.max_input_bytes).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(job = %key, %error, "unusable input; skipping the job");
                self.metrics.fail("input");
                self.unusable_jobs.insert(*key);
                false
            }
        }
    }

    /// Enters the draw for an extra replica (the program keeps the best ticket; losing is normal).
    async fn enter_draw(&self, slot: &Slot) {
        let entry = ix::enter_draw(
            &self.me.wallet.pubkey(),
            &self.me.net.network,
            &slot.job,
            slot.shard_index,
        );
        match self.chain.submit(entry).await {
            Ok(_) => {
                tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, "entered the draw for an extra replica")
            }
            Err(error) => {
                tracing::debug!(%error, job = %slot.job, shard = slot.shard_index, "draw entry refused")
            }
        }
    }

    /// Whether this worker takes work from `job`: open, paying enough, a kernel it can run, shards it
    /// can hold, proofs that fit a transaction, and a claim timeout it can meet.
    fn wants(&self, key: &Pubkey, job: &Job, round: &Round) -> bool {
        let kernel = job.kernel.to_core();
        let provable = !job.mode.is_spot_check() || leaf_fits_budget(&kernel);
        let holdable = kernel.check_shard_size(u32::from(job.shards)).is_ok();
        let timeout_met = meets_claim_timeout(job, &round.provider);
        let finishable = job
            .check_can_finish(round.now.saturating_add(job.claim_timeout))
            .is_ok();
        let proven_enough = round
            .provider
            .check_hardware(&job.hardware, round.params.proof_validity_slots, round.slot)
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
            && finishable
            && !self.unusable_jobs.contains(key)
            && !job.cancelled
            && job.price >= self.config.min_price
            && job.shards_settled < job.shards
    }

    /// The free slots of `job` this provider may claim, and the draws for extra replicas it may enter.
    async fn open_slots(
        &self,
        key: &Pubkey,
        job: &Job,
        round: &Round,
    ) -> Result<Openings, ChainError> {
        let provider = self.me.provider();
        let shards: HashMap<u16, Shard> = self
            .chain
            .program_accounts::<Shard>(&[(filters::SHARD_JOB, key.as_ref())])
            .await?
            .into_iter()
            .map(|(_, shard)| (shard.index, shard))
            .collect();
        let mut openings = Openings::default();
        for index in 0..job.shards {
            let slot = |replica| Slot {
                job: *key,
                shard_index: index,
                replica,
            };
            match shards.get(&index) {
                None if !job.was_started(index) => openings.starts.push(slot(0)),
                None => {}
                Some(shard) => {
                    let claimable = (0..shard.replicas_open)
                        .find(|r| shard.check_claimable(*r, &provider, round.now).is_ok());
                    openings.joins.extend(claimable.map(slot));
                    let enterable = shard
                        .check_can_enter_draw(&provider, round.provider.active_since, round.now)
                        .is_ok_and(|draw| draw.winner != provider);
                    if enterable {
                        openings.draws.push(slot(shard.replicas_open - 1));
                    }
                }
            }
        }
        Ok(openings)
    }
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

/// What a job offers this provider: slots to claim, and draws for extra replicas to enter.
#[derive(Default)]
struct Openings {
    /// A claimable replica of each shard already started.
    joins: Vec<Slot>,
    /// The first replica of each shard not started yet.
    starts: Vec<Slot>,
    draws: Vec<Slot>,
}

/// Wakes the loop on every change to a gpushare account, over the websocket; reconnects with backoff.
/// The loop polls regardless, so a dead websocket only slows it down.
pub fn watch_program(ws_url: String, wake: Arc<Notify>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        while !stop.load(Ordering::SeqCst) {
            match solana_pubsub_client::nonblocking::pubsub_client::PubsubClient::new(
                ws_url.as_str(),
            )
            .await
            {
                Ok(client) => match client.program_subscribe(&gpushare::ID, None).await {
                    Ok((mut updates, unsubscribe)) => {
                        tracing::info!(url = %ws_url, "watching gpushare accounts over the websocket");
                        backoff = Duration::from_millis(500);
                        while let Some(_update) = updates.next().await {
                            wake.notify_one();
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                        }
                        unsubscribe().await;
                    }
                    Err(error) => tracing::warn!(%error, "program subscription failed"),
                },
                Err(error) => {
                    tracing::warn!(%error, url = %ws_url, "websocket unavailable; polling")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    })
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
