//! What a run cost and how fast it went, read back from the validator's transaction history: verified
//! replicas per second, post→paid latency, transactions and fees per verified replica, the rent a job
//! locks, and the workers' peak memory. `gpushare bench-network` reports it; the demo prints a line.
use std::collections::{BTreeMap, HashMap};

use anchor_lang::prelude::Pubkey;
use gpushare::events::{JobCreated, ReplicaPaid};
use gpushare_client::chain::{Chain, TransactionRecord};

use crate::error::AppError;

/// Most program transactions one measurement reads back.
const HISTORY_LIMIT: usize = 200_000;

/// p50, p95 and p99 of a sample (nearest rank; 0 for an empty sample).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            values
                .get(((q * values.len() as f64).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0)
        };
        Self {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
        }
    }
}

/// Seconds each point of a run's timeline covers.
pub const TIMELINE_SECONDS: i64 = 5;

/// One stretch of a run: when it began (seconds after the first post), the verified replicas per
/// second paid in it, and the post→paid latency, in slots, of those payments.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Moment {
    pub second: i64,
    pub replicas_per_second: f64,
    pub latency_slots: Percentiles,
}

/// A run's figures.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LoadFigures {
    pub jobs_posted: usize,
    pub replicas_paid: usize,
    /// Verified replicas per second from the first post to the last payment.
    pub replicas_per_second: f64,
    /// Verified replicas per second over the timeline without its first and last stretches (the
    /// ramp up and the drain); 0 for runs too short to have any other.
    pub sustained_replicas_per_second: f64,
    /// Slots (and block-time seconds, 1-second resolution) from a job's creation to each payment.
    pub latency_slots: Percentiles,
    pub latency_seconds: Percentiles,
    /// Every transaction that named the program in the run (failed ones included).
    pub transactions: usize,
    pub failed_transactions: usize,
    pub fees_lamports: u64,
    pub transactions_per_replica: f64,
    pub fees_per_replica: f64,
    /// Lamports a posted job locks in rent (job account and escrow vault), returned at close.
    pub rent_per_job: u64,
    /// Each worker's peak resident memory, KiB.
    pub worker_peak_kib: Vec<u64>,
    /// The workers' RPC requests per verified replica, by method.
    pub worker_rpc_per_replica: BTreeMap<String, f64>,
    /// The run in [`TIMELINE_SECONDS`] stretches from the first post.
    pub timeline: Vec<Moment>,
    /// Transactions by what they carried: the program's instructions in order, joined by `+`, and
    /// ` (failed)` for failed ones.
    pub transactions_by_instructions: BTreeMap<String, usize>,
}

/// The program's instruction names by discriminator, from its IDL.
fn instruction_names() -> HashMap<Vec<u8>, String> {
    let idl: serde_json::Value =
        serde_json::from_str(include_str!("../../idl/gpushare.json")).unwrap_or_default();
    idl["instructions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|instruction| {
            let discriminator = instruction["discriminator"]
                .as_array()?
                .iter()
                .map(|byte| byte.as_u64().and_then(|byte| u8::try_from(byte).ok()))
                .collect::<Option<Vec<u8>>>()?;
            Some((discriminator, instruction["name"].as_str()?.to_owned()))
        })
        .collect()
}

/// A transaction's gpushare instructions, in order, joined by `+`, with ` (failed)` when it failed.
fn instructions_of(record: &TransactionRecord, names: &HashMap<Vec<u8>, String>) -> String {
    let carried: Vec<&str> = record
        .instructions
        .iter()
        .map(|data| {
            names
                .iter()
                .find(|(discriminator, _)| data.starts_with(discriminator))
                .map_or("unknown", |(_, name)| name.as_str())
        })
        .collect();
    let carried = carried.join("+");
    if record.succeeded {
        carried
    } else {
        format!("{carried} (failed)")
    }
}

