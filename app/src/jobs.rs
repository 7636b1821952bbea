//! A client's view of the network: post jobs, follow them, fetch and verify their results from the
//! providers' endpoints, cancel and close them.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use gpushare::state::{Assignment, CreateJobArgs, Job, Provider, Shard};
use gpushare_client::chain::{Chain, FeePolicy, RetryPolicy};
use gpushare_client::ix::{self, Holder, NetworkKeys, Slot};
use gpushare_client::{filters, pda};
use gpushare_engine::shard::Input;
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::error::AppError;
use crate::private::ClientKeys;
use crate::verify::{self, Rejection};

/// Shard closes sent in one transaction when a client closes a job (the last ones go with the job's
/// own close).
const SHARD_CLOSES_PER_TRANSACTION: usize = 8;

/// A job and its started shards, as the chain has them now.
pub struct Progress {
    pub job: Job,
    pub shards: Vec<Shard>,
}

/// A connection to the network as a client.
pub struct ClientSession {
    pub chain: Arc<Chain>,
    pub me: Holder,
    pub net: NetworkKeys,
    /// Its private jobs' keys, from its wallet.
    pub keys: ClientKeys,
}

impl ClientSession {
    /// Connects to `rpc_url` with `wallet`, paying from `token` (default: its associated token account).
    pub async fn open(
        rpc_url: &str,
        wallet: Arc<Keypair>,
        mint: &Pubkey,
        token: Option<Pubkey>,
    ) -> Result<Self, AppError> {
        let chain = Arc::new(Chain::new(
            rpc_url,
            Arc::clone(&wallet),
            RetryPolicy::default(),
            FeePolicy::default(),
        ));
        let net = chain.network_keys(mint).await?;
        let token = token.unwrap_or_else(|| net.associated_token(&wallet.pubkey()));
        let keys = ClientKeys::of_wallet(&wallet);
        Ok(Self {
            keys,
            chain,
            me: Holder {
                authority: wallet.pubkey(),
                token,
            },
            net,
        })
    }

    /// Posts a job and escrows its price; returns its address.
    pub async fn post(&self, args: CreateJobArgs) -> Result<Pubkey, AppError> {
        let job = pda::job(&self.net.network, &self.me.authority, args.job_id);
        self.chain
            .submit(ix::create_job(&self.me, &self.net, args))
            .await?;
        Ok(job)
    }

    /// The job and its started shards, read by address (no listing of the chain).
    pub async fn progress(&self, job: &Pubkey) -> Result<Progress, AppError> {
        let account: Job = self.chain.existing(job).await?;
        let addresses: Vec<Pubkey> = (0..account.shards)
            .filter(|index| account.was_started(*index))
            .map(|index| pda::shard(job, index))
            .collect();
        let shards: Vec<Shard> = self
            .chain
            .accounts::<Shard>(&addresses)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(Progress {
            job: account,
            shards,
        })
    }

