//! Chain I/O over JSON-RPC: reading and decoding gpushare accounts, and sending transactions with a
//! compute budget and priority fee, retries with backoff, rebroadcasts, and blockhash expiry handled.
//!
//! A signed transaction is re-sent unchanged (same signature, so it can land at most once) until it is
//! confirmed, refused, or its blockhash has expired; only then is it re-signed with a new blockhash.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{AccountDeserialize, Discriminator};
use anchor_spl::token_2022::spl_token_2022::extension::StateWithExtensions;
use anchor_spl::token_2022::spl_token_2022::state::{Account as TokenAccount, Mint};
use solana_account::Account;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_rpc_client::api::client_error::Error as ClientError;
pub use solana_rpc_client::api::config::CommitmentConfig;
use solana_rpc_client::api::config::{
    RpcAccountInfoConfig, RpcProgramAccountsConfig, RpcSendTransactionConfig, UiAccountEncoding,
};
use solana_rpc_client::api::filter::{Memcmp, RpcFilterType};
use solana_rpc_client::api::request::RpcRequest;
use solana_rpc_client::api::response::{
    OptionalContext, RpcConfirmedTransactionStatusWithSignature, RpcKeyedAccount,
};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

use crate::compute_budget;
use crate::errors;
use crate::ix::NetworkKeys;
use crate::pda;
use crate::priority_fee::{self, PriorityFee};

/// An Anchor event from the base64 of a `Program data:` log line, if it is an `E`.
fn decode_event<E: anchor_lang::Event + anchor_lang::AnchorDeserialize>(data: &str) -> Option<E> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    let body = bytes.strip_prefix(E::DISCRIMINATOR)?;
    E::try_from_slice(body).ok()
}

/// The raw bytes of a set of gpushare accounts, as the node had them at `slot`.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub slot: u64,
    pub accounts: Vec<(Pubkey, Vec<u8>)>,
}

/// The filters that select gpushare accounts of type `T` whose bytes at each `(offset, bytes)`
/// match (for `getProgramAccounts` and program subscriptions alike).
pub fn account_filters<T: Discriminator>(matching: &[(usize, &[u8])]) -> Vec<RpcFilterType> {
    let mut filters = vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
        0,
        T::DISCRIMINATOR.to_vec(),
    ))];
    filters.extend(matching.iter().map(|(offset, bytes)| {
        RpcFilterType::Memcmp(Memcmp::new_raw_bytes(*offset, bytes.to_vec()))
    }));
    filters
}

/// Base64 account data at `commitment`: confirmed for every read, processed for the worker's
/// subscriptions (the newest state, to act on at once).
pub fn account_config(commitment: CommitmentConfig) -> RpcAccountInfoConfig {
    RpcAccountInfoConfig {
        encoding: Some(UiAccountEncoding::Base64),
        commitment: Some(commitment),
        ..RpcAccountInfoConfig::default()
    }
}

/// How every listing and program subscription asks for accounts matching `filters`, at
/// `commitment`.
pub fn program_accounts_config(
    filters: Vec<RpcFilterType>,
    commitment: CommitmentConfig,
) -> RpcProgramAccountsConfig {
    RpcProgramAccountsConfig {
        filters: Some(filters),
        account_config: account_config(commitment),
        ..RpcProgramAccountsConfig::default()
    }
}

/// One confirmed transaction, as the node's history has it.
#[derive(Clone, Debug)]
pub struct TransactionRecord {
    pub slot: u64,
    /// Unix seconds, when the node knows it.
    pub block_time: Option<i64>,
    pub succeeded: bool,
    /// Lamports paid.
    pub fee: u64,
    pub logs: Vec<String>,
    /// The data of each top-level gpushare instruction, in order.
    pub instructions: Vec<Vec<u8>>,
}

