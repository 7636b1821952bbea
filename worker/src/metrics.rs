//! The worker's Prometheus metrics and its HTTP endpoint: `/metrics`, `/healthz`, and
//! `/results/{job}/{shard}` (the bytes of a shard this worker computed, for clients to fetch and
//! verify — only once the chain shows the shard settled, so no other replica can copy them first).
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use anchor_lang::prelude::Pubkey;
use gpushare::state::{Job, Shard};
use gpushare_client::chain::{Chain, RpcCounts};
use gpushare_client::pda;

use crate::error::WorkerError;
use crate::store::Store;

/// A label naming a phase of a slot's life or a kind of failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: String,
}

impl Kind {
    pub fn of(kind: &str) -> Self {
        Self { kind: kind.into() }
    }
}

/// Every metric the worker exports.
pub struct Metrics {
    registry: Registry,
    pub claims: Counter,
    pub completions: Counter,
    pub failures: Family<Kind, Counter>,
    /// Job inputs refused, by reason (`file_not_allowed`, `loopback_address`, `timeout`…).
    pub input_refusals: Family<Kind, Counter>,
    /// Private claims given back because their key did not work, by reason.
    pub key_refusals: Family<Kind, Counter>,
    /// Jobs skipped because a shard would not fit the memory or disk budget (or its kernel is unusable).
    pub budget_refusals: Family<Kind, Counter>,
    pub slashes: Counter,
    pub slashed_tokens: Counter,
    pub earnings: Counter,
    pub in_flight: Gauge,
    pub indexed_accounts: Gauge,
    pub backend: Family<Kind, Gauge>,
    pub phase_seconds: Family<Kind, Histogram>,
    pub device_shards: Family<Kind, Counter>,
    pub device_busy_seconds: Family<Kind, Counter<f64, AtomicU64>>,
}

/// The chain connection's RPC requests by method, read at each scrape.
#[derive(Debug)]
struct RpcRequests(Arc<RpcCounts>);

/// A label naming an RPC method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: String,
}

