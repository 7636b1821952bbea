//! Why a measurement could not be made, reported in one place (`main`).

/// Everything that stops the meter.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error("{0}: {1}")]
    Tool(String, String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("the object cannot be linked: {0}")]
    Link(String),
    #[error("the eBPF program cannot be loaded: {0}")]
    Load(String),
    #[error("{case}: the eBPF run failed: {error}")]
    Run { case: String, error: String },
    #[error("{case}: the eBPF run did not verify, or its result differs from the native one")]
    Mismatch { case: String },
    #[error("a case cannot be built: {0}")]
    Case(String),
}
