//! The worker's data directory: one record per held slot (everything needed to finish it — the salt and
//! root above all — written durably *before* the commitment that depends on it is sent), shard outputs
//! (for proofs and for serving results), and downloaded inputs by hash; private jobs' keys
//! ([`keys`]); and the retention rule that keeps it from growing without bound.
use std::io::Write;
use std::path::{Path, PathBuf};

use anchor_lang::prelude::Pubkey;
use serde::{Deserialize, Serialize};

use crate::error::WorkerError;

mod keys;

pub use keys::JobKey;

/// What the worker knows about one slot it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub assignment: String,
    pub job: String,
    pub shard_index: u16,
    pub replica: u8,
    /// Merkle root of the computed output, hex.
    pub root: String,
    /// The commitment's salt, hex; secret until the reveal.
    pub salt: String,
}

impl SlotRecord {
    fn hex32(field: &str, text: &str) -> Result<[u8; 32], WorkerError> {
        hex::decode(text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                WorkerError::Store(format!("record field {field} is not 32 bytes of hex"))
            })
    }

    pub fn root(&self) -> Result<[u8; 32], WorkerError> {
        Self::hex32("root", &self.root)
    }

    pub fn salt(&self) -> Result<[u8; 32], WorkerError> {
        Self::hex32("salt", &self.salt)
    }
}

/// The data directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the data directory at `root`.
    pub fn open(root: &Path) -> Result<Self, WorkerError> {
        for sub in [
            "slots",
            "outputs",
            "inputs",
            keys::CLAIMS_DIR,
            keys::KEYS_DIR,
        ] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| WorkerError::io(&dir, e))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn slot_path(&self, assignment: &Pubkey) -> PathBuf {
        self.root.join("slots").join(format!("{assignment}.json"))
    }

    /// Where the output of shard `shard_index` of `job` is kept.
    pub fn output_path(&self, job: &Pubkey, shard_index: u16) -> PathBuf {
        self.root
            .join("outputs")
            .join(format!("{job}-{shard_index}.bin"))
    }

    /// Where an input with this SHA-256, fetched from `uri`, is kept: by both, so that a copy fetched
    /// from one URI never stands in for another URI that the input policy would refuse.
    pub fn input_path(&self, sha256: &[u8; 32], uri: &str) -> PathBuf {
        let source = <sha2::Sha256 as sha2::Digest>::digest(uri.as_bytes());
        self.root.join("inputs").join(format!(
            "{}-{}",
            hex::encode(sha256),
            hex::encode(&source[..8])
        ))
    }

    /// Writes `record` durably (temporary file, fsync, rename, fsync of the directory).
    pub fn save_slot(&self, assignment: &Pubkey, record: &SlotRecord) -> Result<(), WorkerError> {
        let bytes = serde_json::to_vec_pretty(record)?;
        write_durably(&self.slot_path(assignment), &bytes)
    }

    /// The record of `assignment`, if one was saved.
    pub fn slot(&self, assignment: &Pubkey) -> Result<Option<SlotRecord>, WorkerError> {
        let path = self.slot_path(assignment);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(WorkerError::io(&path, e)),
        }
    }

    /// Forgets a finished slot, and its claim key where it was private.
    pub fn remove_slot(&self, assignment: &Pubkey) -> Result<(), WorkerError> {
        remove_if_present(&self.slot_path(assignment))?;
        self.remove_claim_key(assignment)
    }

    /// Forgets a shard's output.
    pub fn remove_output(&self, job: &Pubkey, shard_index: u16) -> Result<(), WorkerError> {
        remove_if_present(&self.output_path(job, shard_index))
    }

    /// Writes a shard's output durably (sealed where its job is `private`).
    pub fn save_output(
        &self,
        job: &Pubkey,
        shard_index: u16,
        bytes: &[u8],
        private: bool,
    ) -> Result<(), WorkerError> {
        let kept = self.seal_at_rest(job, bytes, private)?;
        write_durably(&self.output_path(job, shard_index), &kept)
    }

    /// A shard's saved output, if any (opened where its job is `private`).
    pub fn output(
        &self,
        job: &Pubkey,
        shard_index: u16,
        private: bool,
    ) -> Result<Option<Vec<u8>>, WorkerError> {
        read_optional(&self.output_path(job, shard_index))?
            .map(|kept| self.open_at_rest(job, kept, private))
            .transpose()
    }
}

