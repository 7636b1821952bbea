//! A private shard's output as the worker serves it: sealed to the client's key with HPKE (the
//! envelope's suite), its `info` the job and shard, so nobody else can read it and one shard's
//! output cannot pass for another's. The client checks the plaintext against the root on chain as
//! for any job.

use crate::error::PrivacyError;
use crate::keys::{PUBLIC_KEY_BYTES, SealingKeypair, open_sealed, seal_to};

/// What a sealed output's `info` names before the job and shard.
const OUTPUT_DOMAIN: &[u8] = b"gpushare:sealed-output:v1";

fn info(job: &[u8; 32], shard_index: u16) -> Vec<u8> {
    [OUTPUT_DOMAIN, job, &shard_index.to_le_bytes()].concat()
}

/// `enc ‖ ciphertext`: `output` sealed to `client_key` for shard `shard_index` of `job`.
pub fn seal_output(
    output: &[u8],
    client_key: &[u8; PUBLIC_KEY_BYTES],
    job: &[u8; 32],
    shard_index: u16,
) -> Result<Vec<u8>, PrivacyError> {
    seal_to(client_key, &info(job, shard_index), output)
}

/// The output [`seal_output`] sealed, opened with the client's key pair.
pub fn open_output(
    sealed: &[u8],
    client: &SealingKeypair,
    job: &[u8; 32],
    shard_index: u16,
) -> Result<Vec<u8>, PrivacyError> {
    open_sealed(client, &info(job, shard_index), sealed).ok_or(PrivacyError::OutputNotForThisClient)
}
