//! The worker's configuration: a TOML file, then environment variables, then flags (each overriding the
//! one before), then defaults. Resolves the wallet and the data directory.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use clap::Args;
use serde::Deserialize;
use solana_keypair::Keypair;

use gpushare_client::priority_fee::PriorityFee;
use gpushare_engine::devices::Devices;
use gpushare_engine::select::{BackendChoice, BackendOptions};

use crate::budget::{Budgets, default_disk_budget, default_memory_budget};
use crate::error::WorkerError;
use crate::input_policy::InputPolicy;

/// Settings given on the command line or in the environment; unset ones come from the TOML file, which
/// holds the same settings under the same names in snake case.
#[derive(Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ConfigArgs {
    /// TOML configuration file [default: ~/.config/gpushare/worker.toml when it exists].
    #[arg(long, env = "GPUSHARE_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// JSON-RPC URL [default: http://127.0.0.1:8899].
    #[arg(long, env = "GPUSHARE_RPC_URL", global = true)]
    pub rpc_url: Option<String>,
    /// Websocket (pubsub) URL [default: the RPC URL's host, next port, ws scheme].
    #[arg(long, env = "GPUSHARE_WS_URL", global = true)]
    pub ws_url: Option<String>,
    /// Wallet keypair in Solana CLI format [default: ~/.config/solana/id.json].
    #[arg(long, env = "GPUSHARE_KEYPAIR", global = true)]
    pub keypair: Option<PathBuf>,
    /// The network's token mint (identifies the network).
    #[arg(long, env = "GPUSHARE_MINT", global = true)]
    pub mint: Option<String>,
    /// Token account that pays stake and receives earnings [default: the wallet's associated account].
    #[arg(long, env = "GPUSHARE_TOKEN_ACCOUNT", global = true)]
    pub token_account: Option<String>,
    /// Compute backend [default: auto].
    #[arg(long, value_enum, env = "GPUSHARE_BACKEND", global = true)]
    pub backend: Option<BackendChoice>,
    /// GPUs to compute on: `all` or ordinals such as `0,2` [default: all].
    #[arg(long, env = "GPUSHARE_DEVICES", global = true)]
    pub devices: Option<Devices>,
    /// Device memory one shard may use on each GPU, MiB [default: what is free].
    #[arg(long, env = "GPUSHARE_DEVICE_MEMORY_MIB", global = true)]
    pub device_memory_mib: Option<u64>,
    /// Lowest price per shard-replica (base units) worth claiming [default: 1].
    #[arg(long, env = "GPUSHARE_MIN_PRICE", global = true)]
    pub min_price: Option<u64>,
    /// Slots held at once [default: 2]; with 1, shards needing several replicas are only joined,
    /// never started (starting one keeps a slot free for joining others').
    #[arg(long, env = "GPUSHARE_CONCURRENT_JOBS", global = true)]
    pub concurrent_jobs: Option<usize>,
    /// Where in-flight work and outputs are kept [default: ~/.local/share/gpushare].
    #[arg(long, env = "GPUSHARE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP endpoint (Prometheus metrics, results) [default: 127.0.0.1:9464].
    #[arg(long, env = "GPUSHARE_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
    /// The endpoint URL clients reach this worker's `/results` at, published on chain by `run`
    /// [default: none published].
    #[arg(long, env = "GPUSHARE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Priority fee per compute unit: micro-lamports, or `recent[:<percentile>[:<max>]]` for a
    /// percentile (default 75) of what transactions on the same accounts recently paid, at most
    /// `max` micro-lamports (default 50,000) [default: 0].
    #[arg(long, env = "GPUSHARE_PRIORITY_FEE", global = true)]
    pub priority_fee: Option<PriorityFee>,
    /// Embedding models to serve: weights files from `gpushare model quantize` (repeat, or
    /// comma-separated); embedding jobs naming another model are left to others [default: none].
    #[arg(
        long = "model",
        env = "GPUSHARE_MODELS",
        value_delimiter = ',',
        global = true
    )]
    pub models: Option<Vec<PathBuf>>,
    /// Largest data input downloaded, bytes [default: 1 GiB].
    #[arg(long, env = "GPUSHARE_MAX_INPUT_BYTES", global = true)]
    pub max_input_bytes: Option<u64>,
    /// Directories `file://` job inputs may be read from (repeat, or comma-separated) [default:
    /// none: file inputs are refused].
    #[arg(
        long = "input-dir",
        env = "GPUSHARE_INPUT_DIRS",
        value_delimiter = ',',
        global = true
    )]
    pub input_dirs: Option<Vec<PathBuf>>,
    /// Hosts (names or addresses) http(s) job inputs may reach at private, loopback or other
    /// non-public addresses, such as your own mirror (repeat, or comma-separated) [default: none].
    #[arg(
        long = "input-allow-host",
        env = "GPUSHARE_INPUT_ALLOW_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub input_allow_hosts: Option<Vec<String>>,
    /// Seconds to connect to an input's server [default: 10].
    #[arg(long, env = "GPUSHARE_INPUT_CONNECT_SECONDS", global = true)]
    pub input_connect_seconds: Option<f64>,
    /// Seconds an input's server may go silent mid-transfer [default: 30].
    #[arg(long, env = "GPUSHARE_INPUT_READ_SECONDS", global = true)]
    pub input_read_seconds: Option<f64>,
    /// Seconds a whole input download may take [default: 600].
    #[arg(long, env = "GPUSHARE_INPUT_TOTAL_SECONDS", global = true)]
    pub input_total_seconds: Option<f64>,
    /// Memory all held slots together may use for their shards, MiB [default: half of what is
    /// available when the worker starts].
    #[arg(long, env = "GPUSHARE_MEMORY_BUDGET_MIB", global = true)]
    pub memory_budget_mib: Option<u64>,
    /// Disk all held slots together may use in the data directory, MiB [default: nine tenths of
    /// its file system's free space when the worker starts].
    #[arg(long, env = "GPUSHARE_DISK_BUDGET_MIB", global = true)]
    pub disk_budget_mib: Option<u64>,
    /// Redirects an input download may follow [default: 5].
    #[arg(long, env = "GPUSHARE_INPUT_MAX_REDIRECTS", global = true)]
    pub input_max_redirects: Option<usize>,
    /// Seconds between rounds when nothing arrives over the websocket; without a websocket, each
    /// round re-reads every account the worker tracks [default: 2].
    #[arg(long, env = "GPUSHARE_POLL_SECONDS", global = true)]
    pub poll_seconds: Option<f64>,
    /// Seconds between full re-reads of the tracked accounts while the websocket keeps them
    /// current (the safety net for missed and unannounced changes) [default: 60].
    #[arg(long, env = "GPUSHARE_RESYNC_SECONDS", global = true)]
    pub resync_seconds: Option<f64>,
    /// Hours the data directory keeps outputs of closed jobs, records of slots no longer held and
    /// downloaded inputs after they were last written [default: 24].
    #[arg(long, env = "GPUSHARE_RETENTION_HOURS", global = true)]
    pub retention_hours: Option<f64>,
    /// Whether `run` opens the on-chain benchmark by itself when the machine has no proven
    /// throughput, and again before the proof goes stale (benchmarks others open are answered
    /// either way) [default: true].
    #[arg(
        long,
        alias = "prove-hardware",
        env = "GPUSHARE_BENCHMARK_WHEN_DUE",
        global = true
    )]
    #[serde(alias = "prove_hardware")]
    pub benchmark_when_due: Option<bool>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub rpc_url: String,
    pub ws_url: String,
    pub keypair: PathBuf,
    pub mint: Option<Pubkey>,
    pub token_account: Option<Pubkey>,
    pub backend: BackendOptions,
    pub min_price: u64,
    pub concurrent_jobs: usize,
    pub data_dir: PathBuf,
    pub metrics_addr: SocketAddr,
    pub public_url: Option<String>,
    pub priority_fee: PriorityFee,
    pub inputs: InputPolicy,
    /// Weights files of the embedding models served.
    pub models: Vec<PathBuf>,
    /// Memory and disk the held slots may use, shared equally among `concurrent_jobs`.
    pub budgets: Budgets,
    pub poll_interval: Duration,
    pub resync_interval: Duration,
    pub retention: Duration,
    pub benchmark_when_due: bool,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// `value`, if within `range`.
