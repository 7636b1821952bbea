//! A private job's secrets in the data directory (docs/privacy.md): the claim key pair made for each
//! private claim, kept until its slot is finished, and the job's key once an envelope opened (the
//! data key with the client key its outputs are sealed to), kept as long as the job's outputs. A
//! private input stays on disk as the ciphertext it was downloaded as, and a private shard's output
//! is sealed under the data key at rest, so the retention rule that removes a job's key leaves
//! nothing of it readable. Key files are written as every file
//! here is, through a temporary file created readable by the worker's user alone.
use std::path::PathBuf;

use anchor_lang::prelude::Pubkey;
use gpushare_privacy::{DataKey, Sealed, SealingKeypair, seal_output};
use zeroize::Zeroizing;

use super::{Store, read_optional, remove_if_present, write_durably};
use crate::error::WorkerError;

/// A private job's key as this worker opened it.
pub struct JobKey {
    /// The data key, checked against the job's commitment when it was opened.
    pub data: DataKey,
    /// The client key the job's outputs are served sealed to, kept from the terms the key was
    /// opened under: the endpoint never takes it from the chain again.
    pub client_key: [u8; 32],
}

/// The directory of claim key pairs, by assignment.
pub(super) const CLAIMS_DIR: &str = "claims";
/// The directory of data keys, by job.
pub(super) const KEYS_DIR: &str = "keys";

fn key_bytes(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], WorkerError> {
    bytes
        .try_into()
        .map_err(|_| WorkerError::Store(format!("{what} is not 32 bytes")))
}

impl Store {
    fn claim_key_path(&self, assignment: &Pubkey) -> PathBuf {
        self.root.join(CLAIMS_DIR).join(format!("{assignment}.key"))
    }

    fn data_key_path(&self, job: &Pubkey) -> PathBuf {
        self.root.join(KEYS_DIR).join(format!("{job}.key"))
    }

    /// Keeps the claim key pair of `assignment` durably, before the claim that publishes it is sent.
    pub fn save_claim_key(
        &self,
        assignment: &Pubkey,
        claim_key: &SealingKeypair,
    ) -> Result<(), WorkerError> {
        write_durably(
            &self.claim_key_path(assignment),
            claim_key.secret_bytes().as_slice(),
        )
    }

    /// The claim key pair of `assignment`, if one was kept.
    pub fn claim_key(&self, assignment: &Pubkey) -> Result<Option<SealingKeypair>, WorkerError> {
        let Some(bytes) = read_optional(&self.claim_key_path(assignment))? else {
            return Ok(None);
        };
        let secret = Zeroizing::new(key_bytes(bytes, "a claim key")?);
        Ok(Some(SealingKeypair::from_secret_bytes(&secret)?))
    }

    /// Forgets the claim key pair of `assignment`.
    pub fn remove_claim_key(&self, assignment: &Pubkey) -> Result<(), WorkerError> {
        remove_if_present(&self.claim_key_path(assignment))
    }

    /// Keeps `job`'s key durably, before anything is computed or saved under it.
    pub fn save_job_key(&self, job: &Pubkey, key: &JobKey) -> Result<(), WorkerError> {
        let bytes = Zeroizing::new([key.data.bytes().as_slice(), &key.client_key].concat());
        write_durably(&self.data_key_path(job), &bytes)
    }

    /// `job`'s key, if this worker opened one.
    pub fn job_key(&self, job: &Pubkey) -> Result<Option<JobKey>, WorkerError> {
        let Some(bytes) = read_optional(&self.data_key_path(job))? else {
            return Ok(None);
        };
        let bytes = Zeroizing::new(bytes);
        let (data, client_key) = bytes
            .split_first_chunk::<32>()
            .and_then(|(data, rest)| Some((*data, *rest.first_chunk::<32>()?)))
            .ok_or_else(|| WorkerError::Store(format!("the key of job {job} is not 64 bytes")))?;
        Ok(Some(JobKey {
            data: DataKey::from_bytes(data),
            client_key,
        }))
    }

