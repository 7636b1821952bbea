//! The engine's errors: why a kernel, a backend or a check could not give a shard's bits. The worker's
//! error wraps them; nothing here knows of the chain or the provider's files.
use gpushare_core::kernels::KernelError;

/// Everything that can stop a computation, a self-test or a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Sequence(#[from] gpushare_core::embedding::forward::SequenceError),
    #[error("GPU backend: {0}")]
    Gpu(#[from] GpuError),
    #[error("operand shapes do not match: {0}")]
    Shape(String),
    #[error("self-check failed: {0}")]
    SelfCheck(String),
    #[error("selftest: {0} check(s) failed")]
    SelftestFailed(usize),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl EngineError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::Kernel(_) | EngineError::Sequence(_) | EngineError::Shape(_) => "kernel",
            EngineError::Gpu(_) => "gpu",
            EngineError::SelfCheck(_) | EngineError::SelftestFailed(_) => "self_check",
            EngineError::InvalidArgument(_) | EngineError::Json(_) => "config",
        }
    }
}

/// Why the GPU backend is unavailable or failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no NVIDIA driver library (libcuda) on this machine")]
    DriverLibraryMissing,
    #[error("no NVRTC library (libnvrtc.so.13); add its directory to LD_LIBRARY_PATH")]
    NvrtcLibraryMissing,
    // cudarc's errors, as text: a binary that shows an engine error without computing on a GPU (the
    // client CLI) does not link cudarc for it.
    #[error("CUDA driver: {0}")]
    Driver(String),
    #[error("NVRTC: {0}")]
    Compile(String),
    #[error("cuBLAS: {0}")]
    Cublas(String),
    #[error("CUDA libraries failed to load: {0}")]
    Load(String),
    #[error("sizes too large for the GPU kernels")]
    TooLarge,
    #[error("not enough free device memory for one panel of the shard")]
    NoRoom,
    #[error("no usable GPU among the devices asked for")]
    NoDevice,
    #[error("the device's shard pipeline does not reproduce the reference on the start-up probe")]
    PipelineMismatch,
    #[error("the device's GEMM failed Freivalds' check")]
    WrongProduct,
}
