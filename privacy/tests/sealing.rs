//! Each seal opens for its one reader and no one else: the slot holder's envelope, the client's
//! output, the data under its key; a replayed envelope, a wrong key and altered bytes are refused by
//! name.
use gpushare_privacy::data::Sealed;
use gpushare_privacy::{
    DataKey, KeyEnvelope, PrivacyError, SealingKeypair, SlotBinding, open_output, seal_output,
};

fn slot(replica: u8) -> SlotBinding {
    SlotBinding {
        job: [7; 32],
        shard_index: 3,
        replica,
        provider: [9; 32],
    }
}

#[test]
fn the_slot_holder_opens_its_envelope_and_checks_the_key_against_the_job() {
    let key = DataKey::generate();
    let claim = SealingKeypair::generate();
    let envelope = KeyEnvelope::seal(&key, &claim.public_key(), &slot(0)).unwrap();
    let opened = envelope.open(&claim, &slot(0)).unwrap();
    assert_eq!(opened.bytes(), key.bytes());
    assert!(opened.check_commitment(&key.commitment()).is_ok());
}

#[test]
fn an_envelope_opens_for_no_other_slot_key_or_bytes() {
    let key = DataKey::generate();
    let claim = SealingKeypair::generate();
    let envelope = KeyEnvelope::seal(&key, &claim.public_key(), &slot(0)).unwrap();
    // Replayed onto another slot: the same holder's other replica, another job, another provider.
    let other_job = SlotBinding {
        job: [8; 32],
        ..slot(0)
    };
    let other_provider = SlotBinding {
        provider: [1; 32],
        ..slot(0)
    };
    for other in [slot(1), other_job, other_provider] {
        assert_eq!(
            envelope.open(&claim, &other).err(),
            Some(PrivacyError::EnvelopeNotForThisSlot)
        );
    }
    // Another provider's key: a bystander that did not claim.
    let bystander = SealingKeypair::generate();
    assert_eq!(
        envelope.open(&bystander, &slot(0)).err(),
        Some(PrivacyError::EnvelopeNotForThisSlot)
    );
    // Any byte altered.
    for at in [0, 31, 32, 63, 79] {
        let mut altered = envelope;
        altered.0[at] ^= 1;
        assert_eq!(
            altered.open(&claim, &slot(0)).err(),
            Some(PrivacyError::EnvelopeNotForThisSlot),
            "byte {at}"
        );
    }
}

#[test]
fn a_wrong_data_key_is_refused_before_the_data_is_touched() {
    let committed = DataKey::generate();
    let wrong = DataKey::generate();
    assert_eq!(
        wrong.check_commitment(&committed.commitment()).err(),
        Some(PrivacyError::WrongDataKey)
    );
}

#[test]
fn data_opens_under_its_key_and_purpose_only() {
    let key = DataKey::generate();
    let input = b"a client's private texts".to_vec();
    let sealed = key.seal(Sealed::Input, &input).unwrap();
    assert_eq!(key.open(Sealed::Input, &sealed).unwrap(), input);
    // Two seals of the same bytes differ (random nonces).
    assert_ne!(key.seal(Sealed::Input, &input).unwrap(), sealed);
    for at in [0, 23, 24, sealed.len() - 1] {
        let mut altered = sealed.clone();
        altered[at] ^= 1;
        assert_eq!(
            key.open(Sealed::Input, &altered).err(),
            Some(PrivacyError::DataTampered),
            "byte {at}"
        );
    }
    assert_eq!(
        DataKey::generate().open(Sealed::Input, &sealed).err(),
        Some(PrivacyError::DataTampered)
    );
    // A stored output cannot be passed off as an input, nor the reverse.
    assert_eq!(
        key.open(Sealed::StoredOutput, &sealed).err(),
        Some(PrivacyError::DataTampered)
    );
    assert_eq!(
        key.open(Sealed::Input, &sealed[..10]).err(),
        Some(PrivacyError::Malformed("sealed data"))
    );
}

#[test]
fn an_output_opens_for_its_client_job_and_shard_only() {
    let wallet_seed = [5u8; 32];
    let client = SealingKeypair::for_client_wallet(&wallet_seed);
    let output = vec![42u8; 4096];
    let sealed = seal_output(&output, &client.public_key(), &[7; 32], 3).unwrap();
    // The client finds its key again from its wallet alone.
    let again = SealingKeypair::for_client_wallet(&wallet_seed);
    assert_eq!(open_output(&sealed, &again, &[7; 32], 3).unwrap(), output);
    let refused = Some(PrivacyError::OutputNotForThisClient);
    let stranger = SealingKeypair::for_client_wallet(&[6; 32]);
    assert_eq!(open_output(&sealed, &stranger, &[7; 32], 3).err(), refused);
    assert_eq!(open_output(&sealed, &client, &[7; 32], 4).err(), refused);
    assert_eq!(open_output(&sealed, &client, &[8; 32], 3).err(), refused);
    let mut altered = sealed.clone();
    altered[40] ^= 1;
    assert_eq!(open_output(&altered, &client, &[7; 32], 3).err(), refused);
}

#[test]
fn a_claim_key_survives_storage_and_a_low_order_key_takes_no_seal() {
    let claim = SealingKeypair::generate();
    let stored = SealingKeypair::from_secret_bytes(&claim.secret_bytes()).unwrap();
    assert_eq!(stored.public_key(), claim.public_key());
    // X25519's zero point gives an all-zero shared secret, which HPKE refuses.
    assert_eq!(
        KeyEnvelope::seal(&DataKey::generate(), &[0; 32], &slot(0)).err(),
        Some(PrivacyError::UnusableKey)
    );
}

#[test]
fn a_wallet_finds_its_job_key_again_and_nothing_else_shares_it() {
    let (wallet, job, salt) = ([1u8; 32], [2u8; 32], [5u8; 16]);
    let key = DataKey::for_job(&wallet, &job, &salt);
    assert_eq!(DataKey::for_job(&wallet, &job, &salt).bytes(), key.bytes());
    assert_ne!(
        DataKey::for_job(&wallet, &[3; 32], &salt).bytes(),
        key.bytes()
    );
    assert_ne!(DataKey::for_job(&[4; 32], &job, &salt).bytes(), key.bytes());
    // A job posted again at the same address, with a new salt, has a new key.
    assert_ne!(
        DataKey::for_job(&wallet, &job, &[6; 16]).bytes(),
        key.bytes()
    );
    // The wallet's sealing key comes from the same seed under another domain.
    let sealing = SealingKeypair::for_client_wallet(&wallet);
    assert_ne!(sealing.secret_bytes().as_slice(), key.bytes());
}