impl TransactionRecord {
    /// The events of type `E` it logged.
    pub fn events<E: anchor_lang::Event + anchor_lang::AnchorDeserialize>(&self) -> Vec<E> {
        self.logs
            .iter()
            .filter_map(|line| line.strip_prefix("Program data: "))
            .filter_map(decode_event::<E>)
            .collect()
    }
}

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The program refused the transaction with one of its named errors.
    #[error("refused: {name} (error {code})")]
    Refused { code: u32, name: String },
    /// The runtime refused the transaction for a reason outside the program.
    #[error("transaction failed: {0}")]
    Transaction(TransactionError),
    /// The RPC node could not be reached or kept failing.
    #[error("rpc unavailable after {attempts} attempt(s): {last}")]
    Unavailable { attempts: u32, last: String },
    /// An account that must exist does not.
    #[error("account {0} does not exist")]
    Missing(Pubkey),
    /// An account's data is not the expected type.
    #[error("account {0} is not a valid {1}")]
    Decode(Pubkey, &'static str),
    /// The transaction is larger than a node accepts.
    #[error("transaction of {0} bytes is larger than the {PACKET_BYTES}-byte limit")]
    TooLarge(u64),
}

/// Most accounts one `getMultipleAccounts` request may name.
const MULTIPLE_ACCOUNTS: usize = 100;

/// Largest serialized transaction a node accepts (the network's packet size).
pub const PACKET_BYTES: u64 = 1232;

impl ChainError {
    /// Whether the program refused with the error named `name` (as in the IDL).
    pub fn is_refusal(&self, name: &str) -> bool {
        matches!(self, ChainError::Refused { name: refused, .. } if refused == name)
    }

    /// Whether an instruction ran out of compute units: the runtime reports a program stopped by its
    /// meter as `ProgramFailedToComplete` ("exceeded CUs meter"), or `ComputationalBudgetExceeded`.
    pub fn ran_out_of_compute(&self) -> bool {
        use solana_instruction_error::InstructionError::{
            ComputationalBudgetExceeded, ProgramFailedToComplete,
        };
        matches!(
            self,
            ChainError::Transaction(TransactionError::InstructionError(
                _,
                ComputationalBudgetExceeded | ProgramFailedToComplete
            ))
        )
    }

    fn from_transaction(error: TransactionError) -> Self {
        match error {
            TransactionError::InstructionError(
                _,
                solana_instruction_error::InstructionError::Custom(code),
            ) => ChainError::Refused {
                code,
                name: errors::name(code)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("custom error {code}")),
            },
            other => ChainError::Transaction(other),
        }
    }
}

/// How hard to retry RPC calls that fail in transport.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts per call (and per transaction signing round).
    pub attempts: u32,
    /// First backoff; doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 8,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Fees attached to every transaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct FeePolicy {
    /// The compute-unit price offered.
    pub priority: PriorityFee,
}

/// How often a pending transaction's status is read, and how often (in status reads) it is re-sent
/// unchanged and its blockhash's expiry checked.
const STATUS_POLL: Duration = Duration::from_millis(250);
const REBROADCAST_EVERY: u32 = 8;
/// How long a fetched blockhash serves new transactions (it stays valid for about a minute).
const BLOCKHASH_REUSE: Duration = Duration::from_secs(2);

/// RPC requests sent so far, by method (every attempt counts).
#[derive(Debug, Default)]
pub struct RpcCounts {
    by_method: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl RpcCounts {
    fn count(&self, method: &'static str) {
        if let Ok(mut by_method) = self.by_method.lock() {
            *by_method.entry(method).or_default() += 1;
        }
    }

    /// Every method used so far with its count.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.by_method
            .lock()
            .map(|by_method| by_method.iter().map(|(m, n)| (*m, *n)).collect())
            .unwrap_or_default()
    }
}

/// A connection to one RPC node with the wallet that pays and signs.
pub struct Chain {
    rpc: RpcClient,
    requests: Arc<RpcCounts>,
    payer: Arc<Keypair>,
    retry: RetryPolicy,
    fees: FeePolicy,
    /// The latest blockhash fetched, when, and the last block height it is valid at.
    blockhash: std::sync::Mutex<Option<(Instant, Hash, u64)>>,
    /// The last compute-unit price read from recent prioritization fees.
    last_price: std::sync::atomic::AtomicU64,
}

