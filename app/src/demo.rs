//! A whole gpushare network on one machine: an embedded localnet, a network on a fresh mint, provider
//! processes (`gpushare-worker run`, one optionally in labelled fault-injection mode), a client posting
//! jobs, and a summary with a token-conservation check. The README's demo and the end-to-end tests both
//! run [`Scenario`]s through here; chaos (a worker killed and restarted, a flaky RPC proxy) is optional.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use futures::{StreamExt, TryStreamExt};
use gpushare::state::{
    CreateJobArgs, HardwareRequirement, JobInput, KernelSpec, PrivateTerms, Provider,
    VerificationMode,
};
use gpushare_client::chain::Chain;
use gpushare_client::pda;
use gpushare_core::kernels::Kernel;
use gpushare_engine::shard::Input;
use gpushare_localnet::network::{self, CreatedNetwork, PAYER_SUPPLY};
use gpushare_localnet::write_keypair;
use sha2::{Digest, Sha256};
use solana_keypair::Keypair;
use solana_signer::Signer;
use tokio::process::{Child, Command};

use crate::dashboard::Dashboard;
use crate::embeddings::{ModelFiles, check_spot_checkable, quantized_weights};
use crate::error::AppError;
use crate::jobs::ClientSession;
use crate::load::LoadFigures;
use crate::private::ClientKeys;
use crate::process::{sibling_binary, terminate};

/// SOL (lamports) each wallet of a scenario gets for fees and rent: 10 SOL.
pub const WALLET_LAMPORTS: u64 = 10_000_000_000;
/// More SOL the client gets per job, for the job's rent (about 6.1 M lamports) and fees.
const LAMPORTS_PER_JOB: u64 = 10_000_000;
/// Jobs the client checks (or closes) at once after the load.
const CLIENT_CONCURRENCY: usize = 8;

/// Base units per whole token on the local mint.
pub const TOKEN: u64 = 10u64.pow(network::DECIMALS as u32);

/// One provider of a scenario.
#[derive(Clone, Debug)]
pub struct ProviderSpec {
    pub stake: u64,
    pub min_price: u64,
    pub concurrent_jobs: usize,
    /// Run with `--inject-fault` (needs a worker built with `fault-injection`).
    pub faulty: Option<Cheat>,
}

/// How a fault-injecting provider cheats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cheat {
    /// Commits to a corrupted output (`wrong-output`).
    WrongOutput,
    /// Computes embedding jobs without the model's last layer (`skip-layer`).
    SkipLayer,
}

impl Cheat {
    /// The worker's `--inject-fault` value.
    pub fn flag(self) -> &'static str {
        match self {
            Cheat::WrongOutput => "wrong-output",
            Cheat::SkipLayer => "skip-layer",
        }
    }
}

impl ProviderSpec {
    pub fn honest() -> Self {
        Self {
            stake: 50 * TOKEN,
            min_price: 1,
            concurrent_jobs: 3,
            faulty: None,
        }
    }
}

/// Where a job's input comes from.
#[derive(Clone, Debug)]
pub enum InputSpec {
    Seed([u8; 32]),
    /// Random gemm_i8 operands written to a file and posted as a `file://` URI with their SHA-256.
    RandomData,
    /// Texts embedded by the model in `model_dir` (a sentence-transformers package's folder with its
    /// `model.safetensors` and `tokenizer.json`): quantized once per run, served by every provider,
    /// and the job's kernel and token batch made from the texts (the spec's kernel is not used).
    Texts {
        model_dir: PathBuf,
        texts: Vec<String>,
    },
    /// The input inside, posted as a private job (docs/privacy.md): sealed under the client's data
    /// key for the job, its key delivered to each claim while the client waits, its outputs served
    /// sealed to the client.
    Private(Box<InputSpec>),
}

impl InputSpec {
    /// The input as computed: the one inside a private input.
    pub fn plain(&self) -> &InputSpec {
        match self {
            InputSpec::Private(inner) => inner.plain(),
            input => input,
        }
    }
}

/// One job of a scenario.
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub kernel: Kernel,
    pub input: InputSpec,
    pub shards: u16,
    pub replicas: u8,
    pub mode: VerificationMode,
    pub price: u64,
}

/// Something that goes wrong on purpose while a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chaos {
    None,
    /// `kill -9` this provider as soon as it has committed to a slot, then start it again.
    KillAfterCommit {
        provider: usize,
    },
    /// Workers reach the RPC node through a proxy that drops, delays and fails requests.
    FlakyRpc,
    /// While jobs are posted, `kill -9` a random provider other than the first every `every` and
    /// start it again a second later. The first runs throughout: its memory, sampled at each
    /// restart, shows whether a worker grows.
    RandomRestarts {
        every: Duration,
    },
}

/// A token holder backing one of the scenario's providers.
#[derive(Clone, Copy, Debug)]
pub struct DelegationSpec {
    /// Index into `Scenario::providers`.
    pub provider: usize,
    pub amount: u64,
}

/// A network, its providers, its jobs, and what goes wrong.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub providers: Vec<ProviderSpec>,
    pub delegations: Vec<DelegationSpec>,
    pub jobs: Vec<JobSpec>,
    pub chaos: Chaos,
    /// How long the jobs may take to settle.
    pub timeout: Duration,
    /// Post one job per interval instead of all at once (a steady load).
    pub post_interval: Option<Duration>,
}

