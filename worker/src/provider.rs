//! The provider's chain commands — `register`, `stake`, `unstake`, `withdraw`, `status` — and `run`, which
//! starts the daemon with its metrics endpoint, websocket watcher and signal handling.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use gpushare::constants::{ACTIVATION_WINDOW_SECONDS, GPU_MODEL_LEN};
use gpushare::state::{Delegation, HardwareProfile, Provider, tokens_for};
use gpushare_client::chain::{Chain, FeePolicy, RetryPolicy};
use gpushare_client::filters;
use gpushare_client::ix::{self, Holder};
use gpushare_engine::backend::Backend;
use gpushare_engine::select;
use solana_signer::Signer;
use tokio::sync::Notify;

use crate::benchmark::BenchmarkRun;
use crate::config::Config;
use crate::daemon::{Daemon, Worker};
use crate::error::WorkerError;
use crate::fault::Fault;
use crate::identity::Identity;
use crate::index::{Index, SharedIndex};
use crate::inputs::Inputs;
use crate::metrics::{self, Metrics};
use crate::models::Models;
use crate::store::Store;

/// A connection to the network as this provider.
pub struct Session {
    pub chain: Arc<Chain>,
    pub me: Identity,
}

impl Session {
    /// Reads the wallet, connects, and looks the network up by its mint.
    pub async fn open(config: &Config) -> Result<Self, WorkerError> {
        let wallet = config.wallet()?;
        let fees = FeePolicy {
            priority: config.priority_fee,
        };
        let chain = Arc::new(Chain::new(
            &config.rpc_url,
            Arc::clone(&wallet),
            RetryPolicy::default(),
            fees,
        ));
        let net = chain.network_keys(&config.require_mint()?).await?;
        let token = config
            .token_account
            .unwrap_or_else(|| net.associated_token(&wallet.pubkey()));
        let holder = Holder {
            authority: wallet.pubkey(),
            token,
        };
        Ok(Self {
            chain,
            me: Identity {
                wallet,
                holder,
                net,
            },
        })
    }

    async fn send(
        &self,
        instruction: anchor_lang::solana_program::instruction::Instruction,
    ) -> Result<(), WorkerError> {
        let signature = self.chain.submit(instruction).await?;
        println!("signature   {signature}");
        Ok(())
    }

    /// Registers this wallet as a provider with `stake`, describing the machine by its backend.
    pub async fn register(&self, stake: u64, backend: &dyn Backend) -> Result<(), WorkerError> {
        let hardware = hardware_profile(backend)?;
        self.send(ix::register_provider(
            &self.me.holder,
            &self.me.net,
            stake,
            hardware,
        ))
        .await?;
        println!("registered  {} with stake {stake}", self.me.provider());
        Ok(())
    }

    pub async fn stake(&self, amount: u64) -> Result<(), WorkerError> {
        self.send(ix::add_stake(&self.me.holder, &self.me.net, amount))
            .await
    }

    pub async fn unstake(&self, amount: u64) -> Result<(), WorkerError> {
        self.send(ix::request_unstake(
            &self.me.wallet.pubkey(),
            &self.me.net.network,
            amount,
        ))
        .await
    }

    /// Sets the commission kept of each paid replica; a raise takes effect after the network's delay.
    pub async fn set_commission(&self, commission_bps: u16) -> Result<(), WorkerError> {
        self.send(ix::set_commission(
            &self.me.wallet.pubkey(),
            &self.me.net.network,
            commission_bps,
        ))
        .await
    }

    /// Runs the on-chain benchmark that proves this machine's throughput (answering one already open
    /// on it).
    pub async fn benchmark(&self, backend: Arc<dyn Backend>) -> Result<(), WorkerError> {
        let run = BenchmarkRun {
            chain: Arc::clone(&self.chain),
            me: self.me.clone(),
            backend,
        };
        let outcome = run.prove().await?;
        if outcome.mops == 0 {
            return Err(WorkerError::SelfCheck(
                "the benchmark failed; the provider was slashed".into(),
            ));
        }
        println!(
            "proven      {:.3} GOPS (computed in {:.2} s here)",
            outcome.mops as f64 / 1_000.0,
            outcome.compute_seconds
        );
        Ok(())
    }

