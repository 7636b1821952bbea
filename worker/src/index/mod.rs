//! The worker's view of the chain: the network, its own provider, challenge and assignments, and the
//! network's jobs and shards. Websocket subscriptions keep it current at processed commitment (the
//! newest state: every action is checked by the program anyway); a full resync from
//! `getProgramAccounts` on every (re)connection and every resync interval is the safety net (closed
//! accounts, for one, are not announced over a program subscription). Every entry carries the slot it
//! was read at, so an older update never overwrites a newer one.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anchor_lang::AccountDeserialize;
use anchor_lang::prelude::{Clock, Pubkey};
use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use gpushare::state::{Assignment, Job, Network, Provider, Shard};
use gpushare_client::chain::{
    Chain, ChainError, CommitmentConfig, Snapshot, account_config, account_filters, decode_clock,
    program_accounts_config,
};
use gpushare_client::{filters, pda};
use solana_pubsub_client::nonblocking::pubsub_client::{PubsubClient, PubsubClientError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::WorkerError;

#[cfg(test)]
mod tests;
mod tracked;

use tracked::Kind;
pub use tracked::{ChainDataError, Tracked, check_job, check_shard};

/// One account as last read, at `slot`; `None` when it was seen closed (kept until the next resync
/// so that an older update cannot bring it back). `changed_at` is the slot its data was first read
/// as it is now, so that re-reading unchanged data (a resync) is not a change.
#[derive(Clone)]
struct Entry {
    slot: u64,
    changed_at: u64,
    digest: u64,
    account: Option<Tracked>,
}

/// A fingerprint of an account's data (`None`: closed), to tell a change from a re-read.
fn digest(data: Option<&[u8]>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    hasher.finish()
}

/// What one round of the daemon works from.
#[derive(Clone)]
pub struct View {
    pub network: Network,
    pub provider: Provider,
    pub benchmark_open: bool,
    pub jobs: HashMap<Pubkey, Arc<Job>>,
    /// Every shard, by its address.
    pub shards: HashMap<Pubkey, Arc<Shard>>,
    /// This provider's assignments, each with the slot of its last change and of its shard's.
    pub held: Vec<Held>,
    /// The network's active providers as of the last resync.
    pub peers: Vec<Pubkey>,
}

/// One slot this provider holds, and how fresh the index's knowledge of it is.
#[derive(Clone)]
pub struct Held {
    pub key: Pubkey,
    pub assignment: Assignment,
    /// The slots the assignment and its shard last changed at (0 when the shard is unknown).
    pub seen: (u64, u64),
}

/// The accounts one provider of one network tracks.
pub struct Index {
    network: Pubkey,
    provider: Pubkey,
    benchmark: Pubkey,
    entries: HashMap<Pubkey, Entry>,
    /// The network's active providers as of the last resync (this one included).
    peers: Vec<Pubkey>,
}

impl Index {
    pub fn new(network: Pubkey, provider: Pubkey) -> Self {
        Self {
            network,
            provider,
            benchmark: pda::benchmark(&provider),
            entries: HashMap::new(),
            peers: Vec::new(),
        }
    }

    /// Whether `account` at `key` belongs in this index.
    fn wanted(&self, key: &Pubkey, account: &Tracked) -> bool {
        match account {
            Tracked::Network(_) => *key == self.network,
            Tracked::Provider(_) => *key == self.provider,
            Tracked::Benchmark(_) => *key == self.benchmark,
            Tracked::Job(job) => job.network == self.network,
            Tracked::Shard(_) => true,
            Tracked::Assignment(assignment) => assignment.provider == self.provider,
        }
    }

    /// Records `key` as read at `slot` (`None` or empty: closed), unless a newer read is known;
    /// returns whether what the index holds changed.
    pub fn apply(&mut self, key: Pubkey, slot: u64, data: Option<&[u8]>) -> bool {
        let data = data.filter(|data| !data.is_empty());
        let fingerprint = digest(data);
        match self.entries.get_mut(&key) {
            Some(entry) if entry.slot > slot => return false,
            Some(entry) if entry.digest == fingerprint => {
                entry.slot = slot;
                return false;
            }
            _ => {}
        }
        let account = match data.map(Tracked::decode) {
            Some(Ok(account)) if self.wanted(&key, &account) => Some(account),
            Some(Ok(_)) => return self.entries.remove(&key).is_some(),
            Some(Err(error)) => {
                tracing::warn!(%key, %error, "account data refused");
                return self.entries.remove(&key).is_some();
            }
            None => None,
        };
        let entry = Entry {
            slot,
            changed_at: slot,
            digest: fingerprint,
            account,
        };
        self.entries.insert(key, entry);
        true
    }

    /// Marks `key` closed as of `slot` (after this worker's own transaction closed it).
    pub fn forget(&mut self, key: Pubkey, slot: u64) {
        let slot = self
            .entries
            .get(&key)
            .map_or(slot, |entry| entry.slot.max(slot));
        self.apply(key, slot, None);
    }

    /// Replaces every account of `kind` read before `snapshot` with the snapshot's, and drops what
    /// was seen closed before it.
    fn resync(&mut self, kind: Kind, snapshot: &Snapshot) {
        let present: std::collections::HashSet<Pubkey> =
            snapshot.accounts.iter().map(|(key, _)| *key).collect();
        self.entries.retain(|key, entry| {
            entry.slot >= snapshot.slot
                || present.contains(key)
                || entry
                    .account
                    .as_ref()
                    .is_some_and(|account| account.kind() != kind)
        });
        for (key, data) in &snapshot.accounts {
            self.apply(*key, snapshot.slot, Some(data));
        }
    }

    /// Keeps, of the network's providers in `snapshot`, those active under the network's parameters.
    fn set_peers(&mut self, snapshot: &Snapshot) {
        let network = self
            .entries
            .get(&self.network)
            .and_then(|entry| match &entry.account {
                Some(Tracked::Network(network)) => Some(network.params),
                _ => None,
            });
        let Some(params) = network else {
            return;
        };
        self.peers = snapshot
            .accounts
            .iter()
            .filter_map(|(key, data)| {
                let provider = Provider::try_deserialize(&mut &data[..]).ok()?;
                provider.check_active(&params).is_ok().then_some(*key)
            })
            .collect();
    }

    /// The shard at `key`, if known and open.
    pub fn shard(&self, key: &Pubkey) -> Option<Shard> {
        match self.entries.get(key)?.account.as_ref()? {
            Tracked::Shard(shard) => Some((**shard).clone()),
            _ => None,
        }
    }

    fn changed_at(&self, key: &Pubkey) -> u64 {
        self.entries.get(key).map_or(0, |entry| entry.changed_at)
    }

    /// Everything a round needs; `None` until the network and this provider are known.
    pub fn view(&self) -> Option<View> {
        let mut network = None;
        let mut provider = None;
        let mut benchmark_open = false;
        let mut jobs = HashMap::new();
        let mut shards = HashMap::new();
        let mut held = Vec::new();
        for (key, entry) in &self.entries {
            match &entry.account {
                Some(Tracked::Network(account)) => network = Some((**account).clone()),
                Some(Tracked::Provider(account)) => provider = Some((**account).clone()),
                Some(Tracked::Benchmark(_)) => benchmark_open = true,
                Some(Tracked::Job(job)) => {
                    jobs.insert(*key, Arc::clone(job));
                }
                Some(Tracked::Shard(shard)) => {
                    shards.insert(*key, Arc::clone(shard));
                }
                Some(Tracked::Assignment(assignment)) => held.push(Held {
                    key: *key,
                    assignment: (**assignment).clone(),
                    seen: (entry.changed_at, self.changed_at(&assignment.shard)),
                }),
                None => {}
            }
        }
        Some(View {
            network: network?,
            provider: provider?,
            benchmark_open,
            jobs,
            shards,
            held,
            peers: self.peers.clone(),
        })
    }

    /// Accounts tracked (closed ones included until the next resync).
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }
}

