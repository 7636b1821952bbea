//! What every gpushare binary does on its own machine: read the keypair it signs with, and wait for an
//! operator's signal to stop.
use std::path::Path;
use std::sync::Arc;

use solana_keypair::Keypair;

/// A keypair file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("keypair {path}: {reason}")]
pub struct KeypairError {
    /// The file, as given.
    pub path: String,
    /// Why it could not be read or parsed.
    pub reason: String,
}

/// The keypair in the JSON file at `path` (the Solana CLI's format).
pub fn read_keypair(path: &Path) -> Result<Arc<Keypair>, KeypairError> {
    solana_keypair::read_keypair_file(path)
        .map(Arc::new)
        .map_err(|e| KeypairError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Waits for SIGINT or SIGTERM (Ctrl-C alone where those cannot be watched): how an operator stops
/// a long-running command.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        _ => {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
