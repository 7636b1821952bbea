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
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use gpushare::state::{Assignment, Job, Provider, Shard};
use gpushare_client::chain::Chain;
use gpushare_client::ix::Slot;
use gpushare_engine::backend::Backend;
use gpushare_engine::shard::ShardRun;
use tokio::task::JoinHandle;

use crate::benchmark::Outcome;
use crate::config::Config;
use crate::error::WorkerError;
use crate::fault::Fault;
use crate::identity::Identity;
use crate::index::{SharedIndex, View};
use crate::inputs::Inputs;
use crate::metrics::Metrics;
use crate::models::Models;
use crate::store::Store;

mod benchmark;
mod choose;
mod claim;
mod compute;
mod embedding_proof;
mod private;
mod round;
mod settle;
mod slot;

/// A job's claim timeout must leave this many times the estimated compute time, plus
/// [`CLAIM_TIMEOUT_SLACK_SECONDS`] for the transactions around it.
pub(super) const CLAIM_TIMEOUT_MARGIN: f64 = 2.0;
pub(super) const CLAIM_TIMEOUT_SLACK_SECONDS: f64 = 10.0;
/// How long a claim waits for its shard's computation, to send the commitment with it.
pub(super) const COMMIT_WITH_CLAIM_WAIT: Duration = Duration::from_millis(200);
/// How long a provider waits for each provider ahead of it in a slot's claim order (see
/// [`Daemon::turn`]): about the time a claim takes to land and be seen.
pub(super) const CLAIM_TURN: Duration = Duration::from_millis(800);
/// Slots a replica other than the first decided one waits before settling a ready shard itself.
pub(super) const SETTLE_TURN_SLOTS: u64 = 3;
/// Slots after which a held slot's step runs again though nothing it read has changed.
pub(super) const RETRY_SLOTS: u64 = 2;
/// Pause after a chain notification before the round, so that a burst of them makes one round.
pub(super) const ROUND_DEBOUNCE: Duration = Duration::from_millis(50);
/// How long a stopping daemon lets running steps finish before abandoning them (each resumes from
/// the chain and the data directory on restart).
pub(super) const STOP_GRACE: Duration = Duration::from_secs(20);

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
    /// The embedding models served.
    pub models: Models,
    pub metrics: Arc<Metrics>,
    pub fault: Fault,
    pub index: SharedIndex,
    /// Computations started at a claim and still running when it was sent, by assignment.
    pub computing: std::sync::Mutex<HashMap<Pubkey, Computation>>,
    /// Private jobs whose delivered key this worker refused: it claims none of their slots again.
    pub refused_jobs: std::sync::Mutex<HashSet<Pubkey>>,
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
    /// The sweep of proof buffers whose assignments are gone, running in the background.
    sweeping: Option<JoinHandle<()>>,
    last_seen: Option<Provider>,
    unusable_jobs: HashSet<Pubkey>,
    /// The benchmark being answered in the background.
    benchmark: Option<JoinHandle<Result<Outcome, WorkerError>>>,
    /// Slot of the last challenge this worker opened itself (a failed one is not retried at once).
    opened_benchmark_at: Option<u64>,
    resynced_at: Option<Instant>,
}