impl Chain {
    /// Connects to `rpc_url` at confirmed commitment, paying with `payer`.
    pub fn new(rpc_url: &str, payer: Arc<Keypair>, retry: RetryPolicy, fees: FeePolicy) -> Self {
        let rpc = RpcClient::new_with_timeout_and_commitment(
            rpc_url.to_owned(),
            Duration::from_secs(10),
            CommitmentConfig::confirmed(),
        );
        Self {
            rpc,
            requests: Arc::default(),
            payer,
            retry,
            fees,
            blockhash: std::sync::Mutex::default(),
            last_price: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A recent blockhash and the last block height it is valid at: the one fetched less than
    /// [`BLOCKHASH_REUSE`] ago unless `fresh`, so concurrent senders share one request.
    async fn blockhash(&self, fresh: bool) -> Result<(Hash, u64), ChainError> {
        let cached = self.blockhash.lock().ok().and_then(|cached| *cached);
        if let Some((at, hash, height)) = cached
            && !fresh
            && at.elapsed() < BLOCKHASH_REUSE
        {
            return Ok((hash, height));
        }
        let (hash, height) = self
            .with_retry("getLatestBlockhash", || {
                self.rpc
                    .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
            })
            .await?;
        if let Ok(mut cached) = self.blockhash.lock() {
            *cached = Some((Instant::now(), hash, height));
        }
        Ok((hash, height))
    }

    /// The RPC requests this connection has sent, by method.
    pub fn requests(&self) -> Arc<RpcCounts> {
        Arc::clone(&self.requests)
    }

    /// Runs `call` until it succeeds, backing off between transport failures.
    pub async fn with_retry<T, F, Fut>(
        &self,
        what: &'static str,
        mut call: F,
    ) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut backoff = self.retry.backoff;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts {
            self.requests.count(what);
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if let Some(refusal) = error.get_transaction_error() {
                        return Err(ChainError::from_transaction(refusal));
                    }
                    tracing::debug!(%error, attempt, what, "rpc call failed; retrying");
                    last = error.to_string();
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
        Err(ChainError::Unavailable {
            attempts: self.retry.attempts,
            last: format!("{what}: {last}"),
        })
    }

    /// The raw account at `key`, at confirmed commitment; `None` when it does not exist.
    async fn raw_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        Ok(self.account_at(key).await?.1)
    }

    /// Reads and decodes the account at `key`; `None` when it does not exist.
    pub async fn account<T: AccountDeserialize>(
        &self,
        key: &Pubkey,
    ) -> Result<Option<T>, ChainError> {
        self.raw_account(key)
            .await?
            .map(|account| decode(key, &account.data))
            .transpose()
    }

    /// Reads and decodes the accounts at `keys` (`None` for each that does not exist), a hundred
    /// per request.
    pub async fn accounts<T: AccountDeserialize>(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<T>>, ChainError> {
        let mut decoded = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MULTIPLE_ACCOUNTS) {
            let response = self
                .with_retry("getMultipleAccounts", || {
                    self.rpc
                        .get_multiple_accounts_with_commitment(chunk, CommitmentConfig::confirmed())
                })
                .await?;
            for (key, account) in chunk.iter().zip(response.value) {
                decoded.push(
                    account
                        .map(|account| decode(key, &account.data))
                        .transpose()?,
                );
            }
        }
        Ok(decoded)
    }

    /// Reads and decodes the account at `key`, which must exist.
    pub async fn existing<T: AccountDeserialize>(&self, key: &Pubkey) -> Result<T, ChainError> {
        self.account(key).await?.ok_or(ChainError::Missing(*key))
    }

    /// Every gpushare account of type `T` whose bytes at each `(offset, bytes)` match.
    pub async fn program_accounts<T: AccountDeserialize + Discriminator>(
        &self,
        matching: &[(usize, &[u8])],
    ) -> Result<Vec<(Pubkey, T)>, ChainError> {
        self.program_snapshot(account_filters::<T>(matching))
            .await?
            .accounts
            .into_iter()
            .map(|(key, data)| Ok((key, decode(&key, &data)?)))
            .collect()
    }

    /// The raw bytes of every gpushare account matching `filters`, with the slot they were read at.
    pub async fn program_snapshot(
        &self,
        filters: Vec<RpcFilterType>,
    ) -> Result<Snapshot, ChainError> {
        let config = RpcProgramAccountsConfig {
            with_context: Some(true),
            ..program_accounts_config(filters, CommitmentConfig::confirmed())
        };
        let params = serde_json::json!([gpushare::ID.to_string(), config]);
        let response = self
            .with_retry("getProgramAccounts", || {
                self.rpc.send::<OptionalContext<Vec<RpcKeyedAccount>>>(
                    RpcRequest::GetProgramAccounts,
                    params.clone(),
                )
            })
            .await?;
        let (slot, keyed) = match response {
            OptionalContext::Context(response) => (response.context.slot, response.value),
            OptionalContext::NoContext(keyed) => (0, keyed),
        };
        let accounts = keyed
            .into_iter()
            .filter_map(|keyed| {
                let key = keyed.pubkey.parse().ok()?;
                Some((key, keyed.account.data.decode()?))
            })
            .collect();
        Ok(Snapshot { slot, accounts })
    }

    /// The account at `key` (`None` when it does not exist), with the slot it was read at.
    pub async fn account_at(&self, key: &Pubkey) -> Result<(u64, Option<Account>), ChainError> {
        let response = self
            .with_retry("getAccountInfo", || {
                self.rpc
                    .get_account_with_commitment(key, CommitmentConfig::confirmed())
            })
            .await?;
        Ok((response.context.slot, response.value))
    }

    /// The keys of the network of `mint`: its treasury from the network account, its token
    /// program from the mint's owner.
    pub async fn network_keys(&self, mint: &Pubkey) -> Result<NetworkKeys, ChainError> {
        let network_key = pda::network(mint);
        let network: gpushare::state::Network = self.existing(&network_key).await?;
        let mint_account = self
            .raw_account(mint)
            .await?
            .ok_or(ChainError::Missing(*mint))?;
        Ok(NetworkKeys::new(
            *mint,
            network.treasury,
            mint_account.owner,
        ))
    }

    /// The token balance (base units) of token account `account`; 0 when it does not exist.
    pub async fn token_balance(&self, account: &Pubkey) -> Result<u64, ChainError> {
        self.token_figure(account, |data| {
            let token = StateWithExtensions::<TokenAccount>::unpack(data).ok()?;
            Some(token.base.amount)
        })
        .await
    }

    /// The supply of `mint` now (0 when it is not a mint): what was minted less what was burned.
    pub async fn mint_supply(&self, mint: &Pubkey) -> Result<u64, ChainError> {
        self.token_figure(mint, |data| {
            let mint = StateWithExtensions::<Mint>::unpack(data).ok()?;
            Some(mint.base.supply)
        })
        .await
    }

    /// `read` of the data of the token program account at `address`; 0 when it does not exist or
    /// `read` finds nothing.
    async fn token_figure(
        &self,
        address: &Pubkey,
        read: impl FnOnce(&[u8]) -> Option<u64>,
    ) -> Result<u64, ChainError> {
        Ok(self
            .raw_account(address)
            .await?
            .and_then(|a| read(&a.data))
            .unwrap_or(0))
    }

    /// The events of type `E` logged by the last `limit` confirmed transactions that touched
    /// `address`, newest first, each with its block time (unix seconds, when the node knows it).
    pub async fn recent_events<E: anchor_lang::Event + anchor_lang::AnchorDeserialize>(
        &self,
        address: &Pubkey,
        limit: usize,
    ) -> Result<Vec<(Option<i64>, E)>, ChainError> {
        Ok(self
            .transactions(address, limit)
            .await?
            .into_iter()
            .filter(|transaction| transaction.succeeded)
            .flat_map(|transaction| {
                let time = transaction.block_time;
                transaction
                    .events::<E>()
                    .into_iter()
                    .map(move |event| (time, event))
            })
            .collect())
    }

    /// The last `limit` confirmed transactions that touched `address`, newest first, failed ones
    /// included (they paid fees too).
    pub async fn transactions(
        &self,
        address: &Pubkey,
        limit: usize,
    ) -> Result<Vec<TransactionRecord>, ChainError> {
        const PAGE: usize = 1_000;
        let mut records = Vec::new();
        let mut before = None;
        while records.len() < limit {
            let config = || GetConfirmedSignaturesForAddress2Config {
                limit: Some(PAGE.min(limit - records.len())),
                before,
                commitment: Some(CommitmentConfig::confirmed()),
                ..GetConfirmedSignaturesForAddress2Config::default()
            };
            let page = self
                .with_retry("getSignaturesForAddress", || {
                    self.rpc
                        .get_signatures_for_address_with_config(address, config())
                })
                .await?;
            for status in &page {
                records.push(self.transaction(status).await?);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => {
                    before = last.signature.parse().ok();
                }
                _ => break,
            }
        }
        Ok(records)
    }

    async fn transaction(
        &self,
        status: &RpcConfirmedTransactionStatusWithSignature,
    ) -> Result<TransactionRecord, ChainError> {
        let request = serde_json::json!([
            status.signature,
            {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}
        ]);
        let transaction: serde_json::Value = self
            .with_retry("getTransaction", || {
                self.rpc.send(RpcRequest::GetTransaction, request.clone())
            })
            .await?;
        let meta = &transaction["meta"];
        let message = &transaction["transaction"]["message"];
        let program = gpushare::ID.to_string();
        let is_program = |index: &serde_json::Value| {
            index
                .as_u64()
                .and_then(|i| message["accountKeys"].get(usize::try_from(i).ok()?))
                .and_then(serde_json::Value::as_str)
                == Some(program.as_str())
        };
        let instructions = message["instructions"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter(|instruction| is_program(&instruction["programIdIndex"]))
                    .filter_map(|instruction| {
                        bs58::decode(instruction["data"].as_str()?).into_vec().ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(TransactionRecord {
            instructions,
            slot: status.slot,
            block_time: status.block_time,
            succeeded: status.err.is_none(),
            fee: meta["fee"].as_u64().unwrap_or(0),
            logs: meta["logMessages"]
                .as_array()
                .map(|lines| {
                    lines
                        .iter()
                        .filter_map(|line| line.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The lamports `key` holds (0 when it does not exist).
    pub async fn lamports(&self, key: &Pubkey) -> Result<u64, ChainError> {
        Ok(self
            .raw_account(key)
            .await?
            .map_or(0, |account| account.lamports))
    }

    /// The cluster's clock: current slot and unix time.
    pub async fn clock(&self) -> Result<solana_clock::Clock, ChainError> {
        let key = solana_sdk_ids::sysvar::clock::ID;
        let account = self
            .raw_account(&key)
            .await?
            .ok_or(ChainError::Missing(key))?;
        decode_clock(&account.data).ok_or(ChainError::Decode(key, "Clock"))
    }

    /// Sends one ordinary instruction signed by the payer (see [`Chain::send`]).
    pub async fn submit(&self, instruction: Instruction) -> Result<Signature, ChainError> {
        self.send(&[instruction], &[]).await
    }

    /// Sends `instructions` signed by the payer and `signers`, waits for confirmation, and returns
    /// the signature. Program refusals come back as [`ChainError::Refused`] without retrying.
    ///
    /// The transaction requests the compute units its instructions were measured to need
    /// ([`compute_budget::transaction_limit`]). Should it run out anyway — an account whose address
    /// took a client's grinding many bump attempts to find, a runtime that repriced a syscall — it is
    /// sent once more with the most a transaction may request, so a figure never costs a provider a
    /// deadline.
    pub async fn send(
        &self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Signature, ChainError> {
        let limit = compute_budget::transaction_limit(instructions);
        let first_price = self.compute_unit_price(instructions).await;
        match self
            .send_with_limit(instructions, signers, limit, first_price)
            .await
        {
            Err(error)
                if error.ran_out_of_compute() && limit < compute_budget::MAX_TRANSACTION_UNITS =>
            {
                tracing::warn!(%error, limit, "out of compute units at the measured figure; resending with the most a transaction may request");
                let most = compute_budget::MAX_TRANSACTION_UNITS;
                self.send_with_limit(instructions, signers, most, first_price)
                    .await
            }
            result => result,
        }
    }

    /// [`Chain::send`] with the compute-unit limit `limit`, priced `first_price` in its first
    /// signing round.
    async fn send_with_limit(
        &self,
        instructions: &[Instruction],
        signers: &[&Keypair],
        limit: u32,
        first_price: u64,
    ) -> Result<Signature, ChainError> {
        // Sized with a price instruction, which a later round may add.
        let bytes = self.transaction_bytes(&compute_budget::with_budget(instructions, limit, 1));
        if bytes > PACKET_BYTES {
            return Err(ChainError::TooLarge(bytes));
        }
        let mut keys: Vec<&Keypair> = vec![&self.payer];
        keys.extend_from_slice(signers);
        let mut last = String::from("blockhash expired before confirmation");
        for round in 1..=self.retry.attempts {
            let (blockhash, last_valid_height) = self.blockhash(round > 1).await?;
            let price = self.fees.priority.price_for_round(first_price, round);
            let tx = Transaction::new_signed_with_payer(
                &compute_budget::with_budget(instructions, limit, price),
                Some(&self.payer.pubkey()),
                &keys,
                blockhash,
            );
            match self.confirm(&tx, last_valid_height).await {
                Ok(signature) => return Ok(signature),
                Err(SendFailure::Final(error)) => return Err(error),
                Err(SendFailure::Expired(why)) => {
                    tracing::debug!(round, %why, "transaction not confirmed before its blockhash expired; re-signing");
                    last = why;
                }
            }
        }
        Err(ChainError::Unavailable {
            attempts: self.retry.attempts,
            last,
        })
    }

    /// The micro-lamports per compute unit [`FeePolicy::priority`] offers for `instructions` in their
    /// first signing round. For `recent`, the payer is left out of the accounts asked about: it is
    /// write-locked by every transaction it pays for, its own included, so its fees would feed back.
    /// When the fees cannot be read the last price read serves (a lookup never holds a send back).
    async fn compute_unit_price(&self, instructions: &[Instruction]) -> u64 {
        let (percentile, max_micro_lamports) = match self.fees.priority {
            PriorityFee::Fixed(price) => return price,
            PriorityFee::Recent {
                percentile,
                max_micro_lamports,
            } => (percentile, max_micro_lamports),
        };
        let payer = self.payer.pubkey();
        let mut writable: Vec<Pubkey> = instructions
            .iter()
            .flat_map(|i| {
                i.accounts
                    .iter()
                    .filter(|m| m.is_writable)
                    .map(|m| m.pubkey)
            })
            .filter(|key| *key != payer)
            .collect();
        writable.sort_unstable();
        writable.dedup();
        // The RPC takes at most 128 accounts.
        writable.truncate(128);
        self.requests.count("getRecentPrioritizationFees");
        match self.rpc.get_recent_prioritization_fees(&writable).await {
            Ok(recent) => {
                let mut fees: Vec<u64> = recent.iter().map(|f| f.prioritization_fee).collect();
                let price = priority_fee::percentile_of(&mut fees, percentile, max_micro_lamports);
                self.last_price
                    .store(price, std::sync::atomic::Ordering::Relaxed);
                price
            }
            Err(error) => {
                let price = self.last_price.load(std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(%error, price, "recent prioritization fees unavailable; offering the last price read");
                price
            }
        }
    }

    /// The serialized size of a signed transaction carrying exactly `all`.
    fn transaction_bytes(&self, all: &[Instruction]) -> u64 {
        let unsigned = Transaction::new_with_payer(all, Some(&self.payer.pubkey()));
        bincode::serialized_size(&unsigned).unwrap_or(u64::MAX)
    }

    /// Broadcasts `tx` and waits until it is confirmed, refused, or cannot land any more.
    async fn confirm(
        &self,
        tx: &Transaction,
        last_valid_height: u64,
    ) -> Result<Signature, SendFailure> {
        let signature = tx.signatures[0];
        // Simulated against the newest (processed) state: a transaction that a competitor's, still
        // unconfirmed, already makes fail is refused here, without landing and paying a fee.
        let config = RpcSendTransactionConfig {
            preflight_commitment: Some(CommitmentConfig::processed().commitment),
            ..RpcSendTransactionConfig::default()
        };
        let mut last = String::new();
        let mut polls = 0u32;
        loop {
            if polls.is_multiple_of(REBROADCAST_EVERY) {
                self.requests.count("sendTransaction");
                match self.rpc.send_transaction_with_config(tx, config).await {
                    Ok(_) => {}
                    Err(error) => match error.get_transaction_error() {
                        Some(TransactionError::AlreadyProcessed)
                        | Some(TransactionError::BlockhashNotFound) => {}
                        Some(refusal) if polls == 0 => {
                            return Err(SendFailure::Final(ChainError::from_transaction(refusal)));
                        }
                        // A rebroadcast's preflight may fail because the first copy already landed.
                        Some(_) => {}
                        None => last = error.to_string(),
                    },
                }
            }
            polls += 1;
            tokio::time::sleep(STATUS_POLL).await;
            self.requests.count("getSignatureStatuses");
            match self.rpc.get_signature_statuses(&[signature]).await {
                Ok(response) => {
                    if let Some(Some(status)) = response.value.first()
                        && status.satisfies_commitment(CommitmentConfig::confirmed())
                    {
                        return match &status.err {
                            None => Ok(signature),
                            Some(error) => Err(SendFailure::Final(ChainError::from_transaction(
                                error.clone(),
                            ))),
                        };
                    }
                }
                Err(error) => last = error.to_string(),
            }
            if !polls.is_multiple_of(REBROADCAST_EVERY) {
                continue;
            }
            self.requests.count("getBlockHeight");
            if let Ok(height) = self
                .rpc
                .get_block_height_with_commitment(CommitmentConfig::confirmed())
                .await
                && height > last_valid_height
            {
                return Err(SendFailure::Expired(if last.is_empty() {
                    "blockhash expired".into()
                } else {
                    last
                }));
            }
        }
    }
}

enum SendFailure {
    /// Refused or failed on chain: do not retry.
    Final(ChainError),
    /// Can no longer land: safe to re-sign with a new blockhash.
    Expired(String),
}

/// Decodes the Clock sysvar's data.
pub fn decode_clock(data: &[u8]) -> Option<solana_clock::Clock> {
    bincode::deserialize(data).ok()
}

/// Decodes an Anchor account (discriminator checked).
fn decode<T: AccountDeserialize>(key: &Pubkey, data: &[u8]) -> Result<T, ChainError> {
    T::try_deserialize(&mut &data[..])
        .map_err(|_| ChainError::Decode(*key, std::any::type_name::<T>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_instruction_error::InstructionError;

    #[test]
    fn only_a_program_stopped_by_its_meter_is_resent_with_more_units() {
        let failed = |error| ChainError::Transaction(TransactionError::InstructionError(1, error));
        assert!(failed(InstructionError::ProgramFailedToComplete).ran_out_of_compute());
        assert!(failed(InstructionError::ComputationalBudgetExceeded).ran_out_of_compute());
        assert!(!failed(InstructionError::InvalidAccountData).ran_out_of_compute());
        let refused = ChainError::from_transaction(TransactionError::InstructionError(
            1,
            InstructionError::Custom(6000),
        ));
        assert!(!refused.ran_out_of_compute());
        assert!(!ChainError::TooLarge(2_000).ran_out_of_compute());
    }
}