impl Scenario {
    /// A steady load for `gpushare bench-network`: `workers` honest providers holding up to
    /// `slots_per_worker` slots each, and for `seconds` one small job every `1 / rate` seconds,
    /// quorum gemm_i8 and spot-checked sha256_chain in turn, so that the chain, not the kernels,
    /// is what is measured.
    pub fn steady_load(workers: usize, slots_per_worker: usize, rate: f64, seconds: u64) -> Self {
        let count = (rate * seconds as f64).ceil() as usize;
        // One seed serves every job: the program binds each job's inputs to its address.
        let seed = InputSpec::Seed([7; 32]);
        let job = |i: usize| {
            let seed = seed.clone();
            if i.is_multiple_of(2) {
                JobSpec {
                    kernel: Kernel::GemmI8 {
                        m: 64,
                        n: 64,
                        k: 64,
                    },
                    input: seed,
                    shards: 1,
                    replicas: 2,
                    mode: VerificationMode::Quorum { q: 2 },
                    price: 2_000,
                }
            } else {
                JobSpec {
                    kernel: Kernel::Sha256Chain {
                        steps: 1 << 10,
                        leaf_every: 1 << 6,
                    },
                    input: seed,
                    shards: 1,
                    replicas: 1,
                    mode: VerificationMode::SpotCheck { samples: 4 },
                    price: 2_000,
                }
            }
        };
        let provider = ProviderSpec {
            concurrent_jobs: slots_per_worker,
            ..ProviderSpec::honest()
        };
        Self {
            providers: vec![provider; workers],
            delegations: Vec::new(),
            jobs: (0..count).map(job).collect(),
            chaos: Chaos::None,
            timeout: Duration::from_secs(seconds + 240),
            post_interval: Some(Duration::from_secs_f64(1.0 / rate.max(0.01))),
        }
    }

    /// The same load with every job an embedding job of `texts` by the model in `model_dir` (one
    /// shard, three replicas, quorum two — a data job needs a spare replica to outvote a lone wrong
    /// root — at the gemm_i8 jobs' price).
    pub fn with_embeddings(mut self, model_dir: &Path, texts: Vec<String>) -> Self {
        for job in &mut self.jobs {
            *job = JobSpec {
                input: InputSpec::Texts {
                    model_dir: model_dir.to_path_buf(),
                    texts: texts.clone(),
                },
                shards: 1,
                replicas: 3,
                mode: VerificationMode::Quorum { q: 2 },
                price: 2_000,
                ..job.clone()
            };
        }
        self
    }

    /// The README's demo: three providers (the third in fault-injection mode, taking only the
    /// better-paid quorum work), a delegator behind the first and another behind the faulty one,
    /// and a mix of quorum and spot-check jobs over every kernel: the sentences of `texts` embedded
    /// by the model in `model_dir` among them, and a private job on the client's own operands.
    pub fn demo(model_dir: &Path, texts: Vec<String>) -> Self {
        let mut faulty = ProviderSpec::honest();
        faulty.faulty = Some(Cheat::WrongOutput);
        faulty.min_price = 3_000;
        let quorum = VerificationMode::Quorum { q: 2 };
        let spot = VerificationMode::SpotCheck { samples: 8 };
        let job = |kernel, input, replicas, mode, price| JobSpec {
            kernel,
            input,
            shards: 2,
            replicas,
            mode,
            price,
        };
        let gemm = Kernel::GemmI8 {
            m: 128,
            n: 128,
            k: 128,
        };
        let chain = Kernel::Sha256Chain {
            steps: 1 << 14,
            leaf_every: 1 << 8,
        };
        let monte_carlo = Kernel::MonteCarlo {
            blocks: 64,
            samples_per_block: 1 << 10,
        };
        Self {
            providers: vec![ProviderSpec::honest(), ProviderSpec::honest(), faulty],
            delegations: vec![
                DelegationSpec {
                    provider: 0,
                    amount: 100 * TOKEN,
                },
                DelegationSpec {
                    provider: 2,
                    amount: 100 * TOKEN,
                },
            ],
            jobs: vec![
                job(gemm, InputSpec::Seed([1; 32]), 3, quorum, 5_000),
                job(
                    gemm,
                    InputSpec::Texts {
                        model_dir: model_dir.to_path_buf(),
                        texts,
                    },
                    3,
                    quorum,
                    5_000,
                ),
                job(
                    gemm,
                    InputSpec::Private(Box::new(InputSpec::RandomData)),
                    3,
                    quorum,
                    5_000,
                ),
                job(gemm, InputSpec::Seed([2; 32]), 1, spot, 2_000),
                job(chain, InputSpec::Seed([3; 32]), 1, spot, 2_000),
                job(monte_carlo, InputSpec::Seed([4; 32]), 1, spot, 2_000),
            ],
            chaos: Chaos::None,
            timeout: Duration::from_secs(300),
            post_interval: None,
        }
    }
}

