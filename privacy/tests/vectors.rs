//! The primitives against their published test vectors: RFC 9180's A.2.1 (base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305: the suite of every envelope and sealed
//! output) and draft-irtf-cfrg-xchacha-03's A.3.1 (the data key's AEAD). Values as published.
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use gpushare_privacy::SealingKeypair;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, Serializable};

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

fn array(text: &str) -> [u8; 32] {
    bytes(text).try_into().unwrap()
}

const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
const IKM_R: &str = "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df";
const PK_RM: &str = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
const SK_RM: &str = "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb";
const ENC: &str = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
/// Sequence numbers 0 and 1: (aad, ct).
const ENCRYPTIONS: [(&str, &str); 2] = [
    (
        "436f756e742d30",
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
    ),
    (
        "436f756e742d31",
        "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c",
    ),
];

#[test]
fn rfc_9180_a_2_1_derives_the_recipient_key_and_opens_its_encryptions() {
    let (secret, public) = X25519HkdfSha256::derive_keypair(&bytes(IKM_R));
    assert_eq!(secret.to_bytes().as_slice(), bytes(SK_RM));
    assert_eq!(public.to_bytes().as_slice(), bytes(PK_RM));
    // A claim key restored from the published secret has the published public key.
    let restored = SealingKeypair::from_secret_bytes(&array(SK_RM)).unwrap();
    assert_eq!(restored.public_key(), array(PK_RM));
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&bytes(ENC)).unwrap();
    let mut context = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &secret,
        &encapped,
        &bytes(INFO),
    )
    .unwrap();
    for (aad, ct) in ENCRYPTIONS {
        assert_eq!(context.open(&bytes(ct), &bytes(aad)).unwrap(), bytes(PT));
    }
}

#[test]
fn xchacha_draft_a_3_1_seals_as_published() {
    let plaintext = bytes(
        "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73637265656e20776f756c642062652069742e",
    );
    let aad = bytes("50515253c0c1c2c3c4c5c6c7");
    let key = bytes("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let nonce = bytes("404142434445464748494a4b4c4d4e4f5051525354555657");
    let expected = [
        bytes(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e",
        ),
        bytes("c0875924c1c7987947deafd8780acf49"),
    ]
    .concat();
    let cipher = XChaCha20Poly1305::new(key.as_slice().into());
    let payload = Payload {
        msg: &plaintext,
        aad: &aad,
    };
    let sealed = cipher.encrypt(XNonce::from_slice(&nonce), payload).unwrap();
    assert_eq!(sealed, expected);
}
