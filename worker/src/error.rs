//! The worker's errors, reported in one place (`main`).
use gpushare_core::kernels::KernelError;

use crate::gpu::GpuError;

/// Everything that can stop a worker command.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("GPU backend: {0}")]
    Gpu(#[from] GpuError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("operand shapes do not match: {0}")]
    Shape(String),
    #[error("self-check failed: {0}")]
    SelfCheck(String),
    #[error("selftest: {0} check(s) failed")]
    SelftestFailed(usize),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl WorkerError {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        WorkerError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
