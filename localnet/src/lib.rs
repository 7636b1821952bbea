//! A real agave test validator on 127.0.0.1 hosting the gpushare program at its declared program id — the
//! SBPF bytecode deployed through the upgradeable loader when `GPUSHARE_PROGRAM_SO` names it, else the
//! host build as a builtin — with JSON-RPC, websockets and transaction history — for the `gpushare-localnet`
//! binary, the demo and the end-to-end tests. [`network`] creates a token and a gpushare network on it.
pub mod network;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::Duration;

use solana_keypair::Keypair;
use solana_program_runtime::program_cache_entry::ProgramCacheEntry;
use solana_signer::Signer;
use solana_test_validator::{TestValidator, TestValidatorGenesis, UpgradeableProgramInfo};

/// Why the localnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    #[error("ledger directory: {0}")]
    Ledger(#[from] std::io::Error),
    #[error("validator did not start: {0}")]
    Validator(String),
    #[error("the gpushare builtin could not be added to the bank")]
    Builtin,
}

/// A running validator with the gpushare program; stops when dropped (its temporary ledger too).
pub struct Localnet {
    pub validator: TestValidator,
    /// Holds the genesis supply of SOL.
    pub payer: Keypair,
    pub ledger: PathBuf,
    /// The program build it hosts.
    pub build: gpushare_native::ProgramBuild,
    _temporary: Option<tempfile::TempDir>,
}

impl Localnet {
    /// Starts a validator with JSON-RPC on `rpc_port` (0: any free port; pubsub on the next one) and
    /// its ledger in `ledger`, or a temporary directory removed on drop.
    pub fn start(rpc_port: u16, ledger: Option<&Path>) -> Result<Self, LocalnetError> {
        let temporary = match ledger {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("gpushare-ledger-")
                    .tempdir()?,
            ),
        };
        let ledger = match (ledger, &temporary) {
            (Some(path), _) => path.to_path_buf(),
            (None, Some(dir)) => dir.path().to_path_buf(),
            (None, None) => unreachable!("a temporary ledger exists when none is given"),
        };
        std::fs::create_dir_all(&ledger)?;
        let rpc_port = match rpc_port {
            0 => free_port_pair()?,
            port => port,
        };

        let mut genesis = TestValidatorGenesis::default();
        genesis.ledger_path(&ledger).rpc_port(rpc_port).rpc_config(
            solana_rpc::rpc::JsonRpcConfig {
                enable_rpc_transaction_history: true,
                enable_extended_tx_metadata_storage: true,
                ..solana_rpc::rpc::JsonRpcConfig::default_for_test()
            },
        );
        let payer = Keypair::new();
        let build = gpushare_native::ProgramBuild::from_env();
        if let gpushare_native::ProgramBuild::Sbf(program_path) = &build {
            genesis.add_upgradeable_programs_with_path(&[UpgradeableProgramInfo {
                program_id: gpushare::ID,
                loader: solana_sdk_ids::bpf_loader_upgradeable::id(),
                upgrade_authority: payer.pubkey(),
                program_path: program_path.clone(),
            }]);
        } else {
            gpushare_native::install();
        }
        let validator = genesis
            .start_with_mint_address(payer.pubkey(), solana_net_utils::SocketAddrSpace::new(true))
            .map_err(|e| LocalnetError::Validator(e.to_string()))?;
        if build == gpushare_native::ProgramBuild::Builtin {
            add_builtin(&validator)?;
        }
        Ok(Self {
            validator,
            payer,
            ledger,
            build,
            _temporary: temporary,
        })
    }
}

/// A free port whose successor is free too (JSON-RPC and pubsub).
fn free_port_pair() -> Result<u16, std::io::Error> {
    for _ in 0..100 {
        let rpc = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = rpc.local_addr()?.port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free pair of ports",
    ))
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
pub fn write_keypair(keypair: &Keypair, path: &Path) -> Result<(), std::io::Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes: Vec<String> = keypair.to_bytes().iter().map(u8::to_string).collect();
    std::fs::write(path, format!("[{}]", bytes.join(",")))
}
