//! The web dashboard (`app/web`) as a child process: `node app/web/serve.mjs` builds it and serves
//! it on 127.0.0.1 for an RPC URL and a network; it stops with its owner.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;

use crate::process::terminate;
use crate::error::AppError;

/// How long the server may take to build the dashboard and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running dashboard server.
pub struct Dashboard {
    child: Child,
    /// The page's address, with the RPC URL and network in its query.
    pub url: String,
}

impl Dashboard {
    /// Starts the server on `port` (0: any free one) for `rpc_url` and `network`. The script is
    /// `GPUSHARE_DASHBOARD`, by default `app/web/serve.mjs` of the checkout this binary was built from.
    pub fn start(rpc_url: &str, network: Option<&Pubkey>, port: u16) -> Result<Self, AppError> {
        let script = std::env::var_os("GPUSHARE_DASHBOARD")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/serve.mjs"));
        let mut command = Command::new("node");
        // The server exits when its standard input closes: with this process, however it ends.
        command
            .arg(&script)
            .args([
                "--port",
                &port.to_string(),
                "--rpc",
                rpc_url,
                "--exit-with-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(network) = network {
            command.args(["--network", &network.to_string()]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| AppError::io(format!("node {}", script.display()), e))?;
        let stdout = child.stdout.take().ok_or_else(|| {
            AppError::Dashboard("the server's standard output was not captured".into())
        })?;
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let url = lines
                .by_ref()
                .find_map(|line| line.strip_prefix("DASHBOARD ").map(str::to_owned));
            // The receiver is gone only when `start` already gave up.
            let _ = found.send(url);
            // Keeps reading, so that the server never writes into a closed pipe.
            lines.for_each(drop);
        });
        let mut dashboard = Self {
            child,
            url: String::new(),
        };
        dashboard.url = match address.recv_timeout(START_TIMEOUT) {
            Ok(Some(url)) => url,
            Ok(None) => {
                return Err(AppError::Dashboard(
                    "the server exited before listening".into(),
                ));
            }
            Err(_) => {
                return Err(AppError::Dashboard(format!(
                    "the server did not listen within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
        };
        Ok(dashboard)
    }

    /// Whether the server has exited (it should not before it is dropped).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        terminate(self.child.id());
        let deadline = std::time::Instant::now() + STOP_GRACE;
        while !self.exited() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