impl LoadFigures {
    /// Reads the program's transactions of this run (every one since `since_slot`) back from the
    /// validator.
    pub async fn measure(
        chain: &Chain,
        since_slot: u64,
        rent_per_job: u64,
        worker_peak_kib: Vec<u64>,
        worker_rpc: &[(String, u64)],
    ) -> Result<Self, AppError> {
        let history: Vec<TransactionRecord> = chain
            .transactions(&gpushare::ID, HISTORY_LIMIT)
            .await?
            .into_iter()
            .filter(|record| record.slot >= since_slot)
            .collect();
        let mut created: HashMap<Pubkey, (u64, Option<i64>)> = HashMap::new();
        let mut paid = Vec::new();
        for record in history.iter().filter(|record| record.succeeded) {
            for event in record.events::<JobCreated>() {
                created.insert(event.job, (record.slot, record.block_time));
            }
            for event in record.events::<ReplicaPaid>() {
                paid.push((event.job, record.slot, record.block_time));
            }
        }
        // Each payment's block time and its latency in slots and seconds.
        let payments: Vec<(Option<i64>, f64, Option<f64>)> = paid
            .iter()
            .filter_map(|(job, slot, time)| {
                let (posted_slot, posted_time) = created.get(job)?;
                let seconds = time.zip(*posted_time).map(|(t, p)| (t - p) as f64);
                Some((*time, slot.saturating_sub(*posted_slot) as f64, seconds))
            })
            .collect();
        let latencies: Vec<(f64, Option<f64>)> = payments
            .iter()
            .map(|(_, slots, seconds)| (*slots, *seconds))
            .collect();
        let first_post = created.values().filter_map(|(_, time)| *time).min();
        let last_paid = paid.iter().filter_map(|(_, _, time)| *time).max();
        let span = first_post
            .zip(last_paid)
            .map_or(0.0, |(first, last)| (last - first).max(1) as f64);
        let per_replica = |total: f64| total / paid.len().max(1) as f64;
        let moments = first_post.map_or_else(Vec::new, |first| timeline(first, &payments));
        let fees_lamports = history.iter().map(|record| record.fee).sum::<u64>();
        Ok(Self {
            jobs_posted: created.len(),
            replicas_paid: paid.len(),
            replicas_per_second: if span > 0.0 {
                paid.len() as f64 / span
            } else {
                0.0
            },
            latency_slots: Percentiles::of(latencies.iter().map(|(slots, _)| *slots).collect()),
            latency_seconds: Percentiles::of(
                latencies
                    .iter()
                    .filter_map(|(_, seconds)| *seconds)
                    .collect(),
            ),
            sustained_replicas_per_second: sustained(&moments),
            timeline: moments,
            transactions: history.len(),
            failed_transactions: history.iter().filter(|r| !r.succeeded).count(),
            fees_lamports,
            transactions_per_replica: per_replica(history.len() as f64),
            fees_per_replica: per_replica(fees_lamports as f64),
            rent_per_job,
            worker_peak_kib,
            worker_rpc_per_replica: worker_rpc.iter().fold(
                BTreeMap::new(),
                |mut by, (method, n)| {
                    *by.entry(method.clone()).or_default() += per_replica(*n as f64);
                    by
                },
            ),
            transactions_by_instructions: {
                let names = instruction_names();
                history.iter().fold(BTreeMap::new(), |mut by, record| {
                    *by.entry(instructions_of(record, &names)).or_default() += 1;
                    by
                })
            },
        })
    }

