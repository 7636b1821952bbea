//! A private job's secrets in the data directory (docs/privacy.md): the claim key pair made for each
//! private claim, kept until its slot is finished, and the job's data key once an envelope opened,
//! kept as long as the job's outputs. A private input stays on disk as the ciphertext it was
//! downloaded as, and a private shard's output is sealed under the data key at rest, so the retention
//! rule that removes a job's key leaves nothing of it readable. Key files are written as every file
//! here is, through a temporary file created readable by the worker's user alone.
use std::path::PathBuf;

use anchor_lang::prelude::Pubkey;
use gpushare_privacy::{DataKey, Sealed, SealingKeypair, seal_output};

use super::{Store, read_optional, remove_if_present, write_durably};
use crate::error::WorkerError;

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
        let secret = zeroize::Zeroizing::new(key_bytes(bytes, "a claim key")?);
        Ok(Some(SealingKeypair::from_secret_bytes(&secret)?))
    }

    /// Forgets the claim key pair of `assignment`.
    pub fn remove_claim_key(&self, assignment: &Pubkey) -> Result<(), WorkerError> {
        remove_if_present(&self.claim_key_path(assignment))
    }

    /// Keeps `job`'s data key durably, before anything is computed or saved under it.
    pub fn save_data_key(&self, job: &Pubkey, key: &DataKey) -> Result<(), WorkerError> {
        write_durably(&self.data_key_path(job), key.bytes())
    }

    /// `job`'s data key, if this worker opened one.
    pub fn data_key(&self, job: &Pubkey) -> Result<Option<DataKey>, WorkerError> {
        read_optional(&self.data_key_path(job))?
            .map(|bytes| Ok(DataKey::from_bytes(key_bytes(bytes, "a data key")?)))
            .transpose()
    }

    /// A private shard's output as it is served: sealed to its client's key, never in plaintext;
    /// none where this worker holds no key of the job (it never computed it, or its retention
    /// removed it).
    pub fn sealed_output(
        &self,
        job: &Pubkey,
        shard_index: u16,
        client_key: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, WorkerError> {
        if self.data_key(job)?.is_none() {
            return Ok(None);
        }
        let Some(output) = self.output(job, shard_index)? else {
            return Ok(None);
        };
        let sealed = seal_output(&output, client_key, &job.to_bytes(), shard_index)?;
        Ok(Some(sealed))
    }

    /// `output` as it is kept on disk: sealed under `job`'s data key where the job is private.
    pub(super) fn seal_at_rest(&self, job: &Pubkey, output: &[u8]) -> Result<Vec<u8>, WorkerError> {
        match self.data_key(job)? {
            Some(key) => Ok(key.seal(Sealed::StoredOutput, output)?),
            None => Ok(output.to_vec()),
        }
    }

    /// A kept output opened: under `job`'s data key where the job is private.
    pub(super) fn open_at_rest(&self, job: &Pubkey, kept: Vec<u8>) -> Result<Vec<u8>, WorkerError> {
        match self.data_key(job)? {
            Some(key) => Ok(key.open(Sealed::StoredOutput, &kept)?),
            None => Ok(kept),
        }
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
        let data_key = DataKey::generate();
        store.save_data_key(&job, &data_key).unwrap();
        store.save_output(&job, 0, b"the client's output").unwrap();
        let on_disk = std::fs::read(store.output_path(&job, 0)).unwrap();
        assert!(
            !on_disk.windows(6).any(|w| w == b"output"),
            "sealed at rest"
        );
        assert_eq!(
            store.output(&job, 0).unwrap().unwrap(),
            b"the client's output"
        );
        let client = SealingKeypair::generate();
        let served = store
            .sealed_output(&job, 0, &client.public_key())
            .unwrap()
            .unwrap();
        assert_eq!(
            open_output(&served, &client, &job.to_bytes(), 0).unwrap(),
            b"the client's output"
        );
        let stranger = SealingKeypair::generate();
        assert_eq!(
            open_output(&served, &stranger, &job.to_bytes(), 0).err(),
            Some(PrivacyError::OutputNotForThisClient)
        );
        // Once the job and slot are no longer needed, retention removes both keys; what is left
        // of the output is ciphertext, and nothing is served.
        let nothing = Needed {
            jobs: &Default::default(),
            inputs: &Default::default(),
            slots: &Default::default(),
        };
        let pruned = store.prune(&nothing, std::time::Duration::ZERO).unwrap();
        assert_eq!(pruned.keys, 2);
        assert!(store.claim_key(&slot).unwrap().is_none());
        assert!(store.data_key(&job).unwrap().is_none());
        assert!(
            store
                .sealed_output(&job, 0, &client.public_key())
                .unwrap()
                .is_none()
        );
    }
}