/// What the worker still needs from its data directory: the jobs it still knows open on chain, the
/// inputs (by SHA-256) of those jobs, and the slots it still holds. Everything else is removed once
/// it is older than the retention time.
pub struct Needed<'a> {
    pub jobs: &'a std::collections::HashSet<Pubkey>,
    pub inputs: &'a std::collections::HashSet<[u8; 32]>,
    pub slots: &'a std::collections::HashSet<Pubkey>,
}

/// What one pruning removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outputs: usize,
    pub inputs: usize,
    pub records: usize,
    /// Private jobs' data keys and claim keys.
    pub keys: usize,
}

impl Store {
    /// Removes, once last written more than `retention` ago: outputs and data keys of jobs,
    /// downloaded inputs, and records and claim keys of slots not `needed`.
    pub fn prune(
        &self,
        needed: &Needed<'_>,
        retention: std::time::Duration,
    ) -> Result<Pruned, WorkerError> {
        let job_of_output = |name: &str| -> Option<Pubkey> {
            name.strip_suffix(".bin")?.rsplit_once('-')?.0.parse().ok()
        };
        let slot_of_record =
            |name: &str| -> Option<Pubkey> { name.strip_suffix(".json")?.parse().ok() };
        let key_owner = |name: &str| -> Option<Pubkey> { name.strip_suffix(".key")?.parse().ok() };
        let input_of = |name: &str| -> Option<[u8; 32]> {
            hex::decode(name.split('-').next()?).ok()?.try_into().ok()
        };
        Ok(Pruned {
            outputs: self.prune_dir("outputs", retention, |name| {
                job_of_output(name).is_some_and(|job| needed.jobs.contains(&job))
            })?,
            inputs: self.prune_dir("inputs", retention, |name| {
                input_of(name).is_some_and(|sha256| needed.inputs.contains(&sha256))
            })?,
            records: self.prune_dir("slots", retention, |name| {
                slot_of_record(name).is_some_and(|slot| needed.slots.contains(&slot))
            })?,
            keys: self.prune_dir(keys::KEYS_DIR, retention, |name| {
                key_owner(name).is_some_and(|job| needed.jobs.contains(&job))
            })? + self.prune_dir(keys::CLAIMS_DIR, retention, |name| {
                key_owner(name).is_some_and(|slot| needed.slots.contains(&slot))
            })?,
        })
    }

