//! The client's side of private jobs (docs/privacy.md): its keys, derived from its wallet so that it
//! keeps no key file; the input sealed before posting; the data key delivered, sealed, to each claim
//! of its jobs while it waits for them; and its shards' outputs opened.
use anchor_lang::prelude::Pubkey;
use gpushare::state::{Assignment, Job, PrivateTerms};
use gpushare_client::filters;
use gpushare_client::ix::{self, Slot};
use gpushare_privacy::{
    DataKey, ENVELOPE_BYTES, KeyEnvelope, PrivacyError, Sealed, SealingKeypair, SlotBinding,
    open_output,
};
use solana_keypair::Keypair;
use zeroize::Zeroizing;

use crate::error::AppError;
use crate::jobs::ClientSession;

/// A client's private-job keys, all derived from its wallet's seed.
pub struct ClientKeys {
    wallet_seed: Zeroizing<[u8; 32]>,
    /// The key its jobs' outputs are sealed to (published in each private job's terms).
    sealing: SealingKeypair,
}

impl ClientKeys {
    /// The keys of `wallet`.
    pub fn of_wallet(wallet: &Keypair) -> Self {
        let wallet_seed = Zeroizing::new(*wallet.secret_bytes());
        let sealing = SealingKeypair::for_client_wallet(&wallet_seed);
        Self {
            wallet_seed,
            sealing,
        }
    }

    /// The data key of the job at `job` whose key salt is `key_salt`.
    pub fn data_key(&self, job: &Pubkey, key_salt: &[u8; 16]) -> DataKey {
        DataKey::for_job(&self.wallet_seed, &job.to_bytes(), key_salt)
    }

    /// Fresh terms for a private job to be posted at `job`: a new key salt, the commitment to the
    /// key it gives, and this wallet's sealing key.
    pub fn new_terms(&self, job: &Pubkey) -> PrivateTerms {
        let mut key_salt = [0u8; 16];
        rand::fill(&mut key_salt);
        PrivateTerms {
            key_commitment: self.data_key(job, &key_salt).commitment(),
            client_key: self.sealing.public_key(),
            key_salt,
        }
    }

    /// `input` sealed under the data key of the job at `job` posted with `terms`: what providers
    /// download.
    pub fn seal_input(
        &self,
        job: &Pubkey,
        terms: &PrivateTerms,
        input: &[u8],
    ) -> Result<Vec<u8>, PrivacyError> {
        self.data_key(job, &terms.key_salt)
            .seal(Sealed::Input, input)
    }

    /// A shard's output as a provider served it, opened.
    pub fn open_output(
        &self,
        job: &Pubkey,
        shard_index: u16,
        sealed: &[u8],
    ) -> Result<Vec<u8>, PrivacyError> {
        open_output(sealed, &self.sealing, &job.to_bytes(), shard_index)
    }
}

impl ClientSession {
    /// Delivers the data key of private `job` (account `account`), sealed for its slot, to each
    /// claim that published a claim key and has no key yet, while it still may at `now`; returns how many
    /// it delivered. A claim key nothing can be sealed to (a low-order point) gets an envelope of
    /// zeros, which opens for nobody: its holder gives the claim back or misses, and cannot hold
    /// the slot to a free unkeyed lapse.
    pub async fn deliver_keys(
        &self,
        job: &Pubkey,
        account: &Job,
        now: i64,
    ) -> Result<usize, AppError> {
        let Some(terms) = account.private else {
            return Ok(0);
        };
        let assignments = self
            .chain
            .program_accounts::<Assignment>(&[(filters::ASSIGNMENT_JOB, job.as_ref())])
            .await?;
        let key = self.keys.data_key(job, &terms.key_salt);
        let mut delivered = 0;
        for (_, assignment) in assignments {
            let exchange = &assignment.key_exchange;
            let Some(claim_key) = exchange.claim_key else {
                continue;
            };
            if exchange.envelope.is_some() || assignment.check_uncommitted_in_time(now).is_err() {
                continue;
            }
            let binding = SlotBinding {
                job: job.to_bytes(),
                shard_index: assignment.shard_index,
                replica: assignment.replica,
                provider: assignment.provider.to_bytes(),
            };
            let envelope = KeyEnvelope::seal(&key, &claim_key, &binding).unwrap_or_else(|error| {
                tracing::warn!(%job, shard = assignment.shard_index, replica = assignment.replica, %error, "an envelope that opens for nobody for this claim");
                KeyEnvelope([0; ENVELOPE_BYTES])
            });
            let slot = Slot::of(&assignment);
            let delivery = ix::deliver_key(&self.me.authority, &slot, claim_key, envelope.0);
            match self.chain.submit(delivery).await {
                Ok(_) => delivered += 1,
                Err(error) => {
                    tracing::debug!(%job, shard = slot.shard_index, replica = slot.replica, %error, "key not delivered (the claim may have ended)")
                }
            }
        }
        Ok(delivered)
    }
}
