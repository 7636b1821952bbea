//! End to end against a real local validator: worker processes, the real SPL Token program, the client
//! library. Each test runs a whole scenario through `gpushare_app::demo` and checks balances exactly.
use std::sync::Mutex;
use std::time::Duration;

use gpushare::state::{NetworkParams, VerificationMode};
use gpushare_app::demo::{
    self, Chaos, Cheat, DelegationSpec, InputSpec, JobSpec, ProviderSpec, Report, Scenario, TOKEN,
};
use gpushare_core::kernels::Kernel;

/// One validator at a time: the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

const FEE_BPS: u64 = 250;

fn fee(price: u64) -> u64 {
    price * FEE_BPS / 10_000
}

fn quorum_job(seed: u8, price: u64) -> JobSpec {
    JobSpec {
        kernel: Kernel::GemmI8 {
            m: 64,
            n: 96,
            k: 80,
        },
        input: InputSpec::Seed([seed; 32]),
        shards: 2,
        replicas: 2,
        mode: VerificationMode::Quorum { q: 2 },
        price,
    }
}

fn spot_check_job(seed: u8, price: u64) -> JobSpec {
    JobSpec {
        kernel: Kernel::Sha256Chain {
            steps: 1 << 12,
            leaf_every: 1 << 6,
        },
        input: InputSpec::Seed([seed; 32]),
        shards: 1,
        replicas: 1,
        mode: VerificationMode::SpotCheck { samples: 6 },
        price,
    }
}

fn run(scenario: Scenario) -> Report {
    let _one_at_a_time = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let report = demo::run(&scenario).unwrap_or_else(|error| panic!("scenario failed: {error}"));
    assert_eq!(report.accounted, report.supply, "token conservation");
    report
}

/// Every slot of every job paid: each provider earned its slots' prices, kept its stake, and the
/// client paid exactly prices plus fees.
fn assert_all_paid(scenario: &Scenario, report: &Report) {
    let slots: u64 = scenario
        .jobs
        .iter()
        .map(|j| u64::from(j.shards) * u64::from(j.replicas))
        .sum();
    let paid: u64 = scenario
        .jobs
        .iter()
        .map(|j| u64::from(j.shards) * u64::from(j.replicas) * j.price)
        .sum();
    let fees: u64 = scenario
        .jobs
        .iter()
        .map(|j| u64::from(j.shards) * u64::from(j.replicas) * fee(j.price))
        .sum();
    let shards: u64 = scenario.jobs.iter().map(|j| u64::from(j.shards)).sum();
    assert_eq!(
        report.shards_verified, shards,
        "every shard verified by the client"
    );
    assert_eq!(
        report
            .providers
            .iter()
            .map(|p| p.account.completed)
            .sum::<u64>(),
        slots
    );
    assert_eq!(
        report
            .providers
            .iter()
            .map(|p| p.account.earned)
            .sum::<u64>(),
        paid
    );
    for (spec, provider) in scenario.providers.iter().zip(&report.providers) {
        assert_eq!(
            (
                provider.account.failed,
                provider.account.missed,
                provider.account.slashed
            ),
            (0, 0, 0)
        );
        assert_eq!(provider.stake_vault, spec.stake, "stake untouched");
        assert_eq!(
            provider.balance,
            10 * TOKEN + provider.account.earned,
            "wallet = float + earnings"
        );
    }
    assert_eq!(report.treasury, fees, "treasury = fees of paid slots");
    assert_eq!(
        report.client_spent,
        paid + fees,
        "client = pay + fees, the rest refunded"
    );
}

#[test]
fn several_workers_settle_many_jobs_with_exact_balances() {
    let mut jobs: Vec<JobSpec> = (0..4)
        .map(|i| quorum_job(10 + i, 3_000 + u64::from(i)))
        .collect();
    jobs.extend((0..4).map(|i| spot_check_job(20 + i, 2_000 + u64::from(i))));
    // A job on data settles ties by no recomputation, so it has more replicas than its quorum.
    jobs.push(JobSpec {
        input: InputSpec::RandomData,
        replicas: 3,
        ..quorum_job(0, 4_000)
    });
    let scenario = Scenario {
        delegations: Vec::new(),
        providers: vec![ProviderSpec::honest(); 3],
        jobs,
        chaos: Chaos::None,
        timeout: Duration::from_secs(240),
        post_interval: None,
    };
    let report = run(scenario.clone());
    assert_all_paid(&scenario, &report);
    let _ = std::fs::remove_dir_all(&report.dir);
}