    /// A private shard's output as it is served: opened with the job's `key` (as [`Store::job_key`]
    /// read it) and sealed to the client key kept with it, never in plaintext; none where this
    /// worker kept no output of the shard.
    pub fn sealed_output(
        &self,
        job: &Pubkey,
        shard_index: u16,
        key: &JobKey,
    ) -> Result<Option<Vec<u8>>, WorkerError> {
        let Some(kept) = read_optional(&self.output_path(job, shard_index))? else {
            return Ok(None);
        };
        let output = key.data.open(Sealed::StoredOutput, &kept)?;
        let sealed = seal_output(&output, &key.client_key, &job.to_bytes(), shard_index)?;
        Ok(Some(sealed))
    }

    /// `output` as it is kept on disk: sealed under `job`'s data key where it is `private`
    /// ([`WorkerError::NoDataKey`] without one: a private output is never written in plaintext).
    pub(super) fn seal_at_rest(
        &self,
        job: &Pubkey,
        output: &[u8],
        private: bool,
    ) -> Result<Vec<u8>, WorkerError> {
        if !private {
            // A key kept from a private job once at this address is not this job's.
            remove_if_present(&self.data_key_path(job))?;
            return Ok(output.to_vec());
        }
        let key = self.job_key(job)?.ok_or(WorkerError::NoDataKey(*job))?;
        Ok(key.data.seal(Sealed::StoredOutput, output)?)
    }

    /// A kept output opened: under `job`'s data key where it is `private`.
    pub(super) fn open_at_rest(
        &self,
        job: &Pubkey,
        kept: Vec<u8>,
        private: bool,
    ) -> Result<Vec<u8>, WorkerError> {
        if !private {
            return Ok(kept);
        }
        let key = self.job_key(job)?.ok_or(WorkerError::NoDataKey(*job))?;
        Ok(key.data.open(Sealed::StoredOutput, &kept)?)
    }
}

#[cfg(test)]
mod tests {
    use gpushare_privacy::{PrivacyError, open_output};

    use super::*;
    use crate::store::Needed;

    #[test]
    fn a_private_output_is_sealed_at_rest_served_to_its_client_and_unreadable_once_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (job, slot) = (Pubkey::new_unique(), Pubkey::new_unique());
        let claim_key = SealingKeypair::generate();
        store.save_claim_key(&slot, &claim_key).unwrap();
        let kept = store.claim_key(&slot).unwrap().unwrap();
        assert_eq!(kept.public_key(), claim_key.public_key());
        // No private output is written before its key is kept.
        let output = b"the client's output";
        assert!(matches!(
            store.save_output(&job, 0, output, true),
            Err(WorkerError::NoDataKey(_))
        ));
        let client = SealingKeypair::generate();
        let key = JobKey {
            data: DataKey::generate(),
            client_key: client.public_key(),
        };
        store.save_job_key(&job, &key).unwrap();
        store.save_output(&job, 0, output, true).unwrap();
        let on_disk = std::fs::read(store.output_path(&job, 0)).unwrap();
        assert!(
            !on_disk.windows(6).any(|w| w == b"output"),
            "sealed at rest"
        );
        assert_eq!(store.output(&job, 0, true).unwrap().unwrap(), output);
        let served = store.sealed_output(&job, 0, &key).unwrap().unwrap();
        assert_eq!(
            open_output(&served, &client, &job.to_bytes(), 0).unwrap(),
            output
        );
        let stranger = SealingKeypair::generate();
        assert_eq!(
            open_output(&served, &stranger, &job.to_bytes(), 0).err(),
            Some(PrivacyError::OutputNotForThisClient)
        );
        // Once the job and slot are no longer needed, retention removes both keys and the output:
        // the endpoint, which serves a private output only through its job's key, serves nothing.
        let nothing = Needed {
            jobs: &Default::default(),
            inputs: &Default::default(),
            slots: &Default::default(),
        };
        let pruned = store.prune(&nothing, std::time::Duration::ZERO).unwrap();
        assert_eq!(pruned.keys, 2);
        assert!(store.claim_key(&slot).unwrap().is_none());
        assert!(store.job_key(&job).unwrap().is_none());
        assert!(store.output(&job, 0, true).unwrap().is_none());
    }
}