    /// Polls until the job's work is finished (or `timeout`), calling `report` on every change; for
    /// a private job, delivers its key to each new claim meanwhile.
    pub async fn watch(
        &self,
        job: &Pubkey,
        timeout: Duration,
        mut report: impl FnMut(&Progress),
    ) -> Result<Progress, AppError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = None;
        loop {
            let progress = self.progress(job).await?;
            let now = self.chain.clock().await?.unix_timestamp;
            self.deliver_keys(job, &progress.job, now).await?;
            let summary = (
                progress.job.shards_started,
                progress.job.shards_settled,
                progress.job.paid_out,
                progress.job.slashes_held,
            );
            if last != Some(summary) {
                report(&progress);
                last = Some(summary);
            }
            if progress.job.work_over(now) {
                return Ok(progress);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(AppError::Timeout(*job));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Cancels a job's unstarted shards; their escrow returns.
    pub async fn cancel(&self, job: &Pubkey) -> Result<(), AppError> {
        self.chain
            .submit(ix::cancel_job(&self.me, &self.net, job))
            .await?;
        Ok(())
    }

    /// Settles every slot of `job` whose outcome is decided but which its provider has not settled
    /// (a provider that went away): pay, slash or release, as the program decides. Returns how many
    /// are still pending.
    pub async fn settle_leftovers(&self, job: &Pubkey) -> Result<usize, AppError> {
        let now = self.chain.clock().await?.unix_timestamp;
        let account: Job = self.chain.existing(job).await?;
        let assignments = self
            .chain
            .program_accounts::<Assignment>(&[(filters::ASSIGNMENT_JOB, job.as_ref())])
            .await?;
        let mut pending = 0;
        for (_, assignment) in assignments {
            let slot = Slot::of(&assignment);
            let shard: Shard = self.chain.existing(&slot.shard()).await?;
            let verdict = assignment.verdict(&shard, &account, now);
            let holder = Holder {
                authority: assignment.authority,
                token: self.net.associated_token(&assignment.authority),
            };
            let Some(instruction) = ix::outcome(&self.net, &slot, &holder, verdict) else {
                pending += 1;
                continue;
            };
            if let Err(error) = self.chain.submit(instruction).await {
                tracing::debug!(%error, "slot not settled (its provider may have settled it)");
            }
        }
        Ok(pending)
    }

    /// Closes a finished job: settles slots left behind, closes its shard accounts (rent to whoever
    /// paid it), then the job — the rest of the escrow returns and the slashes it held are burned — and
    /// collects the fees it left in the fee vault to the treasury.
    pub async fn close(&self, job: &Pubkey) -> Result<(), AppError> {
        self.settle_leftovers(job).await?;
        let progress = self.progress(job).await?;
        let shard_closes: Vec<Instruction> = progress
            .shards
            .iter()
            .filter(|s| s.held_mask == 0)
            .map(|shard| ix::close_shard(job, shard.index, &shard.payer, &self.me.authority))
            .collect();
        let close_job = [
            ix::close_job(&self.net, job, &self.me),
            ix::collect_fees(&self.net),
        ];
        let mut chunks: Vec<&[Instruction]> =
            shard_closes.chunks(SHARD_CLOSES_PER_TRANSACTION).collect();
        let last = chunks.pop().unwrap_or_default();
        let together: Vec<Instruction> = last.iter().chain(&close_job).cloned().collect();
        for chunk in chunks {
            self.send_or_close_one_by_one(chunk).await;
        }
        if let Err(error) = self.chain.send(&together, &[]).await {
            tracing::debug!(%error, "closing the last shards with the job was refused; one by one");
            self.send_or_close_one_by_one(last).await;
            self.chain.send(&close_job, &[]).await?;
        }
        Ok(())
    }

    /// Closes shards in one transaction, or one by one where that is refused (a provider may have
    /// closed one after its job expired).
    async fn send_or_close_one_by_one(&self, closes: &[Instruction]) {
        if self.chain.send(closes, &[]).await.is_ok() {
            return;
        }
        for close in closes {
            if let Err(error) = self.chain.submit(close.clone()).await {
                tracing::debug!(%error, "shard not closed (a provider may have closed it)");
            }
        }
    }

    /// The results endpoints the providers of `shard`'s replicas published on chain.
    async fn published_endpoints(&self, shard: &Shard) -> Result<Vec<String>, AppError> {
        let mut endpoints = Vec::new();
        // `take`, not a slice: the count comes from a node, which may report more than there are.
        for holder in shard.holders.iter().take(usize::from(shard.replicas_open)) {
            if *holder == Pubkey::default() {
                continue;
            }
            if let Some(provider) = self.chain.account::<Provider>(holder).await?
                && !provider.endpoint.is_empty()
                && !endpoints.contains(&provider.endpoint)
            {
                endpoints.push(provider.endpoint);
            }
        }
        Ok(endpoints)
    }

    /// Fetches the output of every shard with a verified result on chain from the first endpoint that
    /// serves one that verifies — those its providers published on chain, then `endpoints` — and
    /// writes it to `out` (when given) as `shard-<index>.bin`. `data` is a data job's input (with
    /// its model, for embeddings). Returns how many shards verified and how many have no verified
    /// result on chain (no quorum, or every replica failed its spot-check). A verified shard that no
    /// endpoint serves correctly is an error.
    pub async fn results(
        &self,
        job: &Pubkey,
        endpoints: &[String],
        data: Option<&Input>,
        out: Option<&Path>,
    ) -> Result<(usize, usize), AppError> {
        let progress = self.progress(job).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AppError::InvalidArgument(format!("http client: {e}")))?;
        let (mut verified, mut unverified) = (0, 0);
        for shard in &progress.shards {
            if shard.accepted_roots().is_empty() {
                unverified += 1;
                continue;
            }
            let mut candidates = self.published_endpoints(shard).await?;
            candidates.extend(
                endpoints
                    .iter()
                    .filter(|e| !candidates.contains(e))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let mut tried = Vec::new();
            let mut found = None;
            for endpoint in &candidates {
                let url = format!(
                    "{}/results/{job}/{}",
                    endpoint.trim_end_matches('/'),
                    shard.index
                );
                let bytes = match http
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                {
                    Ok(response) => match response.bytes().await {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            tried.push(format!("{url}: {e}"));
                            continue;
                        }
                    },
                    Err(e) => {
                        tried.push(format!("{url}: {e}"));
                        continue;
                    }
                };
                // A private shard's output comes sealed to this client; never in plaintext.
                let bytes = match progress.job.private {
                    Some(_) => match self.keys.open_output(job, shard.index, &bytes) {
                        Ok(opened) => opened,
                        Err(refusal) => {
                            tried.push(format!("{url}: {refusal}"));
                            continue;
                        }
                    },
                    None => bytes.to_vec(),
                };
                match verify::verify_shard(&progress.job, shard, &bytes, data) {
                    Ok(()) => {
                        found = Some(bytes);
                        break;
                    }
                    Err(rejection @ Rejection::MissingData) => {
                        return Err(AppError::InvalidArgument(rejection.to_string()));
                    }
                    Err(rejection) => tried.push(format!("{url}: {rejection}")),
                }
            }
            let bytes = found.ok_or_else(|| AppError::Unverified {
                shard: shard.index,
                tried: tried.join("; "),
            })?;
            if let Some(dir) = out {
                let path = dir.join(format!("shard-{}.bin", shard.index));
                std::fs::create_dir_all(dir)
                    .map_err(|e| AppError::io(dir.display().to_string(), e))?;
                std::fs::write(&path, &bytes)
                    .map_err(|e| AppError::io(path.display().to_string(), e))?;
            }
            verified += 1;
        }
        Ok((verified, unverified))
    }
}