impl Collector for RpcRequests {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "rpc_requests",
            "RPC requests sent, by method",
            None,
            counter.metric_type(),
        )?;
        for (method, count) in self.0.snapshot() {
            let labels = Method {
                method: method.to_owned(),
            };
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// The worker's metrics, with one `backend` series per device it computes on and the RPC
    /// requests counted in `requests`.
    pub fn new(devices: &[String], requests: Arc<RpcCounts>) -> Arc<Self> {
        let mut registry = Registry::with_prefix("gpushare_worker");
        let metrics = Self {
            claims: Counter::default(),
            completions: Counter::default(),
            failures: Family::default(),
            input_refusals: Family::default(),
            key_refusals: Family::default(),
            budget_refusals: Family::default(),
            slashes: Counter::default(),
            slashed_tokens: Counter::default(),
            earnings: Counter::default(),
            in_flight: Gauge::default(),
            indexed_accounts: Gauge::default(),
            backend: Family::default(),
            device_shards: Family::default(),
            device_busy_seconds: Family::default(),
            phase_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.05, 2.0, 14))
            }),
            registry: Registry::default(),
        };
        registry.register("claims", "Slots claimed", metrics.claims.clone());
        registry.register(
            "completions",
            "Slots verified and paid",
            metrics.completions.clone(),
        );
        registry.register("failures", "Failures by kind", metrics.failures.clone());
        registry.register(
            "input_refusals",
            "Job inputs refused by the input policy, by reason; the jobs were skipped, nothing claimed",
            metrics.input_refusals.clone(),
        );
        registry.register(
            "key_refusals",
            "Private claims given back because the key their client delivered did not work, by reason",
            metrics.key_refusals.clone(),
        );
        registry.register(
            "budget_refusals",
            "Jobs skipped because a shard would not fit the memory or disk budget, by reason; nothing claimed",
            metrics.budget_refusals.clone(),
        );
        registry.register(
            "slashes",
            "Times this provider was slashed",
            metrics.slashes.clone(),
        );
        registry.register(
            "slashed_tokens",
            "Stake lost to slashes, base units",
            metrics.slashed_tokens.clone(),
        );
        registry.register(
            "earnings_tokens",
            "Tokens earned, base units",
            metrics.earnings.clone(),
        );
        registry.register("in_flight", "Slots held now", metrics.in_flight.clone());
        registry.register(
            "indexed_accounts",
            "Accounts the worker's chain index tracks",
            metrics.indexed_accounts.clone(),
        );
        registry.register(
            "backend",
            "The compute backend in use (value 1)",
            metrics.backend.clone(),
        );
        registry.register(
            "phase_seconds",
            "Time spent per phase of a slot",
            metrics.phase_seconds.clone(),
        );
        registry.register(
            "device_shards",
            "Shards computed, by device",
            metrics.device_shards.clone(),
        );
        registry.register(
            "device_busy_seconds",
            "Seconds spent computing shards, by device",
            metrics.device_busy_seconds.clone(),
        );
        registry.register_collector(Box::new(RpcRequests(requests)));
        for device in devices {
            metrics.backend.get_or_create(&Kind::of(device)).set(1);
        }
        Arc::new(Self {
            registry,
            ..metrics
        })
    }

    /// Counts one job input refused for `reason` (the job was skipped, nothing claimed).
    pub fn refuse_input(&self, reason: &str) {
        self.input_refusals.get_or_create(&Kind::of(reason)).inc();
    }

    /// Counts one private claim given back because its delivered key did not work, for `reason`.
    pub fn refuse_key(&self, reason: &str) {
        self.key_refusals.get_or_create(&Kind::of(reason)).inc();
    }

    /// Counts one job skipped for `reason` by the resource budgets (nothing claimed).
    pub fn refuse_budget(&self, reason: &str) {
        self.budget_refusals.get_or_create(&Kind::of(reason)).inc();
    }

    /// Counts one failure of `kind`.
    pub fn fail(&self, kind: &str) {
        self.failures.get_or_create(&Kind::of(kind)).inc();
    }

    /// Records that `phase` took `seconds`.
    pub fn observe(&self, phase: &str, seconds: f64) {
        self.phase_seconds
            .get_or_create(&Kind::of(phase))
            .observe(seconds);
    }

    /// Counts one shard computed on `device` in `seconds`.
    pub fn computed_on(&self, device: &str, seconds: f64) {
        let device = Kind::of(device);
        self.device_shards.get_or_create(&device).inc();
        self.device_busy_seconds
            .get_or_create(&device)
            .inc_by(seconds);
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[derive(Clone)]
struct Endpoint {
    metrics: Arc<Metrics>,
    store: Store,
    chain: Arc<Chain>,
}

/// Binds `address` and serves the endpoint until `stop` resolves; returns the bound address and the
/// server's task.
pub async fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    store: Store,
    chain: Arc<Chain>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), WorkerError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| WorkerError::io(address.to_string(), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| WorkerError::io(address.to_string(), e))?;
    tracing::info!(address = %bound, "serving /metrics, /healthz and /results");
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/results/{job}/{shard}", get(result_bytes))
        .with_state(Endpoint {
            metrics,
            store,
            chain,
        });
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(%error, "HTTP endpoint stopped");
        }
    });
    Ok((bound, task))
}

async fn metrics_text(State(endpoint): State<Endpoint>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        endpoint.metrics.encode(),
    )
        .into_response()
}

async fn result_bytes(
    State(endpoint): State<Endpoint>,
    Path((job, shard)): Path<(String, u16)>,
) -> Response {
    let Ok(job) = job.parse::<Pubkey>() else {
        return (StatusCode::BAD_REQUEST, "job is not a base58 address").into_response();
    };
    match endpoint
        .chain
        .account::<Shard>(&pda::shard(&job, shard))
        .await
    {
        Ok(shard_account) => {
            if !shard_is_public(shard_account.as_ref()) {
                return (
                    StatusCode::FORBIDDEN,
                    "the shard has no verified result on chain: its outputs stay private",
                )
                    .into_response();
            }
        }
        Err(error) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot confirm the shard is settled: {error}"),
            )
                .into_response();
        }
    }
    // Whether a job is private is this worker's own knowledge (it keeps the job's key), never an
    // RPC answer's: a private output is served sealed to the client key kept with it, or not at all.
    match endpoint.store.job_key(&job) {
        Ok(Some(key)) => return output_response(endpoint.store.sealed_output(&job, shard, &key)),
        Ok(None) => {}
        Err(error) => return output_response(Err(error)),
    }
    match endpoint.chain.account::<Job>(&job).await {
        Ok(Some(account)) if account.private.is_none() => {
            output_response(endpoint.store.output(&job, shard, false))
        }
        Ok(_) => output_response(Ok(None)),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the job: {error}"),
        )
            .into_response(),
    }
}