/// One provider's outcome.
#[derive(Clone)]
pub struct ProviderReport {
    pub faulty: Option<Cheat>,
    pub account: Provider,
    /// Tokens in the provider's wallet at the end (stake is in its vault).
    pub balance: u64,
    pub stake_vault: u64,
    /// Rewards its delegators have not claimed (after the delegators' final claims).
    pub reward_vault: u64,
    pub log: PathBuf,
}

/// One delegator's outcome.
#[derive(Clone)]
pub struct DelegatorReport {
    pub provider: usize,
    pub delegated: u64,
    /// What its delegation is worth at the end (less than delegated after a slash).
    pub worth: u64,
    /// Rewards it claimed at the end.
    pub rewards: u64,
    /// Tokens in its wallet at the end.
    pub balance: u64,
}

/// What a scenario ended with.
#[derive(Clone)]
pub struct Report {
    /// Keypairs, logs, outputs and the ledger of the run.
    pub dir: PathBuf,
    pub rpc_url: String,
    pub jobs: Vec<Pubkey>,
    pub shards: u64,
    pub shards_verified: u64,
    pub providers: Vec<ProviderReport>,
    pub delegators: Vec<DelegatorReport>,
    pub treasury: u64,
    pub client_spent: u64,
    /// Every token account of the run summed: must equal the mint's supply now.
    pub accounted: u64,
    /// The mint's supply at the end: what was minted less the slashes burned.
    pub supply: u64,
    /// What the run minted.
    pub minted: u64,
    /// Throughput, latency and costs, from the validator's history.
    pub load: LoadFigures,
    /// The first worker's resident memory (seconds after the first post, KiB), sampled at every
    /// restart of a random-restart run.
    pub steady_worker_memory: Vec<(u64, u64)>,
}

impl Report {
    /// The summary the demo prints.
    pub fn render(&self) -> String {
        let tokens = |amount: u64| format!("{}.{:06}", amount / TOKEN, amount % TOKEN);
        let mut text = String::new();
        text.push_str(&format!(
            "gpushare demo on the local validator at {}\n",
            self.rpc_url
        ));
        text.push_str(&format!(
            "jobs: {} posted and closed; shards: {} of {} verified and downloaded by the client\n\n",
            self.jobs.len(),
            self.shards_verified,
            self.shards
        ));
        text.push_str("provider                        paid  fraud  missed      earned     slashed   stake left\n");
        for (i, p) in self.providers.iter().enumerate() {
            let label = if p.faulty.is_some() {
                format!("provider-{} (FAULT INJECTION)", i + 1)
            } else {
                format!("provider-{}", i + 1)
            };
            text.push_str(&format!(
                "{label:<30} {:>5} {:>6} {:>7} {:>11} {:>11} {:>12}\n",
                p.account.completed,
                p.account.failed,
                p.account.missed,
                tokens(p.account.earned),
                tokens(p.account.slashed),
                tokens(p.stake_vault),
            ));
        }
        for (i, d) in self.delegators.iter().enumerate() {
            let behind = &self.providers[d.provider];
            let fault = if behind.faulty.is_some() {
                " (FAULT INJECTION)"
            } else {
                ""
            };
            text.push_str(&format!(
                "delegator-{} behind provider-{}{fault}: delegated {}, worth {} now, rewards {} claimed\n",
                i + 1,
                d.provider + 1,
                tokens(d.delegated),
                tokens(d.worth),
                tokens(d.rewards),
            ));
        }
        text.push_str(&format!(
            "\nclient spent {} (providers' pay + protocol fees; unused escrow refunded)\n",
            tokens(self.client_spent)
        ));
        text.push_str(&format!(
            "treasury received {} (fees; slashed stake is burned)\n",
            tokens(self.treasury)
        ));
        let verdict = if self.accounted == self.supply {
            "holds"
        } else {
            "BROKEN"
        };
        text.push_str(&format!(
            "token conservation {verdict}: every wallet (delegators' too), vault and the treasury sum to {}, the supply: {} minted less {} burned by slashes\n",
            tokens(self.accounted),
            tokens(self.minted),
            tokens(self.minted - self.supply)
        ));
        text.push_str(&self.load.render());
        if !self.steady_worker_memory.is_empty() {
            let samples: Vec<String> = self
                .steady_worker_memory
                .iter()
                .map(|(second, kib)| format!("{second} s {kib}"))
                .collect();
            text.push_str(&format!(
                "provider-1 (never restarted) resident memory, KiB: {}\n",
                samples.join(", ")
            ));
        }
        for (i, p) in self.providers.iter().enumerate() {
            text.push_str(&format!("provider-{} log: {}\n", i + 1, p.log.display()));
        }
        text
    }
}

/// The localnet binary running in the background, and the network it created; stopped on drop.
pub struct LocalNetwork {
    child: std::process::Child,
    pub rpc_url: String,
    pub ws_url: String,
    payer: Keypair,
    pub created: CreatedNetwork,
}

