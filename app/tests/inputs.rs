//! A provider's input policy end to end: three `gpushare-worker run` processes on the localnet, and
//! jobs whose data URIs point at a file outside the directory the providers allow, at loopback and
//! private addresses, at a server that redirects to loopback, at one that never answers, at one
//! that sends more than the limit, and at a FIFO. Each is skipped with its named reason and nothing
//! is claimed, while an honest job on an allowed file is computed, verified and paid.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use anchor_lang::AccountDeserialize;
use gpushare::state::Job;
use gpushare_app::demo::TOKEN;
use gpushare_client::pda;
use solana_signer::Signer;

mod support;
use support::{Fixture, Provider, succeed};

/// A second loopback address the providers allow (their "mirror"), so that redirects and slow
/// servers can be reached at all; 127.0.0.1 itself stays forbidden.
const MIRROR: &str = "127.0.0.2";
const MAX_INPUT_BYTES: u64 = 4_096;
/// Budgets for the two slots each provider holds: 4 MiB of memory and 512 KiB of disk each.
const MEMORY_BUDGET_MIB: &str = "8";
const DISK_BUDGET_MIB: &str = "1";

/// A server answering every request with `response` (None: reads the request, never answers).
fn serve(host: &str, response: Option<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind((host, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let response = response.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                match response {
                    Some(bytes) => {
                        let _ = stream.write_all(&bytes);
                    }
                    None => std::thread::sleep(Duration::from_secs(300)),
                }
            });
        }
    });
    port
}

