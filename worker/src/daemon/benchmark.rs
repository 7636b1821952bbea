//! The daemon's part in the on-chain benchmark: opening one when the provider's proof of hardware
//! is due, and answering it in the background.
use std::sync::Arc;

use crate::benchmark::BenchmarkRun;

use super::*;

impl Daemon {
    /// Answers a benchmark on this provider, whoever opened it; and (with
    /// `benchmark_when_due`) opens one when nothing is proven or the proof is in the last tenth of its
    /// validity. One at a time, in the background; a failed one of its own waits a tenth of the
    /// validity before the next.
    pub(super) async fn tend_benchmark(&mut self, round: &Round) {
        if let Some(task) = self.benchmark.take_if(|task| task.is_finished()) {
            match task.await {
                Ok(Ok(outcome)) => tracing::info!(
                    mops = outcome.mops,
                    compute_seconds = outcome.compute_seconds,
                    "benchmark settled"
                ),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "benchmark step failed");
                    self.worker.metrics.fail(error.kind());
                }
                Err(error) => tracing::warn!(%error, "benchmark task failed"),
            }
        }
        if self.benchmark.is_some() {
            return;
        }
        let provider = &round.view.provider;
        let params = &round.view.network.params;
        let validity = params.proof_validity_slots;
        let retry = validity / 10;
        let open = round.view.benchmark_open;
        let due = self.worker.config.benchmark_when_due
            && provider.hardware.throughput_gops > 0
            && provider
                .own_stake()
                .is_ok_and(|stake| stake >= params.min_stake)
            && (provider.proven.mops == 0
                || round.slot >= provider.proven.slot.saturating_add(validity - retry))
            && self
                .opened_benchmark_at
                .is_none_or(|at| round.slot >= at.saturating_add(retry));
        if !open && !due {
            return;
        }
        if !open {
            self.opened_benchmark_at = Some(round.slot);
        }
        let run = BenchmarkRun {
            chain: Arc::clone(&self.worker.chain),
            me: self.worker.me.clone(),
            backend: Arc::clone(&self.worker.backend),
        };
        self.benchmark = Some(tokio::spawn(async move { run.prove().await }));
    }
}
