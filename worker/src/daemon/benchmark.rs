//! The daemon's part in the on-chain benchmark: opening one when the provider's proof of hardware
//! is due, and answering it in the background.
use std::sync::Arc;

use crate::benchmark::Challenger;

use super::*;

impl Daemon {
    /// Answers a throughput challenge on this provider, whoever opened it; and (with
    /// `prove_hardware`) opens one when nothing is proven or the proof is in the last tenth of its
    /// validity. One at a time, in the background; a failed one of its own waits a tenth of the
    /// validity before the next.
    pub(super) async fn tend_challenge(&mut self, round: &Round) {
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
}