fn number_within(
    what: &str,
    value: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<f64, WorkerError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(WorkerError::Config(format!(
            "{what} {value} is outside {}..={}",
            range.start(),
            range.end()
        )))
    }
}

/// A budget given in MiB, or the machine's default; refused when neither is known.
fn mib_or(
    mib: Option<u64>,
    default: impl FnOnce() -> Option<u64>,
    what: &str,
) -> Result<u64, WorkerError> {
    match mib {
        Some(mib) => Ok(mib.saturating_mul(1 << 20)),
        None => default().ok_or_else(|| {
            WorkerError::Config(format!(
                "{what}: not given, and this machine does not tell; set it"
            ))
        }),
    }
}

/// Most redirects an input download may be set to follow.
const MAX_INPUT_REDIRECTS: usize = 20;

/// A time limit in seconds (0.1 s to a day), `default` when unset.
fn seconds(what: &str, value: Option<f64>, default: f64) -> Result<Duration, WorkerError> {
    number_within(what, value.unwrap_or(default), 0.1..=86_400.0).map(Duration::from_secs_f64)
}

fn parse_key(what: &str, text: &str) -> Result<Pubkey, WorkerError> {
    text.parse()
        .map_err(|_| WorkerError::Config(format!("{what}: {text:?} is not a base58 address")))
}