    /// Claims what the provider's own stake has earned and settlements have not yet paid it (the end
    /// of each payout's release).
    pub async fn claim_rewards(&self) -> Result<(), WorkerError> {
        let provider: Provider = self.chain.existing(&self.me.provider()).await?;
        let now = self.chain.clock().await?.unix_timestamp;
        let owed = provider.pool.own_owed_at(now)?;
        if owed == 0 {
            println!("nothing to claim");
            return Ok(());
        }
        self.send(ix::claim_provider_rewards(&self.me.holder, &self.me.net))
            .await?;
        println!("claimed     {owed}");
        Ok(())
    }

    pub async fn withdraw(&self) -> Result<(), WorkerError> {
        self.send(ix::withdraw_stake(&self.me.holder, &self.me.net))
            .await
    }

    /// Publishes on chain the URL where clients fetch this provider's results.
    pub async fn publish_endpoint(&self, url: &str) -> Result<(), WorkerError> {
        let publish = ix::set_endpoint(&self.me.wallet.pubkey(), &self.me.net.network, url.into());
        self.chain.submit(publish).await?;
        tracing::info!(url, "published the results endpoint");
        Ok(())
    }

    /// The provider account; a named error when this wallet is not registered.
    pub async fn provider(&self) -> Result<Provider, WorkerError> {
        let key = self.me.provider();
        self.chain.account(&key).await?.ok_or_else(|| {
            WorkerError::NotRegistered(format!(
                "no provider account {key} for this wallet; run `register`"
            ))
        })
    }

    /// Prints stake, unbonding, counters and earnings.
    pub async fn status(&self) -> Result<(), WorkerError> {
        let provider = self.provider().await?;
        let balance = self.chain.token_balance(&self.me.holder.token).await?;
        let model = String::from_utf8_lossy(&provider.hardware.gpu_model);
        println!("provider    {}", self.me.provider());
        println!("wallet      {}", self.me.wallet.pubkey());
        println!("network     {}", self.me.net.network);
        println!(
            "hardware    {} ({} GOPS)",
            model.trim_end_matches('\0'),
            provider.hardware.throughput_gops
        );
        match provider.proven.mops {
            0 => println!("proven      nothing yet (gpushare-worker benchmark)"),
            mops => println!(
                "proven      {:.3} GOPS on {} device(s) at slot {}",
                mops as f64 / 1_000.0,
                provider.proven.devices,
                provider.proven.slot
            ),
        }
        let own = provider.own_stake()?;
        println!(
            "stake       {} ({own} own, {} delegated)",
            provider.stake,
            provider.stake - own
        );
        println!(
            "unbonding   {} own (withdrawable from unix time {}), {} in all",
            provider.own_unbonding()?,
            provider.unbonding_ends_at,
            provider.unbonding
        );
        let warming = provider.own_warming;
        println!(
            "warming     {} own (joins from unix time {} to {}; `run` activates it), {} in all",
            warming.amount,
            warming.until,
            warming.until + ACTIVATION_WINDOW_SECONDS,
            provider.warming
        );
        let pool = &provider.pool;
        match pool.pending_commission_bps {
            Some(raised) => println!(
                "commission  {} bps ({raised} bps from unix time {})",
                pool.commission_bps, pool.commission_effective_at
            ),
            None => println!("commission  {} bps", pool.commission_bps),
        }
        println!("delegations {}", pool.delegations);
        let now = self.chain.clock().await?.unix_timestamp;
        println!(
            "rewards     {} own claimable; {} vesting to all stakers until unix time {}",
            provider.pool.own_owed_at(now)?,
            pool.vesting_at(now),
            pool.vesting_until
        );
        let delegations = self
            .chain
            .program_accounts::<Delegation>(&[(
                filters::DELEGATION_PROVIDER,
                self.me.provider().as_ref(),
            )])
            .await?;
        for (_, delegation) in delegations {
            println!(
                "  {}  {} active, {} unbonding",
                delegation.delegator,
                tokens_for(delegation.shares, provider.stake, pool.shares)?,
                tokens_for(
                    delegation.unbonding_shares,
                    provider.unbonding,
                    pool.unbonding_shares
                )?
            );
        }
        println!("endpoint    {}", provider.endpoint);
        println!("open claims {}", provider.open_claims);
        println!("completed   {}", provider.completed);
        println!("failed      {}", provider.failed);
        println!("missed      {}", provider.missed);
        println!("slashed     {}", provider.slashed);
        println!("earned      {}", provider.earned);
        println!("balance     {balance} in {}", self.me.holder.token);
        Ok(())
    }
}

