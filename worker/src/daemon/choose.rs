//! Which open slots this provider claims: the jobs it wants (price, budgets, kernel, claim timeout),
//! the slots they offer (a new shard, or a replica of one started), and its turn among the providers
//! that want the same slot.
use std::collections::HashMap;
use std::sync::Arc;

use anchor_lang::prelude::Pubkey;
use gpushare::state::{Job, JobInput, KernelSpec, Provider, Shard};
use gpushare_client::ix::Slot;
use gpushare_core::kernels::Kernel;
use gpushare_core::spot_check::leaf_fits_budget;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use super::*;

impl Daemon {
    /// Claims open slots this worker can run at an acceptable price, up to its free slots, each
    /// attempt a task of its own. Slots of shards other providers started come first, so started
    /// work finishes before new work starts; and a shard that needs several replicas is started only
    /// while a slot would stay free after it. Otherwise every worker could fill up with first
    /// replicas that all wait for second replicas nobody has room to claim.
    pub(super) fn claim_open_slots(&mut self, round: &Arc<Round>) {
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
    pub(super) fn in_turn<'a>(
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
    pub(super) fn turn(&self, opening: &Opening<'_>, peers: &[Pubkey]) -> usize {
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
    pub(super) fn wants(&self, key: &Pubkey, job: &Job, round: &Round) -> bool {
        let kernel = job.kernel.to_core();
        let provider = &round.view.provider;
        // An embedding spot-check is proven cell by cell (`prove_embedding`); a batch it cannot
        // check is refused before claiming (`Models::check_data`).
        let provable = !job.mode.is_spot_check()
            || matches!(kernel, Kernel::Embedding { .. })
            || leaf_fits_budget(&kernel);
        let holdable = kernel.check_shard_size(u32::from(job.shards)).is_ok();
        let timeout_met = meets_claim_timeout(job, provider, &self.worker.models);
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
        let fetchable = |uri: &str| {
            ["http://", "https://", "file://"]
                .iter()
                .any(|scheme| uri.starts_with(scheme))
        };
        let supported = match (&job.input, job.kernel) {
            (JobInput::Data { uri, .. }, KernelSpec::GemmI8 { .. }) => fetchable(uri),
            (JobInput::Data { uri, .. }, KernelSpec::Embedding { model, .. }) => {
                fetchable(uri) && self.worker.models.get(&model).is_some()
            }
            (JobInput::Data { .. }, _) => false,
            (JobInput::Seed(_), kernel) => kernel.to_core().takes_seed(),
        };
        supported
            && provable
            && proven_enough
            && holdable
            && timeout_met
            && backed
            && !self.unusable_jobs.contains(key)
            && !self.worker.refused(key)
            && !job.cancelled
            && job.price >= self.worker.config.min_price
            && job.shards_settled < job.shards
    }

    /// The free slots of the jobs this worker wants, claimed in time for their shards to finish.
    pub(super) fn openings<'a>(&self, round: &'a Round) -> Openings<'a> {
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
            for index in 0..job.shards {
                let slot = |replica| Slot {
                    job: *key,
                    shard_index: index,
                    replica,
                };
                match started.and_then(|shards| shards.get(&index)) {
                    None if job.check_can_start_shard(index, 0, round.now).is_ok() => {
                        openings.starts.push(Opening {
                            slot: slot(0),
                            shard: None,
                            shared_start: job.replicas > 1,
                        })
                    }
                    None => {}
                    // A private slot is joined only with a free refusal to reserve, unless this
                    // worker already holds the job's key: else a key that does not work would
                    // cost it half a miss to give back.
                    Some(shard) if !self.worker.may_join_private(key, job, shard) => {}
                    Some(shard) => {
                        let claimable = (0..shard.replicas_open)
                            .find(|r| job.check_can_join(shard, *r, &provider, round.now).is_ok());
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

/// Seconds `provider` expects one shard of `job` to take, from the GEMM rate it measured at
/// registration; `None` where it has no estimate (seeded chains and Monte Carlo, or no measured
/// rate). An embedding shard is priced at the job's every token (a client may put all the long
/// sequences in one shard), each at its model's multiply-adds.
fn estimated_compute_seconds(job: &Job, provider: &Provider, models: &Models) -> Option<f64> {
    let operations = match job.kernel {
        KernelSpec::GemmI8 { m, n, k } => {
            let rows = u64::from(m).div_ceil(u64::from(job.shards.max(1))) as f64;
            2.0 * rows * f64::from(n) * f64::from(k)
        }
        KernelSpec::Embedding { model, tokens, .. } => {
            let per_token = models.get(&model)?.shape.multiply_adds_per_token();
            2.0 * f64::from(tokens) * per_token as f64
        }
        _ => return None,
    };
    let gops = provider.hardware.throughput_gops;
    (gops > 0).then(|| operations / (gops as f64 * 1e9))
}

/// Whether `job`'s claim timeout leaves `provider` room to compute a shard and commit: a client
/// setting a deadline nobody can meet would collect the miss slashes of whoever claims.
fn meets_claim_timeout(job: &Job, provider: &Provider, models: &Models) -> bool {
    estimated_compute_seconds(job, provider, models).is_none_or(|seconds| {
        seconds * CLAIM_TIMEOUT_MARGIN + CLAIM_TIMEOUT_SLACK_SECONDS <= job.claim_timeout as f64
    })
}

/// What the jobs offer this provider: slots to claim.
#[derive(Default)]
pub(super) struct Openings<'a> {
    /// A claimable replica of each shard already started.
    joins: Vec<Opening<'a>>,
    /// The first replica of each shard not started yet.
    starts: Vec<Opening<'a>>,
}

/// One slot this provider may claim: its shard when started, and whether claiming it starts a
/// shard that needs several replicas.
pub(super) struct Opening<'a> {
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
        let none = Models::default();
        assert!(
            meets_claim_timeout(&job, &provider, &none),
            "no measured rate: no estimate"
        );
        provider.hardware.throughput_gops = 100; // 2·8192³ operations: about 11 s at 100 GOPS
        assert!(!meets_claim_timeout(&job, &provider, &none));
        job.claim_timeout = 40;
        assert!(meets_claim_timeout(&job, &provider, &none));
        job.shards = 8;
        job.claim_timeout = 13;
        assert!(
            meets_claim_timeout(&job, &provider, &none),
            "an eighth of the rows"
        );
    }

    #[test]
    fn an_embedding_job_too_big_for_its_claim_timeout_is_refused() {
        use gpushare_core::embedding::model::{Shape, seeded_model};
        let shape = Shape {
            vocab: 16,
            layers: 1,
            ..Shape::MINILM_L6
        };
        let model = seeded_model(shape, 1);
        let identity = model.identity();
        let models = Models::from_models([model]);
        let mut provider: Provider = zeroed();
        provider.hardware.throughput_gops = 100;
        let mut job: Job = zeroed();
        // 1.77 M + 0.2 M multiply-adds a token at most: 2·10⁶ tokens are about 79 s at 100 GOPS.
        (job.shards, job.claim_timeout) = (4, 60);
        job.kernel = KernelSpec::Embedding {
            model: identity,
            batch: [0; 32],
            dims: 384,
            sequences: 10_000,
            tokens: 2_000_000,
        };
        assert!(
            !meets_claim_timeout(&job, &provider, &models),
            "every token may sit in one shard"
        );
        job.claim_timeout = 300;
        assert!(meets_claim_timeout(&job, &provider, &models));
    }
}
