//! The command lines against a real local validator: the provider's stake commands (`gpushare-worker`)
//! and the client's job commands (`gpushare`), with bad input refused by name and nothing changed.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use anchor_lang::prelude::Pubkey;
use gpushare_app::demo::{LocalNetwork, TOKEN};
use gpushare_app::process::sibling_binary;
use gpushare_client::pda;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// One validator at a time: the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

struct Fixture {
    dir: tempfile::TempDir,
    net: LocalNetwork,
    keypair: PathBuf,
    wallet: Pubkey,
    token: Pubkey,
}

fn fixture(tokens: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("worker.toml"), "").unwrap();
    let net = LocalNetwork::start(dir.path()).unwrap();
    let wallet = Keypair::new();
    let token = net
        .fund(
            &wallet.pubkey(),
            gpushare_app::demo::WALLET_LAMPORTS,
            tokens,
        )
        .unwrap();
    let keypair = dir.path().join("wallet.json");
    gpushare_localnet::write_keypair(&wallet, &keypair).unwrap();
    Fixture {
        net,
        keypair,
        wallet: wallet.pubkey(),
        token,
        dir,
    }
}

impl Fixture {
    fn run(&self, binary: &Path, args: &[&str]) -> Output {
        Command::new(binary)
            .args(args)
            .args([
                "--rpc-url",
                &self.net.rpc_url,
                "--mint",
                &self.net.created.mint.to_string(),
            ])
            .arg("--keypair")
            .arg(&self.keypair)
            .env("GPUSHARE_CONFIG", self.dir.path().join("worker.toml"))
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    }

    fn worker(&self, args: &[&str]) -> Output {
        self.run(
            &sibling_binary("gpushare-worker", "GPUSHARE_WORKER_BIN").unwrap(),
            args,
        )
    }

    fn balance(&self) -> u64 {
        let rpc = solana_rpc_client::rpc_client::RpcClient::new_with_commitment(
            self.net.rpc_url.clone(),
            solana_rpc_client::api::config::CommitmentConfig::confirmed(),
        );
        let amount = rpc.get_token_account_balance(&self.token).unwrap().amount;
        amount.parse().unwrap()
    }
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &Output, name: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains(name),
        "expected {name}: {stderr}"
    );
}

fn status_line(status: &str, field: &str) -> String {
    status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .to_owned()
}

#[test]
fn provider_commands_manage_stake_and_refuse_bad_requests_by_name() {
    let _one_at_a_time = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let f = fixture(10 * TOKEN);
    refused(&f.worker(&["status"]), "not registered");
    refused(
        &f.worker(&["--concurrent-jobs", "0", "status"]),
        "concurrent_jobs must be at least 1",
    );

    ok(&f.worker(&["register", "--stake", "5000000"]));
    let status = ok(&f.worker(&["status"]));
    assert_eq!(
        status_line(&status, "stake"),
        "stake       5000000 (5000000 own, 0 delegated)"
    );
    assert!(status.contains(&f.wallet.to_string()));
    assert_eq!(
        status_line(&status, "proven"),
        "proven      nothing yet (gpushare-worker benchmark)"
    );
    // The throughput `register` measured, proven on chain end to end on the CPU backend.
    let proven = ok(&f.worker(&["benchmark"]));
    assert!(proven.contains("proven "), "{proven}");
    let status = ok(&f.worker(&["status"]));
    assert!(
        status_line(&status, "proven").contains("GOPS on 1 device(s) at slot"),
        "{status}"
    );
    let listing = ok(&f.run(Path::new(env!("CARGO_BIN_EXE_gpushare")), &["providers"]));
    let row = status_line(&listing, &f.wallet.to_string());
    assert!(
        !row.contains(" - "),
        "the proven figure is listed: {listing}"
    );
    ok(&f.worker(&["stake", "--amount", "1000000"]));
    assert_eq!(f.balance(), 4 * TOKEN);

    refused(
        &f.worker(&["unstake", "--amount", "99000000"]),
        "InsufficientStake",
    );
    refused(&f.worker(&["withdraw"]), "NothingUnbonding");
    ok(&f.worker(&["unstake", "--amount", "2000000"]));
    let status = ok(&f.worker(&["status"]));
    assert_eq!(
        status_line(&status, "stake"),
        "stake       4000000 (4000000 own, 0 delegated)"
    );
    assert!(status_line(&status, "unbonding").starts_with("unbonding   2000000 own"));
    refused(&f.worker(&["withdraw"]), "UnbondingNotOver");
    assert_eq!(f.balance(), 4 * TOKEN, "refusals moved nothing");

    refused(
        &f.worker(&["commission", "set", "--bps", "5001"]),
        "CommissionTooHigh",
    );
    ok(&f.worker(&["commission", "set", "--bps", "500"]));
    let status = ok(&f.worker(&["status"]));
    assert!(
        status_line(&status, "commission").starts_with("commission  0 bps (500 bps from unix time"),
        "a raise waits out the network's commission delay: {status}"
    );
    assert_eq!(status_line(&status, "delegations"), "delegations 0");

    // The local network's unbonding period is 10 seconds of chain time.
    std::thread::sleep(std::time::Duration::from_secs(12));
    ok(&f.worker(&["withdraw"]));
    assert_eq!(f.balance(), 6 * TOKEN);
}

#[test]
fn the_client_cli_posts_watches_cancels_and_closes_a_job() {
    let _one_at_a_time = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let f = fixture(100 * TOKEN);
    let client = |args: &[&str]| f.run(Path::new(env!("CARGO_BIN_EXE_gpushare")), args);
    let seed = "07".repeat(32);
    let post = |extra: &[&str]| {
        let mut args = vec![
            "post",
            "--kernel",
            "gemm-i8",
            "--m",
            "8",
            "--n",
            "8",
            "--k",
            "8",
            "--shards",
            "2",
            "--replicas",
            "2",
        ];
        args.extend_from_slice(extra);
        client(&args)
    };
    let before = f.balance();

    refused(
        &post(&["--seed", &seed, "--quorum", "1", "--price", "1000"]),
        "InvalidQuorum",
    );
    refused(&post(&["--price", "1000", "--quorum", "2"]), "give --seed");
    refused(
        &post(&["--seed", &seed, "--price", "1000"]),
        "give --quorum",
    );
    refused(
        &post(&["--seed", &seed, "--spot-check", "65", "--price", "1000"]),
        "InvalidSampleCount",
    );
    assert_eq!(f.balance(), before, "refusals moved nothing");

    let stdout = ok(&post(&[
        "--seed", &seed, "--quorum", "2", "--price", "1000", "--job-id", "7",
    ]));
    let job = pda::job(&f.net.created.network, &f.wallet, 7);
    assert_eq!(stdout.trim(), job.to_string());
    let fee = 1000 * 250 / 10_000;
    assert_eq!(
        f.balance(),
        before - 2 * 2 * (1000 + fee),
        "escrow: shards x replicas x (price + fee)"
    );

    ok(&client(&["cancel", &job.to_string()]));
    let watched = ok(&client(&["watch", &job.to_string(), "--timeout", "30"]));
    assert!(watched.contains("0 started, 0 settled of 2"), "{watched}");
    ok(&client(&["close", &job.to_string()]));
    assert_eq!(f.balance(), before, "everything refunded");
    refused(&client(&["close", &job.to_string()]), "does not exist");
}
