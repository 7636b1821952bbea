//! Private jobs' cryptography on the host (docs/privacy.md). A private job's input is ciphertext
//! under a random data key ([`data`]); the client seals that key to each slot holder's claim key, a
//! key pair the worker makes for one claim and publishes with it ([`envelope`]); the worker serves
//! the shard's output sealed to the client's key, derived from its wallet ([`output`]). Roots and
//! commitments stay over plaintext, so verification is unchanged. Nothing here is home-made: HPKE
//! (RFC 9180) and XChaCha20-Poly1305 from RustCrypto and rust-hpke, SHA-256 for the key commitment.
//! The program never links this crate: it stores keys and envelopes as bytes.

pub mod data;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod output;

pub use data::{DataKey, KEY_COMMITMENT_DOMAIN, SEALED_OVERHEAD, Sealed};
pub use envelope::{ENVELOPE_BYTES, KeyEnvelope, SlotBinding};
pub use error::PrivacyError;
pub use keys::{PUBLIC_KEY_BYTES, SealingKeypair};
pub use output::{open_output, seal_output};