impl LocalNetwork {
    /// Starts `gpushare-localnet --init-network` with its output in `dir/localnet.log` (the program's
    /// `msg!` lines land there natively) and waits for its READY line.
    pub fn start(dir: &Path) -> Result<Self, AppError> {
        let binary = sibling_binary("gpushare-localnet", "GPUSHARE_LOCALNET_BIN")?;
        let log_path = dir.join("localnet.log");
        let log = std::fs::File::create(&log_path).map_err(|e| AppError::io("localnet.log", e))?;
        let payer_path = dir.join("payer.json");
        let mut child = std::process::Command::new(binary)
            .arg("--rpc-port")
            .arg("0")
            .arg("--ledger")
            .arg(dir.join("ledger"))
            .arg("--payer-keypair")
            .arg(&payer_path)
            .arg("--init-network")
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(|e| AppError::io("localnet.log", e))?,
            )
            .stderr(log)
            .spawn()
            .map_err(|e| AppError::io("gpushare-localnet", e))?;
        let failed = |why: &str| AppError::Localnet(format!("{why}; see {}", log_path.display()));
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        let ready = loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(line) = text.lines().find(|line| line.starts_with("READY ")) {
                break line.to_owned();
            }
            if child
                .try_wait()
                .map_err(|e| AppError::io("gpushare-localnet", e))?
                .is_some()
            {
                return Err(failed("the localnet exited"));
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return Err(failed("the localnet did not start"));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let field = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
                .ok_or_else(|| failed(&format!("no {name} in the READY line")))
        };
        let key = |name: &str| -> Result<Pubkey, AppError> {
            field(name)?
                .parse()
                .map_err(|_| failed(&format!("bad {name} in the READY line")))
        };
        let created = CreatedNetwork {
            mint: key("mint")?,
            treasury: key("treasury")?,
            network: key("network")?,
            token_program: key("token_program")?,
            payer_token: key("payer_token")?,
        };
        let payer = solana_keypair::read_keypair_file(&payer_path)
            .map_err(|e| failed(&format!("payer keypair: {e}")))?;
        Ok(Self {
            rpc_url: field("rpc")?,
            ws_url: field("ws")?,
            child,
            payer,
            created,
        })
    }
}

impl LocalNetwork {
    /// Gives `wallet` `lamports` of SOL and `tokens` of the network's mint in its associated token
    /// account; returns that account.
    pub fn fund(&self, wallet: &Pubkey, lamports: u64, tokens: u64) -> Result<Pubkey, AppError> {
        let rpc = solana_rpc_client::rpc_client::RpcClient::new_with_commitment(
            self.rpc_url.clone(),
            solana_rpc_client::api::config::CommitmentConfig::confirmed(),
        );
        network::fund_wallet(&rpc, &self.payer, &self.created, wallet, lamports, tokens)
            .map_err(|e| AppError::Localnet(e.to_string()))
    }
}

impl Drop for LocalNetwork {
    fn drop(&mut self) {
        terminate(self.child.id());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, AppError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| AppError::io("port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| AppError::io("port", e))
}

/// A provider process and how to start it again.
struct Worker {
    spec: ProviderSpec,
    keypair: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    endpoint: std::net::SocketAddr,
    wallet: Pubkey,
    child: Option<Child>,
}

struct Context {
    dir: PathBuf,
    /// The weights file quantized from each model folder the jobs name.
    models: HashMap<PathBuf, PathBuf>,
    binary: PathBuf,
    mint: Pubkey,
    rpc_url: String,
    ws_url: String,
}

impl Worker {
    fn command(&self, ctx: &Context, rpc_url: &str) -> Command {
        let mut command = Command::new(&ctx.binary);
        command
            .arg("--rpc-url")
            .arg(rpc_url)
            .arg("--ws-url")
            .arg(&ctx.ws_url)
            .arg("--keypair")
            .arg(&self.keypair)
            .arg("--mint")
            .arg(ctx.mint.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--input-dir")
            .arg(inputs_dir(&ctx.dir))
            .arg("--metrics-addr")
            .arg(self.endpoint.to_string())
            .arg("--public-url")
            .arg(format!("http://{}", self.endpoint))
            .arg("--min-price")
            .arg(self.spec.min_price.to_string())
            .arg("--concurrent-jobs")
            .arg(self.spec.concurrent_jobs.to_string())
            .arg("--poll-seconds")
            .arg("0.5")
            .arg("--benchmark-when-due")
            .arg("false")
            .arg("--backend")
            .arg("cpu")
            .env("GPUSHARE_CONFIG", ctx.dir.join("worker.toml"))
            .env(
                "RUST_LOG",
                std::env::var("GPUSHARE_WORKER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null());
        command
    }

    fn log_file(&self) -> Result<std::fs::File, AppError> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| AppError::io(self.log.display().to_string(), e))
    }

    async fn register(&self, ctx: &Context) -> Result<(), AppError> {
        let stake = self.spec.stake.to_string();
        self.run_once(ctx, &["register", "--stake", &stake]).await
    }

    /// Runs one `gpushare-worker` subcommand for this provider to completion.
    async fn run_once(&self, ctx: &Context, args: &[&str]) -> Result<(), AppError> {
        let what = format!("gpushare-worker {}", args.join(" "));
        let status = self
            .command(ctx, &ctx.rpc_url)
            .args(args)
            .stdout(self.log_file()?)
            .stderr(self.log_file()?)
            .status()
            .await
            .map_err(|e| AppError::io(what.clone(), e))?;
        if !status.success() {
            return Err(AppError::InvalidArgument(format!(
                "{what} failed; see {}",
                self.log.display()
            )));
        }
        Ok(())
    }

    fn start(&mut self, ctx: &Context, rpc_url: &str) -> Result<(), AppError> {
        let mut command = self.command(ctx, rpc_url);
        command.arg("run");
        if let Some(cheat) = self.spec.faulty {
            command.arg("--inject-fault").arg(cheat.flag());
        }
        let child = command
            .stdout(self.log_file()?)
            .stderr(self.log_file()?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| AppError::io("gpushare-worker run", e))?;
        self.child = Some(child);
        Ok(())
    }

    /// The running process's resident memory now, KiB.
    fn resident_kib(&self) -> Option<u64> {
        crate::load::resident_kib(self.child.as_ref()?.id()?)
    }

    /// SIGKILL — no chance to save anything — then the worker started again a second later.
    async fn kill_and_restart(&mut self, ctx: &Context, rpc_url: &str) -> Result<(), AppError> {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .await
                .map_err(|e| AppError::io("kill worker", e))?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.start(ctx, rpc_url)
    }

    /// The RPC requests the running worker has sent, by method (from its metrics endpoint).
    async fn rpc_requests(&self) -> Result<Vec<(String, u64)>, AppError> {
        let text = reqwest::get(format!("http://{}/metrics", self.endpoint))
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AppError::InvalidArgument(format!("worker metrics: {e}")))?
            .text()
            .await
            .map_err(|e| AppError::InvalidArgument(format!("worker metrics: {e}")))?;
        Ok(crate::load::rpc_requests(&text))
    }

    /// The running process's peak resident memory, KiB.
    fn peak_kib(&self) -> Option<u64> {
        crate::load::peak_kib(self.child.as_ref()?.id()?)
    }

    /// SIGTERM and wait for the graceful exit.
    async fn stop(&mut self) -> Result<(), AppError> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                terminate(pid);
            }
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                child
                    .kill()
                    .await
                    .map_err(|e| AppError::io("kill worker", e))?;
            }
        }
        Ok(())
    }
}

