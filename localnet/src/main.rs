//! `gpushare-localnet`: a real agave test validator with JSON-RPC and websockets on 127.0.0.1 that hosts
//! the gpushare program at its declared program id: the SBPF build `GPUSHARE_PROGRAM_SO` names, or the
//! host build as a builtin. Optionally creates the network's mint and initializes the network. Prints one
//! `READY` line (`build=sbf` or `build=builtin` among its fields), stops cleanly on SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use gpushare_localnet::{Localnet, network, write_keypair};
use solana_signer::Signer;

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

/// Why the localnet binary stopped.
#[derive(Debug, thiserror::Error)]
enum LocalnetError {
    #[error(transparent)]
    Start(#[from] gpushare_localnet::LocalnetError),
    #[error("payer keypair: {0}")]
    Keypair(std::io::Error),
    #[error("network initialization: {0}")]
    Network(#[from] gpushare_localnet::network::NetworkSetupError),
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
    let localnet = Localnet::start(options.rpc_port, options.ledger.as_deref())?;
    let (validator, payer) = (&localnet.validator, &localnet.payer);
    let keypair_path = options
        .payer_keypair
        .unwrap_or_else(|| localnet.ledger.join("payer.json"));
    write_keypair(payer, &keypair_path).map_err(LocalnetError::Keypair)?;

    let mut ready = format!(
        "READY rpc={} ws={} payer={} keypair={} program={} build={}",
        validator.rpc_url(),
        validator.rpc_pubsub_url(),
        payer.pubkey(),
        keypair_path.display(),
        gpushare::ID,
        match localnet.build {
            gpushare_native::ProgramBuild::Sbf(_) => "sbf",
            gpushare_native::ProgramBuild::Builtin => "builtin",
        },
    );
    if options.init_network {
        let created = network::initialize(&validator.get_rpc_client(), payer, options.token_2022)?;
        ready.push_str(&format!(
            " mint={} treasury={} network={} payer_token={} token_program={}",
            created.mint,
            created.treasury,
            created.network,
            created.payer_token,
            created.token_program
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
    drop(localnet);
    Ok(())
}