fn ok_response(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn hostile_inputs_are_skipped_by_name_and_nothing_claimed_while_the_honest_job_is_paid() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fixture = Fixture::start(root);
    let net = &fixture.net;
    let allowed = root.join("inputs");
    std::fs::create_dir(&allowed).unwrap();
    let max_input_bytes = MAX_INPUT_BYTES.to_string();
    let policy = [
        "--input-dir",
        allowed.to_str().unwrap(),
        "--input-allow-host",
        MIRROR,
        "--input-read-seconds",
        "1",
        "--input-total-seconds",
        "3",
        "--max-input-bytes",
        &max_input_bytes,
        "--memory-budget-mib",
        MEMORY_BUDGET_MIB,
        "--disk-budget-mib",
        DISK_BUDGET_MIB,
        "--concurrent-jobs",
        "2",
    ];
    let providers: Vec<Provider> = (0..3)
        .map(|i| {
            let name = format!("provider-{i}");
            let (_, keypair) = fixture.wallet(&name, 100 * TOKEN);
            fixture.provider(&name, &keypair, "5000000", &policy)
        })
        .collect();

    // The operands (gemm_i8 8×8×8: A then B), honest in the allowed directory, and the same bytes
    // everywhere a hostile job points.
    let operands: Vec<u8> = (0..128u8).collect();
    let honest = allowed.join("operands.bin");
    std::fs::write(&honest, &operands).unwrap();
    let outside = root.join("provider-0.json");
    let fifo = allowed.join("fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let loopback = serve("127.0.0.1", Some(ok_response(&operands)));
    let redirect = serve(
        MIRROR,
        Some(format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{loopback}/x\r\ncontent-length: 0\r\n\r\n").into_bytes()),
    );
    let silent = serve(MIRROR, None);
    let mut flood = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
    flood.extend(std::iter::repeat_n(0u8, 64 * 1024));
    let oversized = serve(MIRROR, Some(flood));

    let (client, client_keypair) = fixture.wallet("client", 100 * TOKEN);
    let client = client.pubkey();
    // `gpushare COMMAND` as the client.
    let as_client = |command: &str| fixture.client(&client_keypair, command);
    // A gemm_i8 job of one shard, three replicas, quorum two (a job on data, whose ties cannot be
    // settled by recomputation, has more replicas than its quorum), of size (m, n, k) and the input.
    let post = |id: u64, [m, n, k]: [&str; 3], input: &[&str]| {
        let id_text = id.to_string();
        succeed(
            as_client("post")
                .args([
                    "--kernel", "gemm-i8", "--m", m, "--n", n, "--k", k, "--shards", "1",
                ])
                .args([
                    "--replicas",
                    "3",
                    "--quorum",
                    "2",
                    "--price",
                    "1000",
                    "--job-id",
                    &id_text,
                ])
                .args(input),
        );
        pda::job(&fixture.network(), &client, id)
    };
    let honest_path = honest.to_str().unwrap();
    let data = |id: u64, uri: &str| {
        post(
            id,
            ["8", "8", "8"],
            &["--data", honest_path, "--data-uri", uri],
        )
    };
    let hostile = [
        ("file_not_allowed", format!("file://{}", outside.display())),
        (
            "loopback_address",
            format!("http://127.0.0.1:{loopback}/operands"),
        ),
        ("private_address", "http://10.255.255.1/operands".to_owned()),
        (
            "loopback_address",
            format!("http://{MIRROR}:{redirect}/operands"),
        ),
        ("timeout", format!("http://{MIRROR}:{silent}/operands")),
        ("too_large", format!("http://{MIRROR}:{oversized}/operands")),
        ("not_a_regular_file", format!("file://{}", fifo.display())),
    ];
    let hostile_jobs: Vec<_> = hostile
        .iter()
        .enumerate()
        .map(|(i, (_, uri))| data(i as u64 + 1, uri))
        .collect();
    // Seeded jobs over the budgets: 12 MiB of output and tree for one slot's 4 MiB of memory; 1 MiB
    // of output for one slot's 512 KiB of disk (its 3 MiB of memory fit).
    let seed = "07".repeat(32);
    let over_memory = post(50, ["1024", "1024", "8"], &["--seed", &seed]);
    let over_disk = post(51, ["512", "512", "8"], &["--seed", &seed]);
    let honest_job = data(100, &format!("file://{}", honest.display()));

    succeed(as_client("watch").args([&honest_job.to_string(), "--timeout", "180"]));

    // Every provider refused every hostile input and both jobs over its budgets by their reasons
    // (each job once per provider).
    let expected: Vec<(String, usize)> = hostile
        .iter()
        .map(|(reason, _)| format!("input_refusals_total{{kind=\"{reason}\"}}"))
        .chain(
            ["memory", "disk"].map(|reason| format!("budget_refusals_total{{kind=\"{reason}\"}}")),
        )
        .map(|metric| {
            let count = hostile
                .iter()
                .filter(|(r, _)| metric.contains(&format!("\"{r}\"")))
                .count();
            (metric, count.max(1))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for provider in &providers {
        loop {
            if expected
                .iter()
                .all(|(metric, count)| provider.counted(metric) == *count)
            {
                break;
            }
            let text = provider.metrics();
            assert!(
                Instant::now() < deadline,
                "refusals so far:\n{}\nprovider log:\n{}",
                text.lines()
                    .filter(|l| l.contains("refusals_total"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                fixture.logs(&["provider-0"])
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let log = std::fs::File::open(root.join("provider-0.log")).unwrap();
    let refusals = BufReader::new(log)
        .lines()
        .map_while(Result::ok)
        .filter(|line| line.contains("input refused"))
        .count();
    assert_eq!(
        refusals,
        hostile.len(),
        "one named refusal in the log per hostile job"
    );
    let log = std::fs::read_to_string(root.join("provider-0.log")).unwrap();
    assert_eq!(
        log.matches("over budget").count(),
        2,
        "one named refusal per job over a budget"
    );

    // Nothing claimed on any hostile job; the honest one settled with every replica paid.
    let rpc = solana_rpc_client::rpc_client::RpcClient::new_with_commitment(
        net.rpc_url.clone(),
        solana_rpc_client::api::config::CommitmentConfig::confirmed(),
    );
    let job = |address| {
        Job::try_deserialize(&mut rpc.get_account(address).unwrap().data.as_slice()).unwrap()
    };
    for address in hostile_jobs.iter().chain([&over_memory, &over_disk]) {
        let job = job(address);
        assert_eq!(
            (job.shards_started, job.assignments_live, job.paid_out),
            (0, 0, 0),
            "hostile job {address}"
        );
    }
    // Each provider settles its own replica; the others may follow the shard's settlement a little later.
    let deadline = Instant::now() + Duration::from_secs(60);
    while job(&honest_job).paid_out < 3 * 1000 {
        assert!(Instant::now() < deadline, "every replica paid");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(job(&honest_job).shards_settled, 1);
}