/// Runs `scenario` start to finish on a fresh localnet and returns its report. Blocking: the setup
/// client runs before the async runtime this function creates.
pub fn run(scenario: &Scenario) -> Result<Report, AppError> {
    run_watched(scenario, Watching::default())
}

/// What a person watching a run gets besides its report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Watching {
    /// Serve the web dashboard on the run's network and print its address.
    pub dashboard: bool,
    /// Once the report is printed, start the providers again and keep the validator, the providers
    /// and the dashboard running until Ctrl-C, for a person to post jobs and look around.
    pub keep: bool,
}

/// Runs `scenario` as [`run`] does, with a dashboard and, when asked, the network kept running
/// after the report (which is then printed here).
pub fn run_watched(scenario: &Scenario, watching: Watching) -> Result<Report, AppError> {
    let binary = sibling_binary("gpushare-worker", "GPUSHARE_WORKER_BIN")?;
    let dir = tempfile::Builder::new()
        .prefix("gpushare-demo-")
        .tempdir()
        .map_err(|e| AppError::io("demo directory", e))?
        .keep();
    eprintln!(
        "gpushare demo: keypairs, logs and outputs in {}",
        dir.display()
    );
    let localnet = LocalNetwork::start(&dir)?;
    let created = &localnet.created;
    let _dashboard = watching.dashboard.then(|| {
        match Dashboard::start(&localnet.rpc_url, Some(&created.network), 0) {
            Ok(dashboard) => {
                eprintln!("gpushare demo: dashboard at {}", dashboard.url);
                Some(dashboard)
            }
            Err(error) => {
                eprintln!("gpushare demo: no dashboard ({error})");
                None
            }
        }
    });
    let client_wallet = Arc::new(Keypair::new());
    let fund = |wallet: &Pubkey, tokens: u64| localnet.fund(wallet, WALLET_LAMPORTS, tokens);
    // The client holds every job's rent until the jobs close after the load.
    let client_lamports = WALLET_LAMPORTS + LAMPORTS_PER_JOB * scenario.jobs.len() as u64;
    localnet.fund(&client_wallet.pubkey(), client_lamports, 10_000 * TOKEN)?;
    let mut workers = Vec::new();
    for (i, spec) in scenario.providers.iter().enumerate() {
        let wallet = Keypair::new();
        fund(&wallet.pubkey(), spec.stake + 10 * TOKEN)?;
        let keypair = dir.join(format!("provider-{}.json", i + 1));
        write_keypair(&wallet, &keypair).map_err(|e| AppError::io("keypair", e))?;
        workers.push(Worker {
            spec: spec.clone(),
            keypair,
            data_dir: dir.join(format!("provider-{}", i + 1)),
            log: dir.join(format!("provider-{}.log", i + 1)),
            endpoint: std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            wallet: wallet.pubkey(),
            child: None,
        });
    }
    let mut delegators = Vec::new();
    for spec in &scenario.delegations {
        let wallet = Arc::new(Keypair::new());
        fund(&wallet.pubkey(), spec.amount)?;
        delegators.push((wallet, *spec));
    }
    let ctx = Context {
        models: quantize_models(scenario, &dir)?,
        dir: dir.clone(),
        binary,
        mint: created.mint,
        rpc_url: localnet.rpc_url.clone(),
        ws_url: localnet.ws_url.clone(),
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| AppError::io("tokio runtime", e))?;
    let result = runtime.block_on(drive(
        scenario,
        &ctx,
        created,
        Arc::clone(&client_wallet),
        &delegators,
        &mut workers,
    ));
    if let (true, Ok(report)) = (watching.keep, &result) {
        print!("{}", report.render());
        write_keypair(&client_wallet, &dir.join("client.json"))
            .map_err(|e| AppError::io("client keypair", e))?;
        runtime.block_on(keep_running(&ctx, created, &mut workers))?;
    }
    runtime.block_on(async {
        for worker in &mut workers {
            let _ = worker.stop().await;
        }
    });
    result
}