    /// Removes the regular files of `sub` last written more than `retention` ago that `keep`
    /// does not name; returns how many.
    fn prune_dir(
        &self,
        sub: &str,
        retention: std::time::Duration,
        keep: impl Fn(&str) -> bool,
    ) -> Result<usize, WorkerError> {
        let dir = self.root.join(sub);
        let entries = std::fs::read_dir(&dir).map_err(|e| WorkerError::io(&dir, e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| WorkerError::io(&dir, e))?;
            let path = entry.path();
            let metadata = entry.metadata().map_err(|e| WorkerError::io(&path, e))?;
            let old = metadata
                .modified()
                .ok()
                .and_then(|written| written.elapsed().ok())
                .is_some_and(|age| age > retention);
            let name = entry.file_name();
            if metadata.is_file() && old && !keep(&name.to_string_lossy()) {
                remove_if_present(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn remove_if_present(path: &Path) -> Result<(), WorkerError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(WorkerError::io(path, e)),
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, WorkerError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WorkerError::io(path, e)),
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file, never a torn one.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), WorkerError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| WorkerError::io(dir, e))?;
    file.write_all(bytes)
        .map_err(|e| WorkerError::io(path, e))?;
    file.as_file()
        .sync_all()
        .map_err(|e| WorkerError::io(path, e))?;
    file.persist(path)
        .map_err(|e| WorkerError::io(path, e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WorkerError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_removes_only_what_is_old_and_no_longer_needed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (open_job, closed_job) = (Pubkey::new_unique(), Pubkey::new_unique());
        let (held, gone) = (Pubkey::new_unique(), Pubkey::new_unique());
        let record = |slot: &Pubkey| SlotRecord {
            assignment: slot.to_string(),
            job: open_job.to_string(),
            shard_index: 0,
            replica: 0,
            root: hex::encode([1u8; 32]),
            salt: hex::encode([2u8; 32]),
        };
        for job in [open_job, closed_job] {
            store.save_output(&job, 0, b"output", false).unwrap();
        }
        store.save_output(&closed_job, 1, b"young", false).unwrap();
        for slot in [held, gone] {
            store.save_slot(&slot, &record(&slot)).unwrap();
        }
        let input = store.input_path(&[5u8; 32], "file:///a");
        std::fs::write(&input, b"input").unwrap();
        let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
        let mut old = vec![
            store.output_path(&open_job, 0),
            store.output_path(&closed_job, 0),
            input.clone(),
        ];
        old.extend([held, gone].map(|slot| store.slot_path(&slot)));
        for path in &old {
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(day_ago).unwrap();
        }
        let kept_input = store.input_path(&[6u8; 32], "file:///b");
        std::fs::write(&kept_input, b"input of an open job").unwrap();
        let file = std::fs::File::options()
            .write(true)
            .open(&kept_input)
            .unwrap();
        file.set_modified(day_ago).unwrap();
        let needed = Needed {
            jobs: &[open_job].into(),
            inputs: &[[6u8; 32]].into(),
            slots: &[held].into(),
        };
        let hour = std::time::Duration::from_secs(3_600);
        assert_eq!(
            store.prune(&needed, hour).unwrap(),
            Pruned {
                outputs: 1,
                inputs: 1,
                records: 1,
                keys: 0,
            }
        );
        assert!(
            store.output(&open_job, 0, false).unwrap().is_some(),
            "its job is open"
        );
        assert!(
            store.output(&closed_job, 1, false).unwrap().is_some(),
            "young"
        );
        assert!(store.output(&closed_job, 0, false).unwrap().is_none());
        assert!(store.slot(&held).unwrap().is_some() && store.slot(&gone).unwrap().is_none());
        assert!(!input.exists() && kept_input.exists());
        assert_eq!(store.prune(&needed, hour).unwrap(), Pruned::default());

        // A worker restarted on the pruned directory finds what its held slots and open jobs need,
        // and nothing that was pruned.
        drop(store);
        let restarted = Store::open(dir.path()).unwrap();
        assert_eq!(restarted.slot(&held).unwrap(), Some(record(&held)));
        assert!(restarted.slot(&gone).unwrap().is_none());
        assert_eq!(
            restarted.output(&open_job, 0, false).unwrap().as_deref(),
            Some(&b"output"[..])
        );
        assert!(restarted.output(&closed_job, 0, false).unwrap().is_none());
        assert_eq!(std::fs::read(&kept_input).unwrap(), b"input of an open job");
    }

    #[test]
    fn records_survive_reopening_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let assignment = Pubkey::new_unique();
        let record = SlotRecord {
            assignment: assignment.to_string(),
            job: Pubkey::new_unique().to_string(),
            shard_index: 3,
            replica: 1,
            root: hex::encode([7u8; 32]),
            salt: hex::encode([9u8; 32]),
        };
        Store::open(dir.path())
            .unwrap()
            .save_slot(&assignment, &record)
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        let read = store.slot(&assignment).unwrap().unwrap();
        assert_eq!(read, record);
        assert_eq!(read.salt().unwrap(), [9u8; 32]);
        store.remove_slot(&assignment).unwrap();
        assert_eq!(store.slot(&assignment).unwrap(), None);
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let assignment = Pubkey::new_unique();
        std::fs::write(
            dir.path().join("slots").join(format!("{assignment}.json")),
            b"{",
        )
        .unwrap();
        assert!(store.slot(&assignment).is_err());
        let record = SlotRecord {
            assignment: String::new(),
            job: String::new(),
            shard_index: 0,
            replica: 0,
            root: "zz".into(),
            salt: hex::encode([0u8; 31]),
        };
        assert!(matches!(record.root(), Err(WorkerError::Store(_))));
        assert!(matches!(record.salt(), Err(WorkerError::Store(_))));
    }
}