/// How old the clock from the websocket may be before a round reads it over RPC instead.
const CLOCK_FRESHNESS: Duration = Duration::from_secs(1);

/// The index shared by the daemon, its slot tasks and the websocket watcher, with the cluster's
/// clock as last announced, whether the subscriptions are live and whether a resync is owed.
#[derive(Clone)]
pub struct SharedIndex {
    index: Arc<Mutex<Index>>,
    clock: Arc<Mutex<Option<(Instant, Clock)>>>,
    live: Arc<AtomicBool>,
    resync_owed: Arc<AtomicBool>,
}

impl SharedIndex {
    pub fn new(index: Index) -> Self {
        Self {
            index: Arc::new(Mutex::new(index)),
            clock: Arc::default(),
            live: Arc::default(),
            resync_owed: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The index; a panic while it was held leaves it as the last completed update left it.
    pub fn lock(&self) -> MutexGuard<'_, Index> {
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cluster's clock: as the websocket last announced it when that is recent, else read.
    pub async fn clock(&self, chain: &Chain) -> Result<Clock, ChainError> {
        let announced = self.clock.lock().ok().and_then(|clock| clock.clone());
        match announced {
            Some((at, clock)) if self.is_live() && at.elapsed() < CLOCK_FRESHNESS => Ok(clock),
            _ => chain.clock().await,
        }
    }

    /// Whether updates arrive over the websocket (otherwise the daemon resyncs every round).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// Whether a resync is owed (at start, and after every (re)connection); clears the flag.
    pub fn take_resync_owed(&self) -> bool {
        self.resync_owed.swap(false, Ordering::SeqCst)
    }

    /// Re-reads everything the index tracks from the node, and the network's active providers.
    pub async fn resync(&self, chain: &Chain) -> Result<(), ChainError> {
        let (network, provider, benchmark) = {
            let index = self.lock();
            (index.network, index.provider, index.benchmark)
        };
        let listings = [
            (
                Kind::Job,
                account_filters::<Job>(&[(filters::JOB_NETWORK, network.as_ref())]),
            ),
            (Kind::Shard, account_filters::<Shard>(&[])),
            (
                Kind::Assignment,
                account_filters::<Assignment>(&[(filters::ASSIGNMENT_PROVIDER, provider.as_ref())]),
            ),
        ];
        for (kind, filters) in listings {
            let snapshot = chain.program_snapshot(filters).await?;
            self.lock().resync(kind, &snapshot);
        }
        for key in [network, provider, benchmark] {
            self.refresh(chain, &key).await?;
        }
        let providers = chain
            .program_snapshot(account_filters::<Provider>(&[(
                filters::PROVIDER_NETWORK,
                network.as_ref(),
            )]))
            .await?;
        self.lock().set_peers(&providers);
        Ok(())
    }

    /// Re-reads one account from the node.
    pub async fn refresh(&self, chain: &Chain, key: &Pubkey) -> Result<(), ChainError> {
        let (slot, account) = chain.account_at(key).await?;
        let data = account
            .filter(|account| account.owner == gpushare::ID)
            .map(|account| account.data);
        self.lock().apply(*key, slot, data.as_deref());
        Ok(())
    }

    /// Re-reads `keys` after a step found the index behind the chain; best effort: what cannot be
    /// read now is left to the next resync.
    pub async fn reread(&self, chain: &Chain, keys: &[Pubkey]) {
        for key in keys {
            if let Err(error) = self.refresh(chain, key).await {
                tracing::debug!(%error, %key, "could not re-read an account");
            }
        }
    }

    /// Keeps the index current from websocket subscriptions, waking `wake` on every change and
    /// every slot;
    /// reconnects with backoff, and owes a resync after every (re)connection.
    pub fn watch(
        &self,
        ws_url: String,
        wake: Arc<Notify>,
        stop: Arc<AtomicBool>,
    ) -> JoinHandle<()> {
        let shared = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            while !stop.load(Ordering::SeqCst) {
                match shared.follow(&ws_url, &wake, &stop, &mut backoff).await {
                    Ok(()) => {
                        tracing::warn!(url = %ws_url, "websocket closed; resyncing by polling")
                    }
                    Err(error) => {
                        tracing::warn!(%error, url = %ws_url, "websocket unavailable; resyncing by polling")
                    }
                }
                shared.live.store(false, Ordering::SeqCst);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        })
    }

    /// One websocket connection: subscribes, then applies updates until it drops or `stop` is set.
    async fn follow(
        &self,
        ws_url: &str,
        wake: &Notify,
        stop: &AtomicBool,
        backoff: &mut Duration,
    ) -> Result<(), WorkerError> {
        let client = PubsubClient::new(ws_url)
            .await
            .map_err(subscription_error)?;
        let (network, provider, benchmark) = {
            let index = self.lock();
            (index.network, index.provider, index.benchmark)
        };
        let mut updates: SelectAll<BoxStream<'_, Update>> = SelectAll::new();
        let programs = [
            account_filters::<Job>(&[(filters::JOB_NETWORK, network.as_ref())]),
            account_filters::<Shard>(&[]),
            account_filters::<Assignment>(&[(filters::ASSIGNMENT_PROVIDER, provider.as_ref())]),
        ];
        for filters in programs {
            let (stream, _unsubscribe) = client
                .program_subscribe(
                    &gpushare::ID,
                    Some(program_accounts_config(
                        filters,
                        CommitmentConfig::processed(),
                    )),
                )
                .await
                .map_err(subscription_error)?;
            updates.push(
                stream
                    .filter_map(|update| async move {
                        let key = update.value.pubkey.parse().ok()?;
                        Some(Update {
                            key,
                            slot: update.context.slot,
                            data: update.value.account.data.decode(),
                        })
                    })
                    .boxed(),
            );
        }
        for key in [network, provider, benchmark, CLOCK] {
            let (stream, _unsubscribe) = client
                .account_subscribe(&key, Some(account_config(CommitmentConfig::processed())))
                .await
                .map_err(subscription_error)?;
            updates.push(
                stream
                    .map(move |update| Update {
                        key,
                        slot: update.context.slot,
                        data: [gpushare::ID, SYSVAR]
                            .iter()
                            .any(|owner| update.value.owner == owner.to_string())
                            .then(|| update.value.data.decode())
                            .flatten(),
                    })
                    .boxed(),
            );
        }
        self.live.store(true, Ordering::SeqCst);
        self.resync_owed.store(true, Ordering::SeqCst);
        wake.notify_one();
        tracing::info!(url = %ws_url, "following gpushare accounts over the websocket");
        *backoff = Duration::from_millis(500);
        while let Some(update) = updates.next().await {
            if update.key == CLOCK {
                let clock = update.data.as_deref().and_then(decode_clock);
                if let (Some(clock), Ok(mut announced)) = (clock, self.clock.lock()) {
                    *announced = Some((Instant::now(), clock));
                }
                wake.notify_one();
            } else if self
                .lock()
                .apply(update.key, update.slot, update.data.as_deref())
            {
                wake.notify_one();
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
        Ok(())
    }
}

/// The Clock sysvar, followed for the slot and time every round works at; and its owner.
const CLOCK: Pubkey = solana_sdk_ids::sysvar::clock::ID;
const SYSVAR: Pubkey = solana_sdk_ids::sysvar::ID;

/// One account change from a subscription.
struct Update {
    key: Pubkey,
    slot: u64,
    data: Option<Vec<u8>>,
}

fn subscription_error(error: PubsubClientError) -> WorkerError {
    WorkerError::Chain(ChainError::Unavailable {
        attempts: 1,
        last: format!("websocket: {error}"),
    })
}
