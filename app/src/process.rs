//! The client's child processes: finding the other gpushare binaries (the localnet, the worker) and
//! asking a child to stop as an operator would.
use std::path::PathBuf;

use crate::error::AppError;

/// A gpushare binary `name`: from the environment variable `variable` when set, else next to this
/// executable (or one directory up, for test binaries in `deps/`).
pub fn sibling_binary(name: &str, variable: &str) -> Result<PathBuf, AppError> {
    if let Some(path) = std::env::var_os(variable) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| AppError::io("current executable", e))?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.exists())
        .ok_or_else(|| {
            AppError::InvalidArgument(format!(
                "{name} not found next to this binary; build it or set {variable}"
            ))
        })
}

/// Asks process `pid` to stop (SIGTERM), as an operator would; whether it did is for the caller to wait on.
pub fn terminate(pid: u32) {
    if let Err(error) = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
    {
        tracing::warn!(%error, pid, "could not send SIGTERM");
    }
}