#[test]
fn a_worker_killed_after_committing_finishes_its_job_when_restarted() {
    let scenario = Scenario {
        delegations: Vec::new(),
        providers: vec![ProviderSpec::honest()],
        jobs: vec![spot_check_job(30, 2_500)],
        chaos: Chaos::KillAfterCommit { provider: 0 },
        timeout: Duration::from_secs(180),
        post_interval: None,
    };
    let report = run(scenario.clone());
    assert_all_paid(&scenario, &report);
    let log = std::fs::read_to_string(&report.providers[0].log).unwrap();
    assert_eq!(
        log.matches("worker running").count(),
        2,
        "started twice:\n{log}"
    );
    assert_eq!(
        log.matches("computing").count(),
        1,
        "the restart reused the saved output:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&report.dir);
}

#[test]
fn workers_behind_a_flaky_rpc_lose_no_job() {
    let mut jobs: Vec<JobSpec> = (0..2).map(|i| quorum_job(40 + i, 3_000)).collect();
    jobs.extend((0..2).map(|i| spot_check_job(50 + i, 2_000)));
    let scenario = Scenario {
        delegations: Vec::new(),
        providers: vec![ProviderSpec::honest(); 2],
        jobs,
        chaos: Chaos::FlakyRpc,
        timeout: Duration::from_secs(300),
        post_interval: None,
    };
    let report = run(scenario.clone());
    let faults = gpushare_app::chaos::faults_injected();
    assert!(faults >= 5, "the proxy failed only {faults} connections");
    assert_all_paid(&scenario, &report);
    let _ = std::fs::remove_dir_all(&report.dir);
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_dishonest_worker_is_slashed_while_honest_ones_are_paid() {
    const QUORUM_PRICE: u64 = 5_000;
    const SPOT_PRICE: u64 = 2_000;
    // The honest providers skip the cheaper spot-check work, so the dishonest one takes it alone.
    let honest = ProviderSpec {
        min_price: QUORUM_PRICE,
        ..ProviderSpec::honest()
    };
    let dishonest = ProviderSpec {
        faulty: Some(Cheat::WrongOutput),
        ..ProviderSpec::honest()
    };
    let quorum = JobSpec {
        replicas: 3,
        ..quorum_job(60, QUORUM_PRICE)
    };
    // A holder backs an honest provider with as much as its own stake, another backs the cheat.
    let backing = |provider| DelegationSpec {
        provider,
        amount: 50 * TOKEN,
    };
    let scenario = Scenario {
        delegations: vec![backing(0), backing(2)],
        providers: vec![honest.clone(), honest, dishonest],
        jobs: vec![quorum, spot_check_job(61, SPOT_PRICE)],
        chaos: Chaos::None,
        timeout: Duration::from_secs(240),
        post_interval: None,
    };
    let report = run(scenario.clone());
    let cheat = &report.providers[2].account;
    assert_eq!((cheat.completed, cheat.earned), (0, 0), "never paid");
    assert_eq!(
        cheat.failed, 3,
        "two quorum shards and one spot-check shard, each a fraud"
    );
    // 50 % of one claim's stake per fraud, taken from all the stake behind it, the delegation's
    // half too.
    let params = gpushare_localnet::network::LOCAL_PARAMS;
    let frauds = 3 * NetworkParams::share(params.stake_per_claim, params.fraud_slash_bps);
    assert_eq!(cheat.slashed, frauds);
    assert_eq!(report.providers[2].stake_vault, 100 * TOKEN - frauds);
    let (backer, cheat_backer) = (&report.delegators[0], &report.delegators[1]);
    assert!(
        cheat_backer.worth.abs_diff(50 * TOKEN - frauds / 2) <= 1,
        "lost its share with the cheat"
    );
    assert_eq!(cheat_backer.rewards, 0);
    // Commission 0: the honest provider's pay is split by stake, half to its backer.
    assert_eq!(backer.worth, 50 * TOKEN);
    assert!(
        backer.rewards.abs_diff(QUORUM_PRICE) <= 2,
        "half of two payments"
    );
    for honest in &report.providers[..2] {
        assert_eq!(
            (honest.account.completed, honest.account.earned),
            (2, 2 * QUORUM_PRICE)
        );
        assert_eq!((honest.account.failed, honest.account.slashed), (0, 0));
    }
    assert_eq!(
        report.shards_verified, 2,
        "the quorum shards; the spot-check shard has no verified result"
    );
    assert_eq!(
        report.treasury,
        4 * fee(QUORUM_PRICE),
        "fees only: slashes are burned"
    );
    assert_eq!(report.minted - report.supply, cheat.slashed, "burned");
    assert_eq!(
        report.client_spent,
        4 * (QUORUM_PRICE + fee(QUORUM_PRICE)),
        "the failed shard is refunded"
    );
    let _ = std::fs::remove_dir_all(&report.dir);
}

/// An embedding job on the localnet: two honest providers agree on each shard's root (the
/// embeddings and each sequence's trace), the client recomputes sampled sequences and accepts them,
/// and a third provider that skips the model's last layer disagrees, is slashed for fraud on both
/// shards and paid nothing, while the client pays only for the honest replicas.
#[cfg(feature = "fault-injection")]
#[test]
fn an_embedding_job_is_paid_by_quorum_and_a_provider_skipping_a_layer_is_slashed() {
    const PRICE: u64 = 5_000;
    let model_dir = std::path::PathBuf::from(
        std::env::var_os("GPUSHARE_MODEL_DIR")
            .expect("GPUSHARE_MODEL_DIR: the folder scripts/fetch-model prints"),
    );
    // The model's own card: real text nobody here wrote.
    let texts = gpushare_app::embeddings::model_card_texts(&model_dir, 10).unwrap();
    assert_eq!(texts.len(), 10);
    let skipper = ProviderSpec {
        faulty: Some(Cheat::SkipLayer),
        ..ProviderSpec::honest()
    };
    let job = JobSpec {
        // Made from the texts when the job is posted.
        kernel: Kernel::MonteCarlo {
            blocks: 1,
            samples_per_block: 1,
        },
        input: InputSpec::Texts { model_dir, texts },
        shards: 2,
        replicas: 3,
        mode: VerificationMode::Quorum { q: 2 },
        price: PRICE,
    };
    let scenario = Scenario {
        delegations: Vec::new(),
        providers: vec![ProviderSpec::honest(), ProviderSpec::honest(), skipper],
        jobs: vec![job],
        chaos: Chaos::None,
        timeout: Duration::from_secs(240),
        post_interval: None,
    };
    let report = run(scenario);
    let cheat = &report.providers[2].account;
    assert_eq!((cheat.completed, cheat.earned, cheat.failed), (0, 0, 2));
    let params = gpushare_localnet::network::LOCAL_PARAMS;
    assert_eq!(
        cheat.slashed,
        2 * NetworkParams::share(params.stake_per_claim, params.fraud_slash_bps)
    );
    for honest in &report.providers[..2] {
        assert_eq!(
            (
                honest.account.completed,
                honest.account.earned,
                honest.account.failed
            ),
            (2, 2 * PRICE, 0)
        );
    }
    assert_eq!(
        report.shards_verified, 2,
        "the client recomputed and accepted both shards"
    );
    assert_eq!(report.client_spent, 4 * (PRICE + fee(PRICE)));
    let _ = std::fs::remove_dir_all(&report.dir);
}

/// A spot-checked embedding job on the localnet (issue 28): one replica per shard, no quorum. The
/// honest provider stages each challenged sample's witness in proof buffers, the program recomputes
/// the sampled cells, and the provider is paid; the client recomputes sampled sequences and accepts
/// them. A provider that skips the model's last layer cannot prove its trace (its layout is a layer
/// short), proves nothing and is slashed for the missed proof; the client is refunded that shard.
#[cfg(feature = "fault-injection")]
#[test]
fn a_spot_checked_embedding_job_is_paid_with_one_replica_and_a_layer_skipper_misses() {
    const PRICE: u64 = 5_000;
    let model_dir = std::path::PathBuf::from(
        std::env::var_os("GPUSHARE_MODEL_DIR")
            .expect("GPUSHARE_MODEL_DIR: the folder scripts/fetch-model prints"),
    );
    // The model card's lines short enough for the check (at most 64 tokens each).
    let tokenizer =
        gpushare_model::tokenize::TextTokenizer::from_file(&model_dir.join("tokenizer.json"), 256)
            .unwrap();
    let texts: Vec<String> = gpushare_app::embeddings::model_card_texts(&model_dir, 40)
        .unwrap()
        .into_iter()
        .filter(|text| {
            tokenizer.ids(&[text.as_str()]).unwrap()[0].len()
                <= gpushare_core::embedding::check::MAX_CHECKED_TOKENS as usize
        })
        .take(8)
        .collect();
    assert_eq!(texts.len(), 8);
    let job = |shards| JobSpec {
        // Made from the texts when the job is posted.
        kernel: Kernel::MonteCarlo {
            blocks: 1,
            samples_per_block: 1,
        },
        input: InputSpec::Texts {
            model_dir: model_dir.clone(),
            texts: texts.clone(),
        },
        shards,
        replicas: 1,
        mode: VerificationMode::SpotCheck {
            samples: gpushare_core::embedding::check::EMBEDDING_SAMPLES,
        },
        price: PRICE,
    };
    let honest = run(Scenario {
        delegations: Vec::new(),
        providers: vec![ProviderSpec::honest()],
        jobs: vec![job(2)],
        chaos: Chaos::None,
        timeout: Duration::from_secs(240),
        post_interval: None,
    });
    let provider = &honest.providers[0].account;
    assert_eq!(
        (
            provider.completed,
            provider.earned,
            provider.failed,
            provider.missed
        ),
        (2, 2 * PRICE, 0, 0)
    );
    assert_eq!(
        honest.shards_verified, 2,
        "the client recomputed and accepted both shards"
    );
    assert_eq!(honest.client_spent, 2 * (PRICE + fee(PRICE)));
    let _ = std::fs::remove_dir_all(&honest.dir);

    let skipper = run(Scenario {
        delegations: Vec::new(),
        providers: vec![ProviderSpec {
            faulty: Some(Cheat::SkipLayer),
            ..ProviderSpec::honest()
        }],
        jobs: vec![job(1)],
        chaos: Chaos::None,
        timeout: Duration::from_secs(240),
        post_interval: None,
    });
    let cheat = &skipper.providers[0].account;
    assert_eq!((cheat.completed, cheat.earned, cheat.missed), (0, 0, 1));
    let params = gpushare_localnet::network::LOCAL_PARAMS;
    assert_eq!(
        cheat.slashed,
        NetworkParams::share(params.stake_per_claim, params.miss_slash_bps)
    );
    assert_eq!(skipper.client_spent, 0, "the missed shard is refunded");
    let _ = std::fs::remove_dir_all(&skipper.dir);
}

/// A steady load (a job a second for 15 s on three workers): every job paid, tokens conserved, and the
/// run read back from the chain's history. Nothing about speed is asserted: the figures of a longer
/// `gpushare bench-network` run are in docs/performance.md.
#[test]
fn a_steady_load_is_paid_in_full_and_measured_from_the_chain() {
    let scenario = Scenario::steady_load(3, 8, 1.0, 15);
    let report = run(scenario.clone());
    assert_all_paid(&scenario, &report);
    let load = &report.load;
    let replicas: usize = scenario
        .jobs
        .iter()
        .map(|j| usize::from(j.shards) * usize::from(j.replicas))
        .sum();
    assert_eq!(
        (load.jobs_posted, load.replicas_paid),
        (scenario.jobs.len(), replicas)
    );
    assert_eq!(load.worker_peak_kib.len(), 3);
    assert!(load.transactions > replicas && load.fees_lamports > 0);
    assert!(load.latency_slots.p50 > 0.0 && load.rent_per_job > 0);
    for method in ["getProgramAccounts", "sendTransaction", "getAccountInfo"] {
        assert!(
            load.worker_rpc_per_replica
                .get(method)
                .is_some_and(|n| *n > 0.0),
            "the workers' {method} requests are counted"
        );
    }
    let _ = std::fs::remove_dir_all(&report.dir);
}