/// Starts the providers again and waits for Ctrl-C (or SIGTERM), saying how to post a job meanwhile.
async fn keep_running(
    ctx: &Context,
    created: &CreatedNetwork,
    workers: &mut [Worker],
) -> Result<(), AppError> {
    for worker in workers.iter_mut() {
        worker.start(ctx, &ctx.rpc_url)?;
    }
    eprintln!(
        "gpushare demo: the validator, {} providers and the dashboard keep running; post a job with\n  \
         gpushare post --rpc-url {} --keypair {} --mint {} \\\n    \
         --kernel gemm-i8 --m 64 --n 64 --k 64 --seed {} --shards 2 --replicas 3 --quorum 2 --price 1000000\n\
         and stop everything with Ctrl-C.",
        workers.len(),
        ctx.rpc_url,
        ctx.dir.join("client.json").display(),
        created.mint,
        "07".repeat(32),
    );
    gpushare_client::local::wait_for_signal().await;
    Ok(())
}

async fn drive(
    scenario: &Scenario,
    ctx: &Context,
    created: &CreatedNetwork,
    client_wallet: Arc<Keypair>,
    delegators: &[(Arc<Keypair>, DelegationSpec)],
    workers: &mut [Worker],
) -> Result<Report, AppError> {
    let client = ClientSession::open(&ctx.rpc_url, client_wallet, &created.mint, None).await?;
    let first_slot = client.chain.clock().await?.slot;
    for worker in workers.iter() {
        worker.register(ctx).await?;
    }
    let mut holders = Vec::new();
    for (wallet, spec) in delegators {
        let holder =
            ClientSession::open(&ctx.rpc_url, Arc::clone(wallet), &created.mint, None).await?;
        holder
            .delegate(&workers[spec.provider].wallet, spec.amount)
            .await?;
        holders.push((holder, *spec));
    }
    let worker_rpc = match scenario.chaos {
        Chaos::FlakyRpc => crate::chaos::flaky_proxy(&ctx.rpc_url).await?,
        _ => ctx.rpc_url.clone(),
    };
    for worker in workers.iter_mut() {
        worker.start(ctx, &worker_rpc)?;
    }
    let start_balance = client.chain.token_balance(&client.me.token).await?;
    let now = client.chain.clock().await?.unix_timestamp;
    let mut posts = Vec::new();
    let mut inputs = Vec::new();
    for (id, spec) in scenario.jobs.iter().enumerate() {
        let address = pda::job(&client.net.network, &client.me.authority, id as u64);
        let (input, private, data, kernel) = job_input(spec, ctx, id, &address, &client.keys)?;
        let args = CreateJobArgs {
            job_id: id as u64,
            kernel: KernelSpec::from_core(kernel),
            input,
            private,
            shards: spec.shards,
            replicas: spec.replicas,
            mode: spec.mode,
            price: spec.price,
            claim_timeout: 60,
            expires_at: now + scenario.timeout.as_secs() as i64 + 120,
            hardware: HardwareRequirement::default(),
        };
        // Each job is posted at its own time, whatever the posts before it still wait for.
        let post_at = scenario
            .post_interval
            .map_or(Duration::ZERO, |interval| interval.mul_f64(id as f64));
        let client = &client;
        posts.push(async move {
            tokio::time::sleep(post_at).await;
            client.post(args).await
        });
        inputs.push(data);
    }
    let posts = futures::future::try_join_all(posts);
    let (jobs, steady_worker_memory) = match scenario.chaos {
        Chaos::RandomRestarts { every } => {
            let lasting = scenario.post_interval.map_or(Duration::ZERO, |interval| {
                interval.mul_f64(scenario.jobs.len() as f64)
            });
            let restarts = restart_randomly(ctx, workers, &worker_rpc, every, lasting);
            let (jobs, memory) = tokio::join!(posts, restarts);
            (jobs?, memory?)
        }
        _ => (posts.await?, Vec::new()),
    };
    let rent_per_job = match jobs.first() {
        Some(job) => {
            client.chain.lamports(job).await?
                + client.chain.lamports(&pda::escrow_vault(job)).await?
        }
        None => 0,
    };
    if let Chaos::KillAfterCommit { provider } = scenario.chaos {
        kill_after_commit(
            &client.chain,
            ctx,
            &created.network,
            &mut workers[provider],
            &worker_rpc,
        )
        .await?;
    }
    let checked: Vec<(u64, u64)> = futures::stream::iter(jobs.iter().zip(&inputs))
        .map(|(job, data)| {
            let client = &client;
            async move {
                let progress = client.watch(job, scenario.timeout, |_| {}).await?;
                let verified = client.results(job, &[], data.as_ref(), None).await?.0;
                Ok::<_, AppError>((u64::from(progress.job.shards), verified as u64))
            }
        })
        .buffer_unordered(CLIENT_CONCURRENCY)
        .try_collect()
        .await?;
    let shards = checked.iter().map(|(shards, _)| shards).sum::<u64>();
    let verified = checked.iter().map(|(_, verified)| verified).sum::<u64>();
    wait_for_settlements(&client, &jobs).await?;
    let worker_peak_kib = workers.iter().filter_map(Worker::peak_kib).collect();
    let mut worker_rpc = Vec::new();
    for worker in workers.iter() {
        worker_rpc.extend(worker.rpc_requests().await?);
    }
    for worker in workers.iter_mut() {
        worker.stop().await?;
    }
    futures::stream::iter(&jobs)
        .map(|job| client.close(job))
        .buffer_unordered(CLIENT_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    for worker in workers.iter() {
        wait_for_release(&client, &pda::provider(&created.network, &worker.wallet)).await?;
        worker.run_once(ctx, &["claim-rewards"]).await?;
    }
    let mut delegator_reports = Vec::new();
    for (holder, spec) in &holders {
        let provider = &workers[spec.provider].wallet;
        let view = holder.delegation(provider).await?;
        if view.claimable > 0 {
            holder.claim_rewards(provider).await?;
        }
        delegator_reports.push(DelegatorReport {
            provider: spec.provider,
            delegated: spec.amount,
            worth: view.active,
            rewards: view.claimable,
            balance: holder.chain.token_balance(&holder.me.token).await?,
        });
    }
    let mut providers = Vec::new();
    for worker in workers.iter() {
        let key = pda::provider(&created.network, &worker.wallet);
        providers.push(ProviderReport {
            faulty: worker.spec.faulty,
            account: client.chain.existing(&key).await?,
            balance: client
                .chain
                .token_balance(&client.net.associated_token(&worker.wallet))
                .await?,
            stake_vault: client.chain.token_balance(&pda::stake_vault(&key)).await?,
            reward_vault: client.chain.token_balance(&pda::reward_vault(&key)).await?,
            log: worker.log.clone(),
        });
    }
    let treasury = client.chain.token_balance(&created.treasury).await?;
    let client_balance = client.chain.token_balance(&client.me.token).await?;
    let mut accounted = treasury
        + client_balance
        + client.chain.token_balance(&created.payer_token).await?
        + client
            .chain
            .token_balance(&pda::fee_vault(&created.network))
            .await?;
    for p in &providers {
        accounted += p.balance + p.stake_vault + p.reward_vault;
    }
    accounted += delegator_reports.iter().map(|d| d.balance).sum::<u64>();
    for job in &jobs {
        accounted += client.chain.token_balance(&pda::escrow_vault(job)).await?;
    }
    Ok(Report {
        dir: ctx.dir.clone(),
        rpc_url: ctx.rpc_url.clone(),
        jobs,
        shards,
        shards_verified: verified,
        providers,
        delegators: delegator_reports,
        treasury,
        client_spent: start_balance - client_balance,
        accounted,
        supply: client.chain.mint_supply(&created.mint).await?,
        minted: PAYER_SUPPLY,
        steady_worker_memory,
        load: LoadFigures::measure(
            &client.chain,
            first_slot,
            rent_per_job,
            worker_peak_kib,
            &worker_rpc,
        )
        .await?,
    })
}

/// Gives the providers time to settle their own slots (each is paid or slashed when it does; the
/// client's `close` would settle what is left the same way).
async fn wait_for_settlements(client: &ClientSession, jobs: &[Pubkey]) -> Result<(), AppError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for job in jobs {
        while client.progress(job).await?.job.assignments_live > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

/// Waits (a minute at most) until every payout to `provider`'s stakers is released to them.
async fn wait_for_release(client: &ClientSession, provider: &Pubkey) -> Result<(), AppError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        let account: Provider = client.chain.existing(provider).await?;
        let now = client.chain.clock().await?.unix_timestamp;
        if account.pool.vesting_at(now) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// The job's input, and for data jobs the bytes the client keeps to verify results.
/// Where the run's data inputs are written: the one directory its providers let `file://` inputs
/// come from (not the run's directory, which holds their keypairs).
fn inputs_dir(dir: &Path) -> PathBuf {
    dir.join("inputs")
}

/// Job `id`'s input (for the chain), its private terms where it is private, the evidence its
/// results are checked with, and its kernel; `address` is the job's, to which an embedding job's
/// outputs (and a private job's keys) are bound.
fn job_input(
    spec: &JobSpec,
    ctx: &Context,
    id: usize,
    address: &Pubkey,
    keys: &ClientKeys,
) -> Result<(JobInput, Option<PrivateTerms>, Option<Input>, Kernel), AppError> {
    let private = matches!(spec.input, InputSpec::Private(_)).then(|| keys.new_terms(address));
    let write = |bytes: &[u8]| -> Result<JobInput, AppError> {
        let published = match &private {
            Some(terms) => keys.seal_input(address, terms, bytes)?,
            None => bytes.to_vec(),
        };
        let path = inputs_dir(&ctx.dir).join(format!("job-{id}-input.bin"));
        std::fs::create_dir_all(inputs_dir(&ctx.dir))
            .and_then(|()| std::fs::write(&path, &published))
            .map_err(|e| AppError::io(path.display().to_string(), e))?;
        Ok(JobInput::Data {
            uri: format!("file://{}", path.display()),
            sha256: Sha256::digest(&published).into(),
        })
    };
    let (input, evidence, kernel) = plain_input(spec, ctx, address, write)?;
    Ok((input, private, evidence, kernel))
}

/// [`job_input`] for the input as computed, its data published through `write`.
fn plain_input(
    spec: &JobSpec,
    ctx: &Context,
    address: &Pubkey,
    write: impl Fn(&[u8]) -> Result<JobInput, AppError>,
) -> Result<(JobInput, Option<Input>, Kernel), AppError> {
    match spec.input.plain() {
        InputSpec::Seed(seed) => Ok((JobInput::Seed(*seed), None, spec.kernel)),
        InputSpec::RandomData => {
            let Kernel::GemmI8 { m, n, k } = spec.kernel else {
                return Err(AppError::InvalidArgument(
                    "random data inputs are gemm_i8 only".into(),
                ));
            };
            let mut bytes = vec![0u8; (m * k + k * n) as usize];
            rand::fill(&mut bytes[..]);
            Ok((write(&bytes)?, Some(Input::Data(bytes)), spec.kernel))
        }
        InputSpec::Texts { model_dir, texts } => {
            let weights = ctx.models.get(model_dir).ok_or_else(|| {
                AppError::InvalidArgument(format!("model {} not prepared", model_dir.display()))
            })?;
            let files = ModelFiles::load(weights, &model_dir.join("tokenizer.json"))?;
            let (batch, kernel) = files.batch(texts)?;
            check_spot_checkable(&files.model, &files.identity, &batch, spec.mode)?;
            let bytes = batch.to_bytes();
            let input = write(&bytes)?;
            let evidence = Input::Embedding {
                data: bytes,
                model: Arc::clone(&files.model),
                job: address.to_bytes(),
            };
            Ok((input, Some(evidence), kernel))
        }
        // `plain` unwraps every private input.
        InputSpec::Private(_) => Err(AppError::InvalidArgument("a private input inside".into())),
    }
}

/// Quantizes each model folder the scenario's jobs name into the run's directory, and lists the
/// weights files in the workers' configuration so that every provider serves them. Every other
/// setting is a flag; the file (empty without models) keeps a user's ~/.config/gpushare/worker.toml
/// out of the run.
fn quantize_models(scenario: &Scenario, dir: &Path) -> Result<HashMap<PathBuf, PathBuf>, AppError> {
    let mut models = HashMap::new();
    for spec in &scenario.jobs {
        if let InputSpec::Texts { model_dir, .. } = spec.input.plain()
            && !models.contains_key(model_dir)
        {
            let weights = quantized_weights(model_dir, dir)?;
            models.insert(model_dir.clone(), weights);
        }
    }
    let listed: Vec<String> = models
        .values()
        .map(|path| format!("{:?}", path.display().to_string()))
        .collect();
    let config = if listed.is_empty() {
        String::new()
    } else {
        format!("models = [{}]\n", listed.join(", "))
    };
    std::fs::write(dir.join("worker.toml"), config).map_err(|e| AppError::io("worker.toml", e))?;
    Ok(models)
}

/// Waits until `worker` has committed to a slot, kills it with SIGKILL, and starts it again.
/// Every `every` for `lasting`: samples the first worker's memory, then `kill -9`s a random other
/// worker and starts it again a second later. Returns the memory samples (seconds, KiB).
async fn restart_randomly(
    ctx: &Context,
    workers: &mut [Worker],
    rpc_url: &str,
    every: Duration,
    lasting: Duration,
) -> Result<Vec<(u64, u64)>, AppError> {
    let started = tokio::time::Instant::now();
    let mut memory = Vec::new();
    while started.elapsed() + every <= lasting && workers.len() > 1 {
        tokio::time::sleep(every).await;
        if let Some(kib) = workers[0].resident_kib() {
            memory.push((started.elapsed().as_secs(), kib));
        }
        let victim = rand::random_range(1..workers.len());
        tracing::info!(
            provider = victim + 1,
            "killing a worker with SIGKILL and restarting it"
        );
        workers[victim].kill_and_restart(ctx, rpc_url).await?;
    }
    Ok(memory)
}

async fn kill_after_commit(
    chain: &Chain,
    ctx: &Context,
    network: &Pubkey,
    worker: &mut Worker,
    rpc_url: &str,
) -> Result<(), AppError> {
    let provider = pda::provider(network, &worker.wallet);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let held = chain
            .program_accounts::<gpushare::state::Assignment>(&[(
                gpushare_client::filters::ASSIGNMENT_PROVIDER,
                provider.as_ref(),
            )])
            .await?;
        if held
            .iter()
            .any(|(_, a)| a.commitment.is_some() && a.root.is_none())
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(AppError::InvalidArgument(
                "the worker to kill never committed".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::info!("killing a worker with SIGKILL after its commitment and restarting it");
    worker.kill_and_restart(ctx, rpc_url).await
}