/// Describes the machine: its devices, their memory, and the int8 GEMM throughput of all of them at
/// once (one GEMM per device, side by side).
pub fn hardware_profile(backend: &dyn Backend) -> Result<HardwareProfile, WorkerError> {
    const SIZE: usize = 256;
    let a = vec![1i8; SIZE * SIZE];
    let devices = backend.device_names();
    backend.gemm_i8(&a, &a, SIZE, SIZE, SIZE)?;
    let started = Instant::now();
    std::thread::scope(|scope| {
        let runs: Vec<_> = devices
            .iter()
            .map(|_| scope.spawn(|| backend.gemm_i8(&a, &a, SIZE, SIZE, SIZE)))
            .collect();
        runs.into_iter().try_for_each(|run| {
            run.join()
                .map_err(|_| WorkerError::SelfCheck("hardware probe thread panicked".into()))?
                .map(drop)
                .map_err(WorkerError::from)
        })
    })?;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let mut gpu_model = [0u8; GPU_MODEL_LEN];
    let name = backend.name();
    let length = name.len().min(GPU_MODEL_LEN);
    gpu_model[..length].copy_from_slice(&name.as_bytes()[..length]);
    let operations = 2.0 * (SIZE * SIZE * SIZE) as f64 * devices.len() as f64;
    Ok(HardwareProfile {
        gpu_model,
        memory_mib: u32::try_from(backend.memory_mib()).unwrap_or(u32::MAX),
        // At least 1: a claim of 0 could not be sized into a benchmark.
        throughput_gops: ((operations / seconds / 1e9) as u64).max(1),
        devices: u8::try_from(devices.len()).unwrap_or(u8::MAX),
    })
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: Config, fault: Fault) -> Result<(), WorkerError> {
    if fault != Fault::None {
        tracing::warn!(
            ?fault,
            "FAULT INJECTION: this worker commits to wrong results and will be slashed"
        );
    }
    let session = Session::open(&config).await?;
    let provider = session.provider().await?;
    if let Some(url) = config
        .public_url
        .as_ref()
        .filter(|url| **url != provider.endpoint)
    {
        session.publish_endpoint(url).await?;
    }
    let backend = select::select(&config.backend)?;
    let store = Store::open(&config.data_dir)?;
    let metrics = Metrics::new(&backend.device_names(), session.chain.requests());
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(Notify::new());
    let (_, endpoint) = {
        let stopped = Arc::clone(&stopped);
        metrics::serve(
            config.metrics_addr,
            Arc::clone(&metrics),
            store.clone(),
            Arc::clone(&session.chain),
            async move { stopped.notified().await },
        )
        .await?
    };
    let wake = Arc::new(Notify::new());
    let index = SharedIndex::new(Index::new(session.me.net.network, session.me.provider()));
    let watcher = index.watch(config.ws_url.clone(), Arc::clone(&wake), Arc::clone(&stop));
    let signals = {
        let (stop, wake) = (Arc::clone(&stop), Arc::clone(&wake));
        tokio::spawn(async move {
            gpushare_client::local::wait_for_signal().await;
            tracing::info!("shutting down: finishing the current step, claiming nothing new");
            stop.store(true, Ordering::SeqCst);
            wake.notify_one();
        })
    };
    tracing::info!(provider = %session.me.provider(), backend = %backend.name(), data_dir = %config.data_dir.display(), "worker running");
    let inputs = Inputs::new(config.inputs.clone())?;
    let models = Models::load(&config.models)?;
    let daemon = Daemon::new(Worker {
        chain: session.chain,
        me: session.me,
        backend,
        store,
        inputs,
        models,
        config,
        metrics,
        fault,
        index,
        computing: Default::default(),
        refused_jobs: Default::default(),
    });
    let result = daemon.run(Arc::clone(&stop), wake).await;
    stopped.notify_one();
    watcher.abort();
    signals.abort();
    if let Err(error) = endpoint.await {
        tracing::warn!(%error, "the HTTP endpoint's task failed");
    }
    result
}