    /// The figures as lines of text.
    pub fn render(&self) -> String {
        format!(
            "chain: {} jobs, {} verified replicas, {:.2} per second from the first post to the last payment, {:.2} sustained\n\
             post→paid: p50 {} / p95 {} / p99 {} slots ({} / {} / {} s)\n\
             {} transactions ({} failed), {:.2} per verified replica; fees {} lamports, {:.0} per verified replica\n\
             rent a job locks until it closes: {} lamports; worker peak memory: {} KiB\n\
             workers' RPC requests per verified replica: {}\n\
             transactions by instructions: {}\n",
            self.jobs_posted,
            self.replicas_paid,
            self.replicas_per_second,
            self.sustained_replicas_per_second,
            self.latency_slots.p50,
            self.latency_slots.p95,
            self.latency_slots.p99,
            self.latency_seconds.p50,
            self.latency_seconds.p95,
            self.latency_seconds.p99,
            self.transactions,
            self.failed_transactions,
            self.transactions_per_replica,
            self.fees_lamports,
            self.fees_per_replica,
            self.rent_per_job,
            self.worker_peak_kib
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.worker_rpc_per_replica
                .iter()
                .map(|(method, n)| format!("{method} {n:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.transactions_by_instructions
                .iter()
                .map(|(carried, n)| format!("{carried} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// The payments (block time, latency in slots) in [`TIMELINE_SECONDS`] stretches from `first_post`.
fn timeline(first_post: i64, payments: &[(Option<i64>, f64, Option<f64>)]) -> Vec<Moment> {
    let mut stretches: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (time, slots, _) in payments {
        if let Some(time) = time {
            let stretch = (time - first_post).max(0) / TIMELINE_SECONDS;
            stretches.entry(stretch).or_default().push(*slots);
        }
    }
    let last = stretches.keys().next_back().copied().unwrap_or(-1);
    (0..=last)
        .map(|stretch| {
            let latencies = stretches.remove(&stretch).unwrap_or_default();
            Moment {
                second: stretch * TIMELINE_SECONDS,
                replicas_per_second: latencies.len() as f64 / TIMELINE_SECONDS as f64,
                latency_slots: Percentiles::of(latencies),
            }
        })
        .collect()
}

/// The mean rate of `moments` without the first and the last.
fn sustained(moments: &[Moment]) -> f64 {
    let inner = moments
        .get(1..moments.len().saturating_sub(1))
        .unwrap_or_default();
    if inner.is_empty() {
        return 0.0;
    }
    inner.iter().map(|m| m.replicas_per_second).sum::<f64>() / inner.len() as f64
}

/// The `rpc_requests` counters of a worker's Prometheus exposition, by method.
pub fn rpc_requests(exposition: &str) -> Vec<(String, u64)> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("gpushare_worker_rpc_requests_total{method=\""))
        .filter_map(|rest| {
            let (method, value) = rest.split_once("\"} ")?;
            Some((method.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// A process's peak resident memory (`VmHWM`), KiB, while it runs (Linux).
pub fn peak_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// A process's resident memory now (`VmRSS`), KiB (Linux).
pub fn resident_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A KiB figure of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(values);
        assert_eq!((p.p50, p.p95, p.p99), (50.0, 95.0, 99.0));
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
        assert_eq!(Percentiles::of(vec![7.0]).p99, 7.0);
    }

    #[test]
    fn rpc_counters_are_read_from_the_exposition() {
        let text = "# TYPE gpushare_worker_rpc_requests counter\n\
                    gpushare_worker_rpc_requests_total{method=\"getProgramAccounts\"} 12\n\
                    gpushare_worker_rpc_requests_total{method=\"sendTransaction\"} 3\n\
                    gpushare_worker_claims_total 1\n";
        assert_eq!(
            rpc_requests(text),
            vec![
                ("getProgramAccounts".to_owned(), 12),
                ("sendTransaction".to_owned(), 3)
            ]
        );
    }

    #[test]
    fn the_timeline_has_every_stretch_with_its_rate_and_latency() {
        let payments = [
            (Some(100), 4.0, None),
            (Some(101), 6.0, None),
            (Some(112), 9.0, None),
            (None, 1.0, None),
        ];
        let moments = timeline(100, &payments);
        assert_eq!(moments.len(), 3, "the empty stretch 5–10 s is kept");
        assert_eq!(
            (moments[0].second, moments[0].replicas_per_second),
            (0, 0.4)
        );
        assert_eq!(moments[0].latency_slots.p50, 4.0);
        assert_eq!(moments[1].replicas_per_second, 0.0);
        assert_eq!((moments[2].second, moments[2].latency_slots.p99), (10, 9.0));
        assert_eq!(sustained(&moments), 0.0, "only the middle stretch counts");
        assert_eq!(sustained(&moments[..1]), 0.0);
    }

    #[test]
    fn instructions_are_named_from_the_idl() {
        use anchor_lang::Discriminator;
        let names = instruction_names();
        let record = TransactionRecord {
            slot: 1,
            block_time: None,
            succeeded: false,
            fee: 5_000,
            logs: Vec::new(),
            instructions: vec![
                gpushare::instruction::Reveal::DISCRIMINATOR.to_vec(),
                gpushare::instruction::SettleShard::DISCRIMINATOR.to_vec(),
            ],
        };
        assert_eq!(
            instructions_of(&record, &names),
            "reveal+settle_shard (failed)"
        );
    }

    #[test]
    fn this_process_has_a_peak() {
        assert!(peak_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(resident_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }
}
