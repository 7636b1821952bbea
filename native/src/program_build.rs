//! Which build of the program a test world or the localnet runs: the SBPF bytecode that
//! `scripts/build-sbf` (or `anchor build`) writes, named by [`PROGRAM_SO_VAR`], loaded and verified by
//! the runtime's own loader; or, without it, the host build as a builtin (the fast mode, for debugging).
use std::path::PathBuf;

/// The environment variable naming the program's `.so` (an absolute path: tests run in their crate).
pub const PROGRAM_SO_VAR: &str = "GPUSHARE_PROGRAM_SO";

/// The program build to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramBuild {
    /// SBPF bytecode at this path, deployed through the upgradeable BPF loader.
    Sbf(PathBuf),
    /// The program compiled for the host, registered as a builtin at `gpushare::ID`.
    Builtin,
}

impl ProgramBuild {
    /// The build [`PROGRAM_SO_VAR`] names, or the builtin when it is unset or empty.
    pub fn from_env() -> Self {
        match std::env::var_os(PROGRAM_SO_VAR) {
            Some(path) if !path.is_empty() => Self::Sbf(PathBuf::from(path)),
            _ => Self::Builtin,
        }
    }
}