/// The pubsub URL Solana tools derive from an RPC URL: ws(s) scheme, port + 1 when one is given.
pub fn websocket_url_for(rpc_url: &str) -> String {
    let (scheme, rest) = match rpc_url.split_once("://") {
        Some(("https", rest)) => ("wss", rest),
        Some((_, rest)) => ("ws", rest),
        None => ("ws", rpc_url),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => format!("{host}:{}", port.saturating_add(1)),
            Err(_) => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}/{path}")
}

impl Config {
    /// Resolves `args` over the TOML file (given, or the default path when it exists) over defaults.
    pub fn resolve(args: &ConfigArgs) -> Result<Self, WorkerError> {
        let default_file = home().join(".config/gpushare/worker.toml");
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if default_file.exists() => read_file(&default_file)?,
            None => ConfigArgs::default(),
        };
        let rpc_url = args
            .rpc_url
            .clone()
            .or(file.rpc_url)
            .unwrap_or_else(|| "http://127.0.0.1:8899".into());
        let ws_url = args
            .ws_url
            .clone()
            .or(file.ws_url)
            .unwrap_or_else(|| websocket_url_for(&rpc_url));
        let mint = args.mint.clone().or(file.mint);
        let token_account = args.token_account.clone().or(file.token_account);
        let poll_seconds = number_within(
            "poll_seconds",
            args.poll_seconds.or(file.poll_seconds).unwrap_or(2.0),
            0.05..=3600.0,
        )?;
        let resync_seconds = number_within(
            "resync_seconds",
            args.resync_seconds.or(file.resync_seconds).unwrap_or(60.0),
            1.0..=86_400.0,
        )?;
        let retention_hours = number_within(
            "retention_hours",
            args.retention_hours
                .or(file.retention_hours)
                .unwrap_or(24.0),
            1.0..=8_760.0,
        )?;
        let concurrent_jobs = args.concurrent_jobs.or(file.concurrent_jobs).unwrap_or(2);
        if concurrent_jobs == 0 {
            return Err(WorkerError::Config(
                "concurrent_jobs must be at least 1".into(),
            ));
        }
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| home().join(".local/share/gpushare"));
        let budgets = Budgets {
            memory: mib_or(
                args.memory_budget_mib.or(file.memory_budget_mib),
                default_memory_budget,
                "memory_budget_mib",
            )?,
            disk: mib_or(
                args.disk_budget_mib.or(file.disk_budget_mib),
                || data_dir.ancestors().find_map(default_disk_budget),
                "disk_budget_mib",
            )?,
            slots: concurrent_jobs,
        };
        Ok(Self {
            budgets,
            rpc_url,
            ws_url,
            keypair: args
                .keypair
                .clone()
                .or(file.keypair)
                .unwrap_or_else(|| home().join(".config/solana/id.json")),
            mint: mint.map(|m| parse_key("mint", &m)).transpose()?,
            token_account: token_account
                .map(|t| parse_key("token_account", &t))
                .transpose()?,
            backend: BackendOptions {
                choice: args.backend.or(file.backend).unwrap_or_default(),
                devices: args.devices.clone().or(file.devices).unwrap_or_default(),
                device_memory_limit: args
                    .device_memory_mib
                    .or(file.device_memory_mib)
                    .map(|mib| mib << 20),
            },
            min_price: args.min_price.or(file.min_price).unwrap_or(1),
            concurrent_jobs,
            data_dir,
            metrics_addr: args
                .metrics_addr
                .or(file.metrics_addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9464))),
            public_url: args.public_url.clone().or(file.public_url),
            priority_fee: args.priority_fee.or(file.priority_fee).unwrap_or_default(),
            models: args.models.clone().or(file.models).unwrap_or_default(),
            inputs: InputPolicy {
                dirs: args
                    .input_dirs
                    .clone()
                    .or(file.input_dirs)
                    .unwrap_or_default(),
                allow_hosts: args
                    .input_allow_hosts
                    .clone()
                    .or(file.input_allow_hosts)
                    .unwrap_or_default(),
                limit: args
                    .max_input_bytes
                    .or(file.max_input_bytes)
                    .unwrap_or(1 << 30),
                connect_timeout: seconds(
                    "input_connect_seconds",
                    args.input_connect_seconds.or(file.input_connect_seconds),
                    10.0,
                )?,
                read_timeout: seconds(
                    "input_read_seconds",
                    args.input_read_seconds.or(file.input_read_seconds),
                    30.0,
                )?,
                total_timeout: seconds(
                    "input_total_seconds",
                    args.input_total_seconds.or(file.input_total_seconds),
                    600.0,
                )?,
                max_redirects: args
                    .input_max_redirects
                    .or(file.input_max_redirects)
                    .unwrap_or(5)
                    .min(MAX_INPUT_REDIRECTS),
            },
            poll_interval: Duration::from_secs_f64(poll_seconds),
            resync_interval: Duration::from_secs_f64(resync_seconds),
            retention: Duration::from_secs_f64(retention_hours * 3_600.0),
            benchmark_when_due: args
                .benchmark_when_due
                .or(file.benchmark_when_due)
                .unwrap_or(true),
        })
    }

    /// The network's mint, which chain commands need.
    pub fn require_mint(&self) -> Result<Pubkey, WorkerError> {
        self.mint.ok_or_else(|| {
            WorkerError::Config("no mint: give --mint, GPUSHARE_MINT or `mint` in the file".into())
        })
    }

    /// Reads the wallet keypair.
    pub fn wallet(&self) -> Result<Arc<Keypair>, WorkerError> {
        gpushare_client::local::read_keypair(&self.keypair)
            .map_err(|e| WorkerError::Config(e.to_string()))
    }
}

