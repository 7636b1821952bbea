//! The work commitment a provider posts before revealing: binds the root to the provider's key.
use anchor_lang::prelude::Pubkey;

use crate::constants::COMMIT_DOMAIN;

/// `sha256(COMMIT_DOMAIN ‖ root ‖ provider ‖ salt)`.
pub fn work_commitment(root: &[u8; 32], provider: &Pubkey, salt: &[u8; 32]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[COMMIT_DOMAIN, root, provider.as_ref(), salt]).to_bytes()
}
