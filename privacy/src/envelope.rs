//! The key envelope: a job's data key sealed by the client to one slot holder's claim key with HPKE
//! (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305), its `info` the
//! slot it is for. It lands on chain in that slot's assignment; an envelope copied to another slot,
//! or opened with another key, does not open.

use crate::data::DataKey;
use crate::error::PrivacyError;
use crate::keys::{PUBLIC_KEY_BYTES, SealingKeypair, open_sealed, seal_to};

/// Bytes of an envelope: the encapsulated key, the sealed 32-byte data key and its 16-byte tag.
pub const ENVELOPE_BYTES: usize = PUBLIC_KEY_BYTES + 32 + 16;

/// What an envelope's `info` names before the slot.
const ENVELOPE_DOMAIN: &[u8] = b"gpushare:key-envelope:v1";

/// The slot an envelope is for: the job, the shard and replica, and the provider holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotBinding {
    pub job: [u8; 32],
    pub shard_index: u16,
    pub replica: u8,
    pub provider: [u8; 32],
}

impl SlotBinding {
    fn info(&self) -> Vec<u8> {
        [
            ENVELOPE_DOMAIN,
            &self.job,
            &self.shard_index.to_le_bytes(),
            &[self.replica],
            &self.provider,
        ]
        .concat()
    }
}

/// A sealed data key, as the assignment holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEnvelope(pub [u8; ENVELOPE_BYTES]);

impl KeyEnvelope {
    /// Seals `key` to the claim key `claim_key` published for `slot`.
    pub fn seal(
        key: &DataKey,
        claim_key: &[u8; PUBLIC_KEY_BYTES],
        slot: &SlotBinding,
    ) -> Result<Self, PrivacyError> {
        let sealed = seal_to(claim_key, &slot.info(), key.bytes())?;
        let bytes = sealed
            .try_into()
            .map_err(|_| PrivacyError::Malformed("key envelope"))?;
        Ok(Self(bytes))
    }

    /// The data key, opened with the claim key pair `claim` for `slot`.
    pub fn open(
        &self,
        claim: &SealingKeypair,
        slot: &SlotBinding,
    ) -> Result<DataKey, PrivacyError> {
        let key: [u8; 32] = open_sealed(claim, &slot.info(), &self.0)
            .and_then(|key| key.try_into().ok())
            .ok_or(PrivacyError::EnvelopeNotForThisSlot)?;
        Ok(DataKey::from_bytes(key))
    }
}
