//! `gpushare-localnet`: a real agave test validator with JSON-RPC and websockets on 127.0.0.1 that hosts
//! the gpushare program natively as a builtin at its declared program id. Optionally creates the
//! network's mint and initializes the network. Prints one `READY` line, stops cleanly on SIGINT/SIGTERM.
mod network;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use solana_keypair::Keypair;
use solana_program_runtime::program_cache_entry::ProgramCacheEntry;
use solana_signer::Signer;
use solana_test_validator::{TestValidator, TestValidatorGenesis};

/// Command-line options.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Options {
    /// JSON-RPC port; the websocket (pubsub) port is the next one.
    #[arg(long, env = "GPUSHARE_RPC_PORT", default_value_t = 8899)]
    rpc_port: u16,
    /// Ledger directory to keep; by default a temporary one, removed on exit.
    #[arg(long, env = "GPUSHARE_LEDGER")]
    ledger: Option<PathBuf>,
    /// Where to write the funded payer keypair (Solana CLI format); default `<ledger>/payer.json`.
    #[arg(long)]
    payer_keypair: Option<PathBuf>,
    /// Create a mint and a treasury and initialize the gpushare network on them.
    #[arg(long)]
    init_network: bool,
    /// With --init-network: make the mint a Token-2022 mint.
    #[arg(long, requires = "init_network")]
    token_2022: bool,
}

/// Why the localnet could not start.
#[derive(Debug, thiserror::Error)]
enum LocalnetError {
    #[error("ledger directory: {0}")]
    Ledger(#[from] std::io::Error),
    #[error("validator did not start: {0}")]
    Validator(String),
    #[error("the gpushare builtin could not be added to the bank")]
    Builtin,
    #[error("network initialization: {0}")]
    Network(#[from] network::NetworkSetupError),
    #[error("signal handler: {0}")]
    Signals(std::io::Error),
}

fn main() {
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY: first statement of main, before any other thread exists.
        unsafe { std::env::set_var("RUST_LOG", "warn") };
    }
    let options = Options::parse();
    if let Err(error) = run(options) {
        eprintln!("gpushare-localnet: {error}");
        std::process::exit(1);
    }
}

fn run(options: Options) -> Result<(), LocalnetError> {
    gpushare_native::install();
    let temporary = match options.ledger {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("gpushare-ledger-")
                .tempdir()?,
        ),
    };
    let ledger = match (&options.ledger, &temporary) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.path().to_path_buf(),
        (None, None) => unreachable!("a temporary ledger exists when none is given"),
    };
    std::fs::create_dir_all(&ledger)?;

    let mut genesis = TestValidatorGenesis::default();
    genesis
        .ledger_path(&ledger)
        .rpc_port(options.rpc_port)
        .rpc_config(solana_rpc::rpc::JsonRpcConfig {
            enable_rpc_transaction_history: true,
            enable_extended_tx_metadata_storage: true,
            ..solana_rpc::rpc::JsonRpcConfig::default_for_test()
        });
    let payer = Keypair::new();
    let validator = genesis
        .start_with_mint_address(payer.pubkey(), solana_net_utils::SocketAddrSpace::new(true))
        .map_err(|e| LocalnetError::Validator(e.to_string()))?;
    add_builtin(&validator)?;

    let keypair_path = options
        .payer_keypair
        .unwrap_or_else(|| ledger.join("payer.json"));
    write_keypair(&payer, &keypair_path)?;

    let mut ready = format!(
        "READY rpc={} ws={} payer={} keypair={} program={}",
        validator.rpc_url(),
        validator.rpc_pubsub_url(),
        payer.pubkey(),
        keypair_path.display(),
        gpushare::ID,
    );
    if options.init_network {
        let created = network::initialize(&validator.get_rpc_client(), &payer, options.token_2022)?;
        ready.push_str(&format!(
            " mint={} treasury={} network={} payer_token={}",
            created.mint, created.treasury, created.network, created.payer_token
        ));
    }
    println!("{ready}");

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(LocalnetError::Signals)?;
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("gpushare-localnet: stopping");
    drop(validator);
    drop(temporary);
    Ok(())
}

/// Registers the gpushare builtin on the working bank; banks created after it inherit it. The
/// bank may be frozen between reading it and adding, so retry on the next one.
fn add_builtin(validator: &TestValidator) -> Result<(), LocalnetError> {
    const NAME: &str = "gpushare";
    let bank_forks = validator.bank_forks();
    for _ in 0..200 {
        let bank = bank_forks
            .read()
            .map_err(|_| LocalnetError::Builtin)?
            .working_bank();
        let added = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let entry = ProgramCacheEntry::new_builtin(0, NAME.len(), gpushare_native::builtin());
            bank.add_builtin(gpushare::ID, NAME, entry)
        }));
        if added.is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(LocalnetError::Builtin)
}

/// Writes `keypair` as the Solana CLI does: a JSON array of its 64 bytes.
fn write_keypair(keypair: &Keypair, path: &std::path::Path) -> Result<(), LocalnetError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes: Vec<String> = keypair.to_bytes().iter().map(u8::to_string).collect();
    std::fs::write(path, format!("[{}]", bytes.join(",")))?;
    Ok(())
}
