//! The worker's errors, reported in one place (`main`).
use gpushare_core::kernels::KernelError;
use gpushare_engine::error::EngineError;

/// Everything that can stop a worker command.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("self-check failed: {0}")]
    SelfCheck(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("chain: {0}")]
    Chain(#[from] gpushare_client::chain::ChainError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("data directory: {0}")]
    Store(String),
    #[error("input: {0}")]
    Input(#[from] crate::input_policy::InputError),
    #[error("no saved salt, root or output for slot {0}: it cannot be revealed or proven")]
    SaltLost(anchor_lang::prelude::Pubkey),
    #[error("not registered: {0}")]
    NotRegistered(String),
    #[error("account values out of range: {0}")]
    AccountMath(String),
    #[error("private job: {0}")]
    Privacy(#[from] gpushare_privacy::PrivacyError),
    #[error("private job {0}: no data key opened here")]
    NoDataKey(anchor_lang::prelude::Pubkey),
}

impl From<anchor_lang::error::Error> for WorkerError {
    fn from(error: anchor_lang::error::Error) -> Self {
        WorkerError::AccountMath(error.to_string())
    }
}

impl WorkerError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            WorkerError::Kernel(_) => "kernel",
            WorkerError::Engine(error) => error.kind(),
            WorkerError::Io { .. } | WorkerError::Store(_) | WorkerError::Json(_) => "store",
            WorkerError::SelfCheck(_) => "self_check",
            WorkerError::Chain(_) | WorkerError::AccountMath(_) => "chain",
            WorkerError::Input(_) => "input",
            WorkerError::SaltLost(_) => "salt_lost",
            WorkerError::Privacy(_) | WorkerError::NoDataKey(_) => "privacy",
            WorkerError::InvalidArgument(_)
            | WorkerError::Config(_)
            | WorkerError::NotRegistered(_) => "config",
        }
    }

    /// Whether the program refused with the error named `name` (as in the IDL).
    pub fn is_refusal(&self, name: &str) -> bool {
        matches!(self, WorkerError::Chain(error) if error.is_refusal(name))
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        WorkerError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
