//! What can go wrong opening or sealing a private job's bytes: each refusal by name, none of them
//! telling more than which check failed.

/// A refusal of this crate's layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrivacyError {
    /// The envelope does not open under this slot's binding with this claim key: sealed for another
    /// slot (a replayed envelope), to another key, or altered.
    #[error("the key envelope was not sealed for this slot and claim key")]
    EnvelopeNotForThisSlot,
    /// The envelope opened to a key other than the one the job commits to.
    #[error("the delivered data key is not the key the job commits to")]
    WrongDataKey,
    /// The ciphertext does not open under the data key: altered after it was sealed.
    #[error("the private data does not open under its data key: it was altered")]
    DataTampered,
    /// A sealed output does not open with the client's key for this job and shard.
    #[error("the sealed output does not open with this client's key for this job and shard")]
    OutputNotForThisClient,
    /// Bytes too short or of the wrong length for what they claim to be.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A public key that X25519 refuses (a low-order point): nothing can be sealed to it.
    #[error("the public key cannot be sealed to")]
    UnusableKey,
}

impl PrivacyError {
    /// A short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            PrivacyError::EnvelopeNotForThisSlot => "envelope_not_for_this_slot",
            PrivacyError::WrongDataKey => "wrong_data_key",
            PrivacyError::DataTampered => "data_tampered",
            PrivacyError::OutputNotForThisClient => "output_not_for_this_client",
            PrivacyError::Malformed(_) => "malformed",
            PrivacyError::UnusableKey => "unusable_key",
        }
    }
}