fn read_file(path: &Path) -> Result<ConfigArgs, WorkerError> {
    let text = std::fs::read_to_string(path).map_err(|e| WorkerError::io(path, e))?;
    toml::from_str(&text).map_err(|e| WorkerError::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let (_dir, path) =
            file("rpc_url = \"http://10.0.0.1:7000\"\nmin_price = 500\nconcurrent_jobs = 4\n");
        let args = ConfigArgs {
            config: Some(path),
            min_price: Some(900),
            ..ConfigArgs::default()
        };
        let config = Config::resolve(&args).unwrap();
        assert_eq!(config.rpc_url, "http://10.0.0.1:7000");
        assert_eq!(config.ws_url, "ws://10.0.0.1:7001/");
        assert_eq!(config.min_price, 900);
        assert_eq!(config.concurrent_jobs, 4);
        assert_eq!(config.backend, BackendOptions::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        let (_dir, path) = file("rpc_ur = \"x\"\n");
        let error = Config::resolve(&ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `rpc_ur`"),
            "{error}"
        );
        let error = Config::resolve(&ConfigArgs {
            concurrent_jobs: Some(0),
            ..ConfigArgs::default()
        })
        .unwrap_err();
        assert!(matches!(error, WorkerError::Config(_)));
        let error = Config::resolve(&ConfigArgs {
            mint: Some("not-a-key".into()),
            ..ConfigArgs::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains("mint"), "{error}");
        let (_dir, path) = file("devices = \"0,gpu1\"\n");
        let error = Config::resolve(&ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains("\"gpu1\""), "{error}");
    }

    #[test]
    fn devices_and_their_memory_come_from_the_file() {
        let (_dir, path) = file("devices = \"1,3\"\ndevice_memory_mib = 2048\nbackend = \"gpu\"\n");
        let config = Config::resolve(&ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!(
            config.backend,
            BackendOptions {
                choice: BackendChoice::Gpu,
                devices: Devices::List(vec![1, 3]),
                device_memory_limit: Some(2048 << 20),
            }
        );
    }

    #[test]
    fn websocket_urls_follow_the_solana_convention() {
        assert_eq!(
            websocket_url_for("http://127.0.0.1:8899"),
            "ws://127.0.0.1:8900/"
        );
        assert_eq!(
            websocket_url_for("https://api.devnet.solana.com"),
            "wss://api.devnet.solana.com/"
        );
    }
}
