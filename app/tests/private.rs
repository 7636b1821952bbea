//! Private jobs end to end (docs/privacy.md): three `gpushare-worker run` processes on the localnet
//! and the `gpushare` CLI. A private gemm_i8 job on data is posted with `--private`. A deserter claims
//! a slot first, takes the key its client delivers and never commits; it misses, and a provider that
//! had no slot claims the reopened one, gets a key of its own and finishes. The job is paid under
//! quorum and `gpushare results` opens and verifies the output. A provider that never claimed tries
//! to open what the chain and the input's URL show, and cannot; every provider's endpoint serves
//! the output sealed to the client alone. Then a job committing to another key, one whose
//! ciphertext was altered before it was posted, and one whose client delivers envelopes sealed for
//! other slots are each refused by name by every provider, given back free: nothing lost.
use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use gpushare::state::{
    Assignment, CreateJobArgs, HardwareRequirement, Job, JobInput, KernelSpec, NetworkParams,
    PrivateTerms, Provider, VerificationMode,
};
use gpushare_app::demo::TOKEN;
use gpushare_app::jobs::ClientSession;
use gpushare_app::private::ClientKeys;
use gpushare_client::chain::{Chain, FeePolicy, RetryPolicy};
use gpushare_client::ix::{self, Slot};
use gpushare_client::{filters, pda};
use gpushare_localnet::network::LOCAL_PARAMS;
use gpushare_privacy::{DataKey, KeyEnvelope, PrivacyError, Sealed, SealingKeypair, SlotBinding};
use sha2::{Digest, Sha256};
use solana_keypair::Keypair;
use solana_signer::Signer;

mod support;
use support::{Fixture, succeed};

const PRICE: u64 = 1_000;
const STAKE: &str = "5000000";
/// Seconds from a claim (or its key) to its commit deadline: short, so the deserter's miss comes soon.
const CLAIM_TIMEOUT: i64 = 20;

fn binding(slot: &Slot, provider: &Pubkey) -> SlotBinding {
    SlotBinding {
        job: slot.job.to_bytes(),
        shard_index: slot.shard_index,
        replica: slot.replica,
        provider: provider.to_bytes(),
    }
}

