//! A private job's terms and each claim's key exchange (docs/privacy.md): what the client commits to
//! at posting, the claim key the holder publishes and the envelope the client delivers to it, and
//! when a claim that never got a working key ends without a slash.
use anchor_lang::prelude::*;

use super::{Assignment, Job, Shard};
use crate::errors::GpuShareError;

/// Bytes of a key envelope (`gpushare_privacy::ENVELOPE_BYTES`): HPKE's encapsulated key, the
/// sealed 32-byte data key and its 16-byte tag.
pub const KEY_ENVELOPE_BYTES: usize = 80;

/// Seconds after its key's delivery in which a holder may give a private claim back without a
/// slash: long enough to open the envelope and the input, too short to hold the slot idle.
pub const KEY_REFUSAL_SECONDS: i64 = 120;

/// What a private job commits to at posting.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct PrivateTerms {
    /// `SHA-256("gpushare:data-key:v1" ‖ data key)`: a holder tells a wrong key from altered data.
    pub key_commitment: [u8; 32],
    /// The client's X25519 public key: a private shard's output is served sealed to it.
    pub client_key: [u8; 32],
    /// Random bytes the client's data key is derived with (`DataKey::for_job`), so that a job
    /// posted again at a closed job's address never has that job's key.
    pub key_salt: [u8; 16],
}

/// One private claim's key exchange, held in its assignment.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct KeyExchange {
    /// The X25519 key the holder made for this claim (`publish_claim_key`).
    pub claim_key: Option<[u8; 32]>,
    /// The data key sealed to the claim key for this slot (`deliver_key`, by the client).
    pub envelope: Option<[u8; KEY_ENVELOPE_BYTES]>,
    /// When the envelope landed; the commit deadline runs from it.
    pub delivered_at: i64,
    /// Whether this claim holds one of its shard's free refusals ([`Shard::reserve_free_refusal`]),
    /// until it commits, refuses or ends.
    pub refusal_reserved: bool,
}

impl KeyExchange {
    /// Whether giving the claim back at `now` would be its free refusal: it holds a reserved
    /// refusal and may still refuse ([`Self::may_refuse`]).
    pub fn refusal_is_free(&self, now: i64) -> bool {
        self.refusal_reserved && self.may_refuse(now)
    }

    /// Whether the holder may still give the claim back without a slash at `now`: the key came less
    /// than [`KEY_REFUSAL_SECONDS`] ago. The chain cannot tell a key that does not work from one
    /// that does, so the refusal is free but short, and public.
    pub fn may_refuse(&self, now: i64) -> bool {
        self.envelope.is_some() && now <= self.delivered_at.saturating_add(KEY_REFUSAL_SECONDS)
    }
}

impl Assignment {
    /// Whether this claim of `job` is private, uncommitted, and waiting on its client: its holder
    /// published a claim key and no key came, so it could not have worked and a lapse releases it
    /// without a slash. A holder that never published one is the one that stalled: it misses.
    pub fn awaits_key(&self, job: &Job) -> bool {
        job.private.is_some()
            && self.commitment.is_none()
            && self.key_exchange.claim_key.is_some()
            && self.key_exchange.envelope.is_none()
    }

    /// Hands the claim's reserved free refusal back to `shard`, if it holds one: it committed, or
    /// ended without refusing its key.
    pub fn return_refusal(&mut self, shard: &mut Shard) {
        if self.key_exchange.refusal_reserved {
            self.key_exchange.refusal_reserved = false;
            shard.free_refusals = shard.free_refusals.saturating_sub(1);
        }
    }

    /// Whether a give-back of this claim at `now` is its free refusal: it holds a reserved refusal
    /// and its key came less than [`KEY_REFUSAL_SECONDS`] ago. The refusal is then spent.
    pub fn spend_refusal(&mut self, now: i64) -> bool {
        let free = self.key_exchange.refusal_is_free(now);
        if free {
            self.key_exchange.refusal_reserved = false;
        }
        free
    }

    /// Refuses a commitment to a private job's claim that never got its key: it cannot be over the
    /// client's data, and a ring could otherwise outvote a keyed replica without ever reading it.
    pub fn check_keyed(&self, job: &Job) -> Result<()> {
        require!(
            job.private.is_none() || self.key_exchange.envelope.is_some(),
            GpuShareError::KeyNotDelivered
        );
        Ok(())
    }
}