fn output_response(output: Result<Option<Vec<u8>>, WorkerError>) -> Response {
    match output {
        Ok(Some(bytes)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no output of that shard here").into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Whether a shard's outputs may be served: only while its account shows it settled with a
/// verified (paid) result, which is also what a client verifies the bytes against. Served earlier,
/// an output could be copied and committed by another replica as its own work; served for a shard
/// that expired or found no quorum, it would be work given away unpaid.
pub fn shard_is_public(shard: Option<&Shard>) -> bool {
    shard.is_some_and(|shard| !shard.accepted_roots().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::prelude::Pubkey;

    use crate::testing::zeroed;
    use gpushare::state::{ShardOutcome, ShardPhase};
    use gpushare_client::chain::{FeePolicy, RetryPolicy};
    use solana_keypair::Keypair;

    /// Another replica that could download an output before committing would not need to compute
    /// it: outputs are served only for shards settled with a verified result.
    #[test]
    fn outputs_stay_private_until_the_shard_has_a_verified_result() {
        let mut shard: Shard = zeroed();
        assert!(!shard_is_public(Some(&shard)), "committing");
        shard.phase = ShardPhase::Revealing { deadline: 9 };
        assert!(!shard_is_public(Some(&shard)), "revealing");
        shard.phase = ShardPhase::Settled {
            outcome: ShardOutcome::NoQuorum,
        };
        assert!(!shard_is_public(Some(&shard)), "no quorum: nobody was paid");
        shard.phase = ShardPhase::Settled {
            outcome: ShardOutcome::SpotChecked,
        };
        assert!(
            !shard_is_public(Some(&shard)),
            "spot-checked, nobody passed"
        );
        (shard.passed_mask, shard.distinct_roots, shard.replicas_open) = (1, 1, 1);
        assert!(shard_is_public(Some(&shard)), "spot-checked and passed");
        shard.phase = ShardPhase::Settled {
            outcome: ShardOutcome::Quorum { root: [1; 32] },
        };
        assert!(shard_is_public(Some(&shard)), "quorum");
        assert!(!shard_is_public(None), "closed, or never started");
    }

    #[tokio::test]
    async fn serves_metrics_and_no_output_it_cannot_show_settled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let job = Pubkey::new_unique();
        store.save_output(&job, 3, b"shard three", false).unwrap();
        let metrics = Metrics::new(&["cpu (test)".to_string()], Arc::default());
        metrics.claims.inc();
        metrics.observe("compute", 0.2);
        let unreachable = Chain::new(
            "http://127.0.0.1:9",
            Arc::new(Keypair::new()),
            RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
            FeePolicy::default(),
        );
        let (address, _task) = serve(
            ([127, 0, 0, 1], 0).into(),
            metrics,
            store,
            Arc::new(unreachable),
            std::future::pending(),
        )
        .await
        .unwrap();
        let get = |path: String| async move {
            let response = reqwest::get(format!("http://{address}{path}"))
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.bytes().await.unwrap().to_vec(),
            )
        };
        let (status, body) = get("/metrics".into()).await;
        let text = String::from_utf8(body).unwrap();
        assert_eq!(status, 200);
        assert!(text.contains("gpushare_worker_claims_total 1"), "{text}");
        assert!(
            text.contains("gpushare_worker_backend{kind=\"cpu (test)\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gpushare_worker_phase_seconds_count{kind=\"compute\"} 1"),
            "{text}"
        );
        assert_eq!(get(format!("/results/{job}/3")).await.0, 503);
        assert_eq!(get("/results/not-a-key/3".into()).await.0, 400);
        assert_eq!(get("/healthz".into()).await, (200, b"ok".to_vec()));
    }
}