/// Polls `done` every half second for up to `seconds`, failing with `what` and the providers' logs.
fn wait_for(fixture: &Fixture, seconds: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting: {what}\n{}",
            fixture.logs(&["provider-0", "provider-1", "provider-2"])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_private_job_is_paid_under_quorum_and_read_only_by_its_client_and_holders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let fixture = Fixture::start(root);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let network = fixture.network();
    let (client, client_path) = fixture.wallet("client", 100 * TOKEN);
    let client = Arc::new(client);
    let chain = |wallet: &Arc<Keypair>| {
        Chain::new(
            &fixture.net.rpc_url,
            Arc::clone(wallet),
            RetryPolicy::default(),
            FeePolicy::default(),
        )
    };
    let reader = chain(&client);
    let account =
        |address: &Pubkey| -> Option<Job> { runtime.block_on(reader.account(address)).unwrap() };
    let provider_account = |wallet: &Pubkey| -> Provider {
        runtime
            .block_on(reader.existing(&pda::provider(&network, wallet)))
            .unwrap()
    };
    // Two registered providers that run no worker: one deserts a claim, one only looks.
    let registered = |name: &str| {
        let (key, path) = fixture.wallet(name, 100 * TOKEN);
        succeed(fixture.worker(&path).args(["register", "--stake", STAKE]));
        Arc::new(key)
    };
    let (deserter, bystander) = (registered("deserter"), registered("bystander"));

    // The client posts with --private: the CLI seals the operands where the URI points.
    let operands: Vec<u8> = (0..128u8).collect();
    let plain = root.join("operands.bin");
    std::fs::write(&plain, &operands).unwrap();
    // Where the providers allow file inputs from.
    let inputs = root.join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let sealed_path = inputs.join("operands.sealed");
    succeed(
        fixture
            .client(&client_path, "post")
            .args(["--kernel", "gemm-i8", "--m", "8", "--n", "8", "--k", "8"])
            .args(["--shards", "1", "--replicas", "3", "--quorum", "2"])
            .args(["--price", &PRICE.to_string(), "--job-id", "1"])
            .args(["--claim-timeout", &CLAIM_TIMEOUT.to_string()])
            .arg("--data")
            .arg(&plain)
            .args(["--data-uri", &format!("file://{}", sealed_path.display())])
            .arg("--private"),
    );
    let job = pda::job(&network, &client.pubkey(), 1);
    let published = std::fs::read(&sealed_path).unwrap();
    assert_eq!(
        published.len(),
        operands.len() + gpushare_privacy::SEALED_OVERHEAD
    );
    let posted = account(&job).unwrap();
    assert_eq!(
        posted.input,
        JobInput::Data {
            uri: format!("file://{}", sealed_path.display()),
            sha256: Sha256::digest(&published).into(),
        },
        "the hash on chain is the ciphertext's"
    );
    let terms = posted.private.unwrap();

    // The deserter claims replica 0 with a claim key before any worker runs.
    let deserted = Slot {
        job,
        shard_index: 0,
        replica: 0,
    };
    let deserter_key = SealingKeypair::generate();
    runtime
        .block_on(chain(&deserter).send(
            &[
                ix::claim(&deserter.pubkey(), &network, &deserted),
                ix::publish_claim_key(&deserter.pubkey(), &deserted, deserter_key.public_key()),
            ],
            &[],
        ))
        .unwrap();
    let (wallets, providers): (Vec<Pubkey>, Vec<_>) = (0..3)
        .map(|i| {
            let name = format!("provider-{i}");
            let (key, keypair) = fixture.wallet(&name, 100 * TOKEN);
            let allowed = ["--input-dir", inputs.to_str().unwrap()];
            (
                key.pubkey(),
                fixture.provider(&name, &keypair, STAKE, &allowed),
            )
        })
        .unzip();
    // The client follows its job, delivering each claim its key.
    let mut watch = fixture
        .client(&client_path, "watch")
        .args([&job.to_string(), "--timeout", "150"])
        .env("RUST_LOG", "error")
        .spawn()
        .unwrap();

    // The deserter's envelope lands: it opens for the deserter (it holds the slot) and for nobody
    // else; neither does the input.
    let envelope = {
        let mut envelope = None;
        wait_for(&fixture, 60, "the deserter's key", || {
            let assignment: Option<Assignment> = runtime
                .block_on(reader.account(&deserted.assignment()))
                .unwrap();
            envelope = assignment.and_then(|a| a.key_exchange.envelope);
            envelope.is_some()
        });
        KeyEnvelope(envelope.unwrap())
    };
    let deserter_provider = pda::provider(&network, &deserter.pubkey());
    let bystander_provider = pda::provider(&network, &bystander.pubkey());
    let key = envelope
        .open(&deserter_key, &binding(&deserted, &deserter_provider))
        .unwrap()
        .check_commitment(&terms.key_commitment)
        .unwrap();
    assert_eq!(key.open(Sealed::Input, &published).unwrap(), operands);
    let guess = SealingKeypair::generate();
    for as_whom in [&bystander_provider, &deserter_provider] {
        assert_eq!(
            envelope.open(&guess, &binding(&deserted, as_whom)).err(),
            Some(PrivacyError::EnvelopeNotForThisSlot),
            "the bystander opens no envelope"
        );
    }
    assert_eq!(
        DataKey::generate().open(Sealed::Input, &published).err(),
        Some(PrivacyError::DataTampered),
        "nor the input"
    );

    // The deserter misses; a worker takes the slot over with a key of its own; all three are paid.
    let watched = watch.wait().unwrap().success();
    assert!(
        watched,
        "gpushare watch\n{}",
        fixture.logs(&["provider-0", "provider-1", "provider-2"])
    );
    wait_for(&fixture, 90, "every replica paid", || {
        account(&job).is_some_and(|job| job.paid_out == 3 * PRICE)
    });
    let deserter_state = provider_account(&deserter.pubkey());
    assert_eq!(
        (deserter_state.missed, deserter_state.slashed),
        (
            1,
            NetworkParams::share(LOCAL_PARAMS.stake_per_claim, LOCAL_PARAMS.miss_slash_bps)
        )
    );
    let out = root.join("results");
    let endpoints = providers.iter().flat_map(|provider| {
        [
            "--from".into(),
            format!("http://127.0.0.1:{}", provider.metrics_port),
        ]
    });
    let verified = succeed(
        fixture
            .client(&client_path, "results")
            .arg(job.to_string())
            .args(endpoints)
            .arg("--data")
            .arg(&plain)
            .arg("--out")
            .arg(&out),
    );
    assert!(String::from_utf8_lossy(&verified.stdout).starts_with("1 shard(s) verified"));
    let output = std::fs::read(out.join("shard-0.bin")).unwrap();

    // Every endpoint serves the output sealed to the client: nobody else opens it.
    let client_keys = ClientKeys::of_wallet(&client);
    for provider in &providers {
        let (status, served) = provider.get(&format!("/results/{job}/0"));
        assert_eq!(status, 200);
        assert_ne!(served, output);
        assert_eq!(client_keys.open_output(&job, 0, &served).unwrap(), output);
        let stranger = gpushare_privacy::open_output(&served, &guess, &job.to_bytes(), 0);
        assert_eq!(stranger.err(), Some(PrivacyError::OutputNotForThisClient));
    }

    // Three more jobs whose keys do not work, each refused by name by every provider, free.
    let session = runtime
        .block_on(ClientSession::open(
            &fixture.net.rpc_url,
            Arc::clone(&client),
            &fixture.net.created.mint,
            None,
        ))
        .unwrap();
    let now = runtime.block_on(reader.clock()).unwrap().unix_timestamp;
    let post_private = |id: u64, input: &[u8], terms: PrivateTerms| {
        let path = inputs.join(format!("job-{id}.sealed"));
        std::fs::write(&path, input).unwrap();
        runtime
            .block_on(session.post(CreateJobArgs {
                job_id: id,
                kernel: KernelSpec::GemmI8 { m: 8, n: 8, k: 8 },
                input: JobInput::Data {
                    uri: format!("file://{}", path.display()),
                    sha256: Sha256::digest(input).into(),
                },
                private: Some(terms),
                shards: 1,
                replicas: 3,
                mode: VerificationMode::Quorum { q: 2 },
                price: PRICE,
                claim_timeout: CLAIM_TIMEOUT,
                expires_at: now + 3_600,
                hardware: HardwareRequirement::default(),
            }))
            .unwrap()
    };
    let address = |id| pda::job(&network, &client.pubkey(), id);
    let terms = |id| session.keys.new_terms(&address(id));
    let sealed_for = |id, terms: &PrivateTerms| {
        session
            .keys
            .seal_input(&address(id), terms, &operands)
            .unwrap()
    };
    // Committing to a key the client never delivers.
    let honest = terms(2);
    let wrong_key = post_private(
        2,
        &sealed_for(2, &honest),
        PrivateTerms {
            key_commitment: DataKey::generate().commitment(),
            ..honest
        },
    );
    // Ciphertext altered before it was hashed and posted.
    let honest = terms(3);
    let mut altered = sealed_for(3, &honest);
    altered[40] ^= 1;
    let tampered = post_private(3, &altered, honest);
    // Keys delivered sealed for the next slot's holder, as a replayed envelope would be.
    let honest = terms(4);
    let replayed = post_private(4, &sealed_for(4, &honest), honest);
    let replay_keys = |job: &Pubkey| {
        let claims: Vec<(Pubkey, Assignment)> = runtime
            .block_on(
                reader.program_accounts::<Assignment>(&[(filters::ASSIGNMENT_JOB, job.as_ref())]),
            )
            .unwrap();
        for (_, assignment) in claims {
            let exchange = assignment.key_exchange;
            let Some(claim_key) = exchange.claim_key.filter(|_| exchange.envelope.is_none()) else {
                continue;
            };
            let slot = Slot::of(&assignment);
            let other = Slot {
                replica: (assignment.replica + 1) % 3,
                ..slot
            };
            let data_key = session.keys.data_key(job, &honest.key_salt);
            let envelope = KeyEnvelope::seal(
                &data_key,
                &claim_key,
                &binding(&other, &assignment.provider),
            )
            .unwrap();
            let delivery = ix::deliver_key(&client.pubkey(), &slot, claim_key, envelope.0);
            let _ = runtime.block_on(reader.submit(delivery));
        }
    };
    let refusals = [
        "wrong_data_key",
        "data_tampered",
        "envelope_not_for_this_slot",
    ];
    wait_for(
        &fixture,
        120,
        "every provider refusing every bad key",
        || {
            let now = runtime.block_on(reader.clock()).unwrap().unix_timestamp;
            for bad in [&wrong_key, &tampered] {
                let job_account = account(bad).unwrap();
                runtime
                    .block_on(session.deliver_keys(bad, &job_account, now))
                    .unwrap();
            }
            replay_keys(&replayed);
            providers.iter().all(|provider| {
                refusals.iter().all(|reason| {
                    provider.counted(&format!("key_refusals_total{{kind=\"{reason}\"}}")) == 1
                })
            })
        },
    );
    wait_for(&fixture, 30, "every refused claim given back", || {
        [&wrong_key, &tampered, &replayed]
            .iter()
            .all(|bad| account(bad).unwrap().assignments_live == 0)
    });
    for bad in [&wrong_key, &tampered, &replayed] {
        let state = account(bad).unwrap();
        assert_eq!((state.paid_out, state.slashes_held), (0, 0), "job {bad}");
    }
    for (i, wallet) in wallets.iter().enumerate() {
        let log = std::fs::read_to_string(root.join(format!("provider-{i}.log"))).unwrap();
        assert_eq!(
            log.matches("refused the delivered key").count(),
            3,
            "provider {i}: one named refusal per bad job"
        );
        let state = provider_account(wallet);
        assert_eq!(
            (state.slashed, state.missed, state.failed, state.completed),
            (0, 0, 0, 1),
            "provider {i}: paid once, nothing lost"
        );
    }
}
