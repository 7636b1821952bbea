//! The client's errors, reported in one place (`main`).
use anchor_lang::prelude::Pubkey;

/// Everything that can stop a client command or the demo.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("chain: {0}")]
    Chain(#[from] gpushare_client::chain::ChainError),
    #[error(transparent)]
    Engine(#[from] gpushare_engine::error::EngineError),
    #[error("configuration: {0}")]
    Keypair(#[from] gpushare_client::local::KeypairError),
    #[error("account values out of range: {0}")]
    AccountMath(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("model: {0}")]
    Model(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("shard {shard}: no provider served a result that verifies ({tried})")]
    Unverified { shard: u16, tried: String },
    #[error("job {0} did not finish in time")]
    Timeout(Pubkey),
    #[error("localnet: {0}")]
    Localnet(String),
    #[error("dashboard: {0}")]
    Dashboard(String),
    #[error("plot {0}")]
    Plot(String),
    #[error("private job: {0}")]
    Privacy(#[from] gpushare_privacy::PrivacyError),
    #[error("token conservation broken: {found} tokens accounted for, {expected} in supply")]
    Conservation { found: u64, expected: u64 },
}

impl From<anchor_lang::error::Error> for AppError {
    fn from(error: anchor_lang::error::Error) -> Self {
        AppError::AccountMath(error.to_string())
    }
}

impl AppError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        AppError::Io {
            what: what.into(),
            source,
        }
    }
}
