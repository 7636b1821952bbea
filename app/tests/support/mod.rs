//! What the tests that run `gpushare-worker` processes and the `gpushare` CLI on a localnet share:
//! the network and its funded wallets, starting providers, running commands, reading a provider's
//! HTTP endpoint.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anchor_lang::prelude::Pubkey;
use gpushare_app::demo::{LocalNetwork, WALLET_LAMPORTS};
use gpushare_app::process::sibling_binary;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// A localnet in a temporary directory, with the worker binary and an empty worker configuration
/// (so that a user's own stays out).
pub struct Fixture {
    pub net: LocalNetwork,
    pub root: PathBuf,
    pub mint: String,
    worker_bin: PathBuf,
}

impl Fixture {
    pub fn start(root: &Path) -> Self {
        std::fs::write(root.join("worker.toml"), "").unwrap();
        let net = LocalNetwork::start(root).unwrap();
        let mint = net.created.mint.to_string();
        Self {
            net,
            root: root.to_path_buf(),
            mint,
            worker_bin: sibling_binary("gpushare-worker", "GPUSHARE_WORKER_BIN").unwrap(),
        }
    }

    /// A new wallet funded with lamports and `tokens`, written to `<name>.json`: its key and path.
    pub fn wallet(&self, name: &str, tokens: u64) -> (Keypair, PathBuf) {
        let key = Keypair::new();
        self.net
            .fund(&key.pubkey(), WALLET_LAMPORTS, tokens)
            .unwrap();
        let path = self.root.join(format!("{name}.json"));
        gpushare_localnet::write_keypair(&key, &path).unwrap();
        (key, path)
    }

    /// `gpushare-worker` with the network and the wallet at `keypair`.
    pub fn worker(&self, keypair: &Path) -> Command {
        let mut command = Command::new(&self.worker_bin);
        command
            .args(["--rpc-url", &self.net.rpc_url, "--mint", &self.mint])
            .arg("--keypair")
            .arg(keypair)
            .env("GPUSHARE_CONFIG", self.root.join("worker.toml"));
        command
    }

    /// A provider registered with `stake` and running (`extra` settings added), its data in
    /// `<name>/` and its log in `<name>.log`.
    pub fn provider(&self, name: &str, keypair: &Path, stake: &str, extra: &[&str]) -> Provider {
        succeed(self.worker(keypair).args(["register", "--stake", stake]));
        let metrics_port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(self.root.join(format!("{name}.log"))).unwrap();
        let child = self
            .worker(keypair)
            .arg("--data-dir")
            .arg(self.root.join(name))
            .args(extra)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args([
                "--poll-seconds",
                "0.5",
                "--prove-hardware",
                "false",
                "--backend",
                "cpu",
            ])
            .arg("run")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Provider {
            child,
            metrics_port,
        }
    }

    /// `gpushare COMMAND` with the network and the wallet at `keypair`.
    pub fn client(&self, keypair: &Path, command: &str) -> Command {
        let mut gpushare = Command::new(env!("CARGO_BIN_EXE_gpushare"));
        gpushare
            .args([
                command,
                "--rpc-url",
                &self.net.rpc_url,
                "--mint",
                &self.mint,
                "--keypair",
            ])
            .arg(keypair);
        gpushare
    }

    /// The last lines of each named provider's log, to show why a wait failed.
    pub fn logs(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|name| {
                let log = std::fs::read_to_string(self.root.join(format!("{name}.log")))
                    .unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                format!("--- {name}.log\n{tail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The network's address.
    pub fn network(&self) -> Pubkey {
        self.net.created.network
    }
}

/// A running `gpushare-worker run`, killed when dropped.
pub struct Provider {
    pub child: Child,
    pub metrics_port: u16,
}

impl Provider {
    /// The worker's Prometheus text, or empty while it is not up.
    pub fn metrics(&self) -> String {
        String::from_utf8_lossy(&self.get("/metrics").1).into_owned()
    }

    /// `GET path` from the worker's endpoint: the status code (0 while it is not up) and the body.
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.metrics_port)) else {
            return (0, Vec::new());
        };
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(request.as_bytes());
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
            return (0, Vec::new());
        };
        let head = String::from_utf8_lossy(&response[..split]);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        (status, response[split + 4..].to_vec())
    }

    /// The value of the metric line starting with `metric` (0 when absent).
    pub fn counted(&self, metric: &str) -> usize {
        self.metrics()
            .lines()
            .find(|line| line.starts_with(&format!("gpushare_worker_{metric}")))
            .and_then(|line| line.rsplit(' ').next()?.parse::<usize>().ok())
            .unwrap_or(0)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` quietly to completion; its output, after checking that it succeeded.
pub fn succeed(command: &mut Command) -> std::process::Output {
    let output = command.env("RUST_LOG", "error").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
