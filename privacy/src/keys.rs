//! X25519 key pairs for HPKE: a worker's claim key (random, one per claim, kept only as long as the
//! job's data) and a client's key (derived from its wallet, so nothing new to keep).

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::error::PrivacyError;

/// The KEM of every seal here: DHKEM(X25519, HKDF-SHA256).
pub type SealingKem = X25519HkdfSha256;

/// Bytes of an X25519 public key (and of an HPKE encapsulated key).
pub const PUBLIC_KEY_BYTES: usize = 32;

/// What a client's wallet seed is extended with before RFC 9180's `DeriveKeyPair`, so the key is
/// the client's sealing key and nothing else.
const CLIENT_KEY_DOMAIN: &[u8] = b"gpushare:client-sealing-key:v1";

/// An X25519 key pair that envelopes and outputs are sealed to.
pub struct SealingKeypair {
    secret: <SealingKem as Kem>::PrivateKey,
    public: <SealingKem as Kem>::PublicKey,
}

impl SealingKeypair {
    /// A fresh random key pair (a worker's claim key).
    pub fn generate() -> Self {
        let (secret, public) = SealingKem::gen_keypair(&mut rand::rng());
        Self { secret, public }
    }

    /// The client's key pair for the wallet whose ed25519 seed is `wallet_seed`: RFC 9180's
    /// `DeriveKeyPair` of the seed under this crate's domain, so the same wallet always finds it.
    pub fn for_client_wallet(wallet_seed: &[u8; 32]) -> Self {
        let ikm = Zeroizing::new([CLIENT_KEY_DOMAIN, wallet_seed.as_slice()].concat());
        let (secret, public) = SealingKem::derive_keypair(&ikm);
        Self { secret, public }
    }

    /// A key pair from its stored secret (what [`Self::secret_bytes`] gave).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Result<Self, PrivacyError> {
        let secret = <SealingKem as Kem>::PrivateKey::from_bytes(secret)
            .map_err(|_| PrivacyError::Malformed("secret key"))?;
        let public = SealingKem::sk_to_pk(&secret);
        Ok(Self { secret, public })
    }

    /// The secret, to store (zeroed when dropped).
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    /// The public key, as published on chain.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.public.to_bytes().into()
    }
}

/// `enc ‖ ciphertext`: `plaintext` sealed to `recipient` by HPKE's single shot (RFC 9180 base
/// mode, this crate's suite) with `info`; [`PrivacyError::UnusableKey`] for a key nothing can be
/// sealed to.
pub(crate) fn seal_to(
    recipient: &[u8; PUBLIC_KEY_BYTES],
    info: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, PrivacyError> {
    let recipient = <SealingKem as Kem>::PublicKey::from_bytes(recipient)
        .map_err(|_| PrivacyError::UnusableKey)?;
    let (encapped, sealed) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, SealingKem, _>(
        &OpModeS::Base,
        &recipient,
        info,
        plaintext,
        &[],
        &mut rand::rng(),
    )
    .map_err(|_| PrivacyError::UnusableKey)?;
    Ok([encapped.to_bytes().as_slice(), &sealed].concat())
}

/// The plaintext of what [`seal_to`] sealed to `recipient` with `info`, or `None` when it does not
/// open (another key, another `info`, altered or short bytes).
pub(crate) fn open_sealed(
    recipient: &SealingKeypair,
    info: &[u8],
    sealed: &[u8],
) -> Option<Vec<u8>> {
    let (encapped, ciphertext) = sealed.split_at_checked(PUBLIC_KEY_BYTES)?;
    let encapped = <SealingKem as Kem>::EncappedKey::from_bytes(encapped).ok()?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, SealingKem>(
        &OpModeR::Base,
        &recipient.secret,
        &encapped,
        info,
        ciphertext,
        &[],
    )
    .ok()
}
