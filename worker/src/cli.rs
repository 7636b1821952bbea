//! The command line: the provider's chain commands and `run`, and the engine's `compute`, `selftest`,
//! `bench` and `ptx` (kernel sources through NVRTC). Settings come from [`ConfigArgs`].
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gpushare_engine::args::{KernelArgs, parse_seed};
use gpushare_engine::error::EngineError;
use gpushare_engine::select::{self, BackendOptions};
use gpushare_engine::shard::Input;
use gpushare_engine::{bench, gpu, selftest};

use crate::config::{Config, ConfigArgs};
use crate::error::WorkerError;
use crate::fault::Fault;
use crate::provider::{self, Session};

/// gpushare provider worker.
#[derive(Parser, Debug)]
#[command(name = "gpushare-worker", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Log lines as text, or as one JSON object each (for log pipelines).
    #[arg(
        long,
        value_enum,
        env = "GPUSHARE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Register this wallet as a provider, staking `--stake` tokens (base units).
    Register {
        #[arg(long)]
        stake: u64,
    },
    /// Add stake: it joins the active stake after the network's warm-up (`run` activates it).
    Stake {
        #[arg(long)]
        amount: u64,
    },
    /// Start unbonding `--amount` of stake (withdrawable after the network's unbonding period).
    Unstake {
        #[arg(long)]
        amount: u64,
    },
    /// Withdraw unbonded stake.
    Withdraw,
    /// The commission kept of each paid replica before the rest goes to everyone staked behind the
    /// provider.
    #[command(subcommand)]
    Commission(CommissionCommand),
    /// Claim what the provider's own stake has earned and settlements have not yet paid it.
    ClaimRewards,
    /// Run the on-chain benchmark that proves this machine's throughput: open one (or answer the
    /// open one), compute it on every device, commit, prove the samples, and record the verdict.
    #[command(alias = "prove-hardware")]
    Benchmark,
    /// Show stake, unbonding, counters and earnings.
    Status,
    /// Run the worker daemon until SIGINT/SIGTERM.
    Run {
        /// TEST ONLY: commit to wrong results (builds with the `fault-injection` feature).
        #[arg(long, value_enum, default_value = "none")]
        inject_fault: Fault,
    },
    /// Run one kernel shard locally: write its output bytes, print its Merkle root and layout.
    Compute(ComputeArgs),
    /// Check every kernel on every available backend against the reference; non-zero exit on failure.
    Selftest,
    /// Measure each kernel on each backend (and Freivalds' cost against GEMM's).
    Bench(bench::BenchArgs),
    /// Compile the CUDA kernel sources to PTX with NVRTC (no GPU needed), for ptxas checks.
    Ptx {
        /// NVRTC virtual architecture.
        #[arg(long, default_value = "compute_90")]
        arch: String,
        /// Where to write the PTX.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Commission commands.
#[derive(Subcommand, Debug)]
pub enum CommissionCommand {
    /// Set it, in basis points: a cut applies at once, a raise after the network's commission delay.
    Set {
        #[arg(long)]
        bps: u16,
    },
}

/// How log lines are written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ComputeArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// 32-byte seed, hex: the kernel seed itself, or with `--job` the seed the job was posted with.
    #[arg(long, conflicts_with = "input")]
    pub seed: Option<String>,
    /// The job's address: the kernel runs on the seed bound to it, as the job's providers do.
    #[arg(long, requires = "seed")]
    pub job: Option<String>,
    /// Input file (gemm_i8: A then B, i8, row-major).
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub shards: u32,
    #[arg(long, default_value_t = 0)]
    pub shard: u32,
    /// Where to write the shard's output bytes.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl ComputeArgs {
    /// The input these arguments name: a hex seed, a file, or (neither) an error.
    pub fn input(&self) -> Result<Input, WorkerError> {
        match (&self.seed, &self.input) {
            (Some(seed), _) => {
                let seed = parse_seed(seed)?;
                Ok(Input::Seed(match &self.job {
                    Some(job) => {
                        let job: anchor_lang::prelude::Pubkey = job
                            .parse()
                            .map_err(|e| WorkerError::InvalidArgument(format!("job: {e}")))?;
                        gpushare_core::kernels::job_seed(&seed, &job.to_bytes())
                    }
                    None => seed,
                }))
            }
            (None, Some(path)) => Ok(Input::Data(
                std::fs::read(path).map_err(|e| WorkerError::io(path, e))?,
            )),
            (None, None) => Err(WorkerError::InvalidArgument(
                "give --seed HEX or --input FILE".into(),
            )),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), WorkerError> {
    let config = || Config::resolve(&cli.config);
    match cli.command {
        Command::Register { stake } => {
            let config = config()?;
            let backend = select::select(&config.backend)?;
            on_chain(&config, |session| async move {
                session.register(stake, backend.as_ref()).await
            })
        }
        Command::Stake { amount } => on_chain(&config()?, |s| async move { s.stake(amount).await }),
        Command::Unstake { amount } => {
            on_chain(&config()?, |s| async move { s.unstake(amount).await })
        }
        Command::Withdraw => on_chain(&config()?, |s| async move { s.withdraw().await }),
        Command::Commission(CommissionCommand::Set { bps }) => {
            on_chain(&config()?, |s| async move { s.set_commission(bps).await })
        }
        Command::ClaimRewards => on_chain(&config()?, |s| async move { s.claim_rewards().await }),
        Command::Benchmark => {
            let config = config()?;
            let backend = select::select(&config.backend)?;
            on_chain(&config, |session| async move {
                session.benchmark(backend).await
            })
        }
        Command::Status => on_chain(&config()?, |s| async move { s.status().await }),
        Command::Run { inject_fault } => {
            let runtime = runtime()?;
            let result = runtime.block_on(provider::run(config()?, inject_fault));
            // A shard still computing is abandoned: the restarted worker computes it again.
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
            result
        }
        Command::Compute(args) => compute(&args, &config()?.backend),
        Command::Selftest => Ok(selftest::run()?),
        Command::Bench(args) => Ok(bench::run(&args)?),
        Command::Ptx { arch, out } => {
            let arch = gpu::ARCHES
                .iter()
                .find(|known| **known == arch)
                .ok_or_else(|| {
                    WorkerError::InvalidArgument(format!(
                        "unknown arch {arch}; one of {:?}",
                        gpu::ARCHES
                    ))
                })?;
            let ptx = gpu::compile_ptx(arch).map_err(EngineError::from)?;
            std::fs::write(&out, ptx.to_src()).map_err(|e| WorkerError::io(&out, e))?;
            println!("wrote {} ({arch})", out.display());
            Ok(())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, WorkerError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| WorkerError::io("tokio runtime", e))
}

/// Opens a session and runs one chain command in it.
fn on_chain<F, Fut>(config: &Config, command: F) -> Result<(), WorkerError>
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = Result<(), WorkerError>>,
{
    runtime()?.block_on(async { command(Session::open(config).await?).await })
}

fn compute(args: &ComputeArgs, options: &BackendOptions) -> Result<(), WorkerError> {
    let kernel = args.kernel.kernel();
    let input = args.input()?;
    let backend = select::select(options)?;
    let run = backend.shard(kernel, &input, args.shards, args.shard)?;
    let (output, phases) = (run.output, run.phases);
    if let Some(path) = &args.out {
        std::fs::write(path, &output.bytes).map_err(|e| WorkerError::io(path, e))?;
    }
    println!("kernel      {kernel:?}");
    println!("shard       {} of {}", args.shard, args.shards);
    println!("backend     {}", backend.name());
    println!("device      {}", run.device);
    println!("output      {} bytes", output.bytes.len());
    println!(
        "leaves      {} of {} bytes (RFC 6962 Merkle Tree Hash, SHA-256)",
        kernel.shard_leaves(args.shards, args.shard)?,
        kernel.leaf_bytes()
    );
    println!("root        {}", hex::encode(output.root));
    println!("time        {:.3} s", phases.total);
    println!(
        "phases      generate {:.3} s, copy in {:.3} s, kernel {:.3} s, verify {:.3} s, hash {:.3} s, copy out {:.3} s",
        phases.generate, phases.copy_in, phases.kernel, phases.verify, phases.hash, phases.copy_out
    );
    Ok(())
}
