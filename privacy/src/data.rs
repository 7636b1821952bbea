//! A private job's data key: 32 random bytes the client makes per job. It seals the input (and the
//! worker's stored copy of the output) with XChaCha20-Poly1305 under a random 24-byte nonce; the job
//! commits to it on chain with a SHA-256 of the key, so a worker can tell a wrong key from altered
//! data before it computes anything.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::PrivacyError;

/// What the key commitment hashes before the key.
pub const KEY_COMMITMENT_DOMAIN: &[u8] = b"gpushare:data-key:v1";

/// HKDF's salt when a client's data key for a job is derived from its wallet.
const JOB_KEY_DOMAIN: &[u8] = b"gpushare:job-data-key:v1";

/// Bytes of the nonce that leads every sealed blob.
const NONCE_BYTES: usize = 24;

/// Bytes sealing adds to a plaintext: the nonce before it and the 16-byte tag after it. A private
/// job's input is its kernel's input size plus this.
pub const SEALED_OVERHEAD: usize = NONCE_BYTES + 16;

/// What a data key seals, bound as the AEAD's associated data so one can never pass for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealed {
    /// The client's input, as providers download it.
    Input,
    /// A worker's copy of a private shard's output, at rest.
    StoredOutput,
}

impl Sealed {
    fn associated_data(self) -> &'static [u8] {
        match self {
            Sealed::Input => b"gpushare:private-input:v1",
            Sealed::StoredOutput => b"gpushare:stored-output:v1",
        }
    }
}

/// A job's data key (zeroed when dropped).
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut_slice());
        Self(key)
    }

    /// The client's data key for `job` (the job account's address), from the wallet whose ed25519
    /// seed is `wallet_seed` and the job's random `key_salt` (published in its terms): HKDF-SHA256
    /// (RFC 5869) of the seed, salted with this crate's domain, with the job's address and salt as
    /// its info. One key per job, even for a job posted again at a closed job's address, and the
    /// same wallet finds it again from the chain, so the client keeps no key file; a key a provider
    /// opens tells nothing of the seed or of another job's key.
    pub fn for_job(wallet_seed: &[u8; 32], job: &[u8; 32], key_salt: &[u8; 16]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 255 × 32: `expand` cannot fail here.
        let expanded = Hkdf::<Sha256>::new(Some(JOB_KEY_DOMAIN), wallet_seed)
            .expand_multi_info(&[job, key_salt], key.as_mut_slice());
        debug_assert!(expanded.is_ok());
        Self(key)
    }

    /// The key from its bytes (an opened envelope, a stored key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's bytes, to seal or store.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `SHA-256(KEY_COMMITMENT_DOMAIN ‖ key)`: what the job publishes.
    pub fn commitment(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(KEY_COMMITMENT_DOMAIN)
            .chain_update(self.0.as_slice())
            .finalize()
            .into()
    }

    /// This key if the job commits to it, else [`PrivacyError::WrongDataKey`].
    pub fn check_commitment(self, commitment: &[u8; 32]) -> Result<Self, PrivacyError> {
        if self.commitment() == *commitment {
            Ok(self)
        } else {
            Err(PrivacyError::WrongDataKey)
        }
    }

    /// `nonce ‖ XChaCha20-Poly1305(plaintext)` under a random nonce.
    pub fn seal(&self, what: Sealed, plaintext: &[u8]) -> Result<Vec<u8>, PrivacyError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: what.associated_data(),
        };
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| PrivacyError::Malformed("plaintext longer than the cipher allows"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The plaintext of what [`Self::seal`] gave, or [`PrivacyError::DataTampered`].
    pub fn open(&self, what: Sealed, sealed: &[u8]) -> Result<Vec<u8>, PrivacyError> {
        if sealed.len() < NONCE_BYTES {
            return Err(PrivacyError::Malformed("sealed data"));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: what.associated_data(),
        };
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| PrivacyError::DataTampered)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_slice().into())
    }
}
