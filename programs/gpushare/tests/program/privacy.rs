//! Private jobs' key exchange (docs/privacy.md), played with the real cryptography
//! (gpushare-privacy): a holder publishes a fresh claim key, the client seals the data key to it for
//! that slot, and only that holder opens it. A claim the client never keys lapses without a slash
//! and reopens; a key that does not work is given back free, but only briefly; each refusal is named.
use gpushare::errors::GpuShareError;
use gpushare::events::*;
use gpushare::state::*;
use gpushare_client::ix as client_ix;
use gpushare_privacy::{DataKey, KeyEnvelope, PrivacyError, SealingKeypair, SlotBinding};

use crate::harness::*;

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;

/// A private quorum job over one 8×8×8 gemm_i8 shard's ciphertext, committing to `key`.
fn private_job(env: &mut Env, client: &Wallet, replicas: u8, q: u8, key: &DataKey) -> JobHandle {
    let id = env.next_job_id();
    let mut args = seeded_job(id, 1, replicas, q, PRICE, 0);
    args.kernel = KernelSpec::GemmI8 { m: 8, n: 8, k: 8 };
    args.input = JobInput::Data {
        uri: "https://client.example/input.sealed".into(),
        sha256: [3; 32],
    };
    args.private = Some(PrivateTerms {
        key_commitment: key.commitment(),
        client_key: SealingKeypair::for_client_wallet(&[1; 32]).public_key(),
        key_salt: [2; 16],
    });
    args.expires_at = env.now() + 86_400;
    env.job_with(client, args)
}

fn binding(job: &JobHandle, replica: u8, p: &ProviderHandle) -> SlotBinding {
    SlotBinding {
        job: job.job.to_bytes(),
        shard_index: 0,
        replica,
        provider: p.provider.to_bytes(),
    }
}

/// Claims slot (0, `replica`) and publishes a fresh claim key in the same transaction, as the
/// worker does; returns the key pair.
fn claim_privately(
    env: &mut Env,
    p: &ProviderHandle,
    job: &JobHandle,
    replica: u8,
) -> SealingKeypair {
    let claim_key = SealingKeypair::generate();
    let ixs = [
        env.claim_ix(p, job, 0, replica),
        client_ix::publish_claim_key(
            &p.wallet.pubkey(),
            &slot(job, 0, replica),
            claim_key.public_key(),
        ),
    ];
    env.send(&ixs, &[&p.wallet.key]).expect("claim and publish");
    claim_key
}

fn deliver_ix(
    client: &Wallet,
    job: &JobHandle,
    replica: u8,
    claim_key: [u8; 32],
    envelope: &KeyEnvelope,
) -> anchor_lang::solana_program::instruction::Instruction {
    client_ix::deliver_key(
        &client.pubkey(),
        &slot(job, 0, replica),
        claim_key,
        envelope.0,
    )
}

/// The client seals `key` to the claim key published in slot (0, `replica`) and delivers it.
fn deliver(
    env: &mut Env,
    client: &Wallet,
    job: &JobHandle,
    replica: u8,
    key: &DataKey,
) -> KeyEnvelope {
    let assignment: Assignment = env.fetch(&slot(job, 0, replica).assignment());
    let claim_key = assignment
        .key_exchange
        .claim_key
        .expect("a published claim key");
    let holder = SlotBinding {
        job: job.job.to_bytes(),
        shard_index: 0,
        replica,
        provider: assignment.provider.to_bytes(),
    };
    let envelope = KeyEnvelope::seal(key, &claim_key, &holder).unwrap();
    let ix = deliver_ix(client, job, replica, claim_key, &envelope);
    env.send(&[ix], &[&client.key]).expect("deliver key");
    envelope
}

#[test]
fn each_holder_opens_its_own_envelope_and_the_job_is_paid() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let key = DataKey::generate();
    let job = private_job(&mut env, &client, 3, 2, &key);
    let claim_keys: Vec<SealingKeypair> = (0..3)
        .map(|r| claim_privately(&mut env, &providers[r], &job, r as u8))
        .collect();
    let envelopes: Vec<KeyEnvelope> = (0..3)
        .map(|r| deliver(&mut env, &client, &job, r as u8, &key))
        .collect();
    assert_eq!(env.events::<KeyDelivered>()[0].replica, 2);
    for r in 0..3 {
        let opened = envelopes[r]
            .open(&claim_keys[r], &binding(&job, r as u8, &providers[r]))
            .unwrap()
            .check_commitment(&key.commitment())
            .unwrap();
        assert_eq!(opened.bytes(), key.bytes());
        // Another holder's envelope opens for neither this key nor this slot.
        let other = (r + 1) % 3;
        assert_eq!(
            envelopes[other]
                .open(&claim_keys[r], &binding(&job, r as u8, &providers[r]))
                .err(),
            Some(PrivacyError::EnvelopeNotForThisSlot)
        );
    }
    // A provider that did not claim sees only what the chain holds: the envelopes, sealed.
    let outsider = env.provider(STAKE);
    let bystander = SealingKeypair::generate();
    for (r, envelope) in envelopes.iter().enumerate() {
        assert!(
            envelope
                .open(&bystander, &binding(&job, r as u8, &outsider))
                .is_err()
        );
    }
    let root = honest_root(&job.job, 0);
    for r in 0..3u8 {
        env.commit(&providers[usize::from(r)], &job, 0, r, root);
    }
    for r in 0..3u8 {
        env.reveal(&providers[usize::from(r)], &job, 0, r, root);
    }
    env.settle_shard(&job, 0);
    for r in 0..3u8 {
        env.settle_assignment(&providers[usize::from(r)], &job, 0, r);
        assert_eq!(env.events::<ReplicaPaid>()[0].amount, PRICE);
    }
}

#[test]
fn a_claim_whose_key_never_comes_lapses_without_a_slash_and_reopens() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (waiting, next) = (env.provider(STAKE), env.provider(STAKE));
    let key = DataKey::generate();
    let job = private_job(&mut env, &client, 3, 2, &key);
    claim_privately(&mut env, &waiting, &job, 0);
    env.warp(601);
    env.expire(&waiting, &job, 0, 0);
    assert!(env.events::<ClaimExpired>()[0].reopened);
    let state: Provider = env.fetch(&waiting.provider);
    assert_eq!((state.slashed, state.missed, state.open_claims), (0, 0, 0));
    // A holder that never publishes a claim key stalled the slot itself: it misses.
    let silent = env.provider(STAKE);
    env.claim(&silent, &job, 0, 1);
    env.warp(601);
    env.expire(&silent, &job, 0, 1);
    assert_eq!(
        env.fetch::<Provider>(&silent.provider).slashed,
        claim_slash(default_params().miss_slash_bps)
    );
    // The slot reopens, and a keyed holder that then misses its commit is slashed as any other.
    claim_privately(&mut env, &next, &job, 0);
    deliver(&mut env, &client, &job, 0, &key);
    env.warp(601);
    env.expire(&next, &job, 0, 0);
    let state: Provider = env.fetch(&next.provider);
    assert_eq!(state.slashed, claim_slash(default_params().miss_slash_bps));
}

#[test]
fn the_commit_deadline_runs_from_the_key() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let key = DataKey::generate();
    let job = private_job(&mut env, &client, 3, 2, &key);
    claim_privately(&mut env, &p, &job, 0);
    env.warp(500);
    deliver(&mut env, &client, &job, 0, &key);
    assert_eq!(
        env.events::<KeyDelivered>()[0].commit_deadline,
        env.now() + 600
    );
    env.warp(500);
    env.commit(&p, &job, 0, 0, honest_root(&job.job, 0));
}

#[test]
fn a_key_that_does_not_work_is_given_back_free_but_only_briefly() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (first, second) = (env.provider(STAKE), env.provider(STAKE));
    let key = DataKey::generate();
    let job = private_job(&mut env, &client, 3, 2, &key);
    // The client seals another key than it committed to: the holder sees it and leaves, free.
    let claim_key = claim_privately(&mut env, &first, &job, 0);
    let envelope = deliver(&mut env, &client, &job, 0, &DataKey::generate());
    let opened = envelope
        .open(&claim_key, &binding(&job, 0, &first))
        .unwrap();
    assert_eq!(
        opened.check_commitment(&key.commitment()).err(),
        Some(PrivacyError::WrongDataKey)
    );
    env.warp(60);
    let give_back = env.give_back_ix(&first, &job, 0, 0);
    env.send(&[give_back], &[&first.wallet.key])
        .expect("give back");
    assert_eq!(env.events::<ClaimGivenBack>()[0].slashed, 0);
    assert_eq!(env.fetch::<Provider>(&first.provider).slashed, 0);
    // Past the refusal window, a give-back costs what it costs on any job.
    claim_privately(&mut env, &second, &job, 0);
    deliver(&mut env, &client, &job, 0, &key);
    env.warp(KEY_REFUSAL_SECONDS + 1);
    let give_back = env.give_back_ix(&second, &job, 0, 0);
    env.send(&[give_back], &[&second.wallet.key])
        .expect("give back");
    let half_a_miss = claim_slash(default_params().miss_slash_bps / 2);
    assert_eq!(env.fetch::<Provider>(&second.provider).slashed, half_a_miss);
}

#[test]
fn key_exchange_refusals_are_named_and_change_nothing() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let stranger = env.wallet(WALLET_TOKENS);
    let (p, other) = (env.provider(STAKE), env.provider(STAKE));
    let key = DataKey::generate();
    // A seed cannot be private.
    let id = env.next_job_id();
    let mut seeded = seeded_job(id, 1, 2, 2, PRICE, env.now() + 86_400);
    seeded.private = Some(PrivateTerms {
        key_commitment: key.commitment(),
        client_key: [9; 32],
        key_salt: [0; 16],
    });
    let create = env.create_job_ix(&client, seeded.clone());
    env.assert_refused(
        &[create],
        &[&client.key],
        code(GpuShareError::PrivateJobNeedsData),
    );
    // Nor spot-checked: an embedding spot-check opens whole sequences of its input on chain.
    let id = env.next_job_id();
    let mut checked = seeded_job(id, 1, 2, 2, PRICE, env.now() + 86_400);
    checked.input = JobInput::Data {
        uri: "https://client.example/input.sealed".into(),
        sha256: [3; 32],
    };
    checked.kernel = KernelSpec::GemmI8 { m: 8, n: 8, k: 8 };
    checked.mode = VerificationMode::SpotCheck { samples: 4 };
    checked.private = seeded.private;
    let create = env.create_job_ix(&client, checked);
    env.assert_refused(
        &[create],
        &[&client.key],
        code(GpuShareError::PrivateJobNeedsQuorum),
    );

    let job = private_job(&mut env, &client, 3, 2, &key);
    env.claim(&p, &job, 0, 0);
    // No commitment before the key: it could not be over the client's data.
    let unkeyed = env.commit_ix(&p, &job, 0, 0, [1; 32]);
    env.assert_refused(
        &[unkeyed],
        &[&p.wallet.key],
        code(GpuShareError::KeyNotDelivered),
    );
    let sealed = KeyEnvelope([7; 80]);
    // No claim key yet.
    let early = deliver_ix(&client, &job, 0, [5; 32], &sealed);
    env.assert_refused(&[early], &[&client.key], code(GpuShareError::NoClaimKey));
    // Only the holder publishes, once.
    let by_other = client_ix::publish_claim_key(&other.wallet.pubkey(), &slot(&job, 0, 0), [5; 32]);
    env.assert_refused(
        &[by_other],
        &[&other.wallet.key],
        code(GpuShareError::NotProviderAuthority),
    );
    let publish = client_ix::publish_claim_key(&p.wallet.pubkey(), &slot(&job, 0, 0), [5; 32]);
    env.send(&[publish.clone()], &[&p.wallet.key])
        .expect("publish");
    let again = client_ix::publish_claim_key(&p.wallet.pubkey(), &slot(&job, 0, 0), [6; 32]);
    env.assert_refused(
        &[again],
        &[&p.wallet.key],
        code(GpuShareError::ClaimKeyAlreadyPublished),
    );
    // Only the job's client delivers, once.
    let by_stranger =
        client_ix::deliver_key(&stranger.pubkey(), &slot(&job, 0, 0), [5; 32], sealed.0);
    env.assert_refused(
        &[by_stranger],
        &[&stranger.key],
        code(GpuShareError::NotJobClient),
    );
    // An envelope sealed to another claim key (an earlier claim of this slot) does not land.
    let stale = deliver_ix(&client, &job, 0, [6; 32], &sealed);
    env.assert_refused(&[stale], &[&client.key], code(GpuShareError::WrongClaimKey));
    env.send(
        &[deliver_ix(&client, &job, 0, [5; 32], &sealed)],
        &[&client.key],
    )
    .expect("deliver");
    let replayed = deliver_ix(&client, &job, 0, [5; 32], &KeyEnvelope([8; 80]));
    env.assert_refused(
        &[replayed],
        &[&client.key],
        code(GpuShareError::KeyAlreadyDelivered),
    );
    let kept: Assignment = env.fetch(&slot(&job, 0, 0).assignment());
    assert_eq!(
        (kept.key_exchange.claim_key, kept.key_exchange.envelope),
        (Some([5; 32]), Some([7; 80]))
    );
    // A public job has no key exchange.
    let public = env.job(&client, 1, 2, 2, PRICE);
    env.claim(&other, &public, 0, 0);
    let on_public =
        client_ix::publish_claim_key(&other.wallet.pubkey(), &slot(&public, 0, 0), [5; 32]);
    env.assert_refused(
        &[on_public],
        &[&other.wallet.key],
        code(GpuShareError::NotPrivateJob),
    );
    // A claim key comes with its claim: published later, it would turn a stall into a free lapse.
    let slow_job = private_job(&mut env, &client, 3, 2, &key);
    env.claim(&p, &slow_job, 0, 0);
    env.warp(5);
    let slow = client_ix::publish_claim_key(&p.wallet.pubkey(), &slot(&slow_job, 0, 0), [5; 32]);
    env.assert_refused(
        &[slow],
        &[&p.wallet.key],
        code(GpuShareError::ClaimKeyTooLate),
    );
    // Past the deadline no key lands.
    let late_job = private_job(&mut env, &client, 3, 2, &key);
    let late_key = claim_privately(&mut env, &other, &late_job, 0);
    env.warp(601);
    let late = deliver_ix(&client, &late_job, 0, late_key.public_key(), &sealed);
    env.assert_refused(&[late], &[&client.key], code(GpuShareError::CommitTooLate));
}

#[test]
fn free_refusals_are_reserved_at_the_claim_and_end_at_the_shards_budget() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let key = DataKey::generate();
    let job = private_job(&mut env, &client, 3, 2, &key);
    // An honest holder claims replica 1 first: its free refusal is reserved.
    let honest = env.provider(STAKE);
    let honest_key = claim_privately(&mut env, &honest, &job, 1);
    // An identity then claims replica 0 over and over and refuses each key at once: the two
    // refusals left are free; a claim after them reserves none, and its give-back is paid.
    for _ in 0..2 {
        let member = env.provider(STAKE);
        claim_privately(&mut env, &member, &job, 0);
        deliver(&mut env, &client, &job, 0, &key);
        let give_back = env.give_back_ix(&member, &job, 0, 0);
        env.send(&[give_back], &[&member.wallet.key])
            .expect("refuse");
        assert_eq!(env.fetch::<Provider>(&member.provider).slashed, 0);
    }
    let late = env.provider(STAKE);
    claim_privately(&mut env, &late, &job, 0);
    let unreserved: Assignment = env.fetch(&slot(&job, 0, 0).assignment());
    assert!(!unreserved.key_exchange.refusal_reserved);
    deliver(&mut env, &client, &job, 0, &key);
    let give_back = env.give_back_ix(&late, &job, 0, 0);
    env.send(&[give_back], &[&late.wallet.key])
        .expect("give back");
    assert_eq!(
        env.fetch::<Provider>(&late.provider).slashed,
        claim_slash(default_params().miss_slash_bps / 2)
    );
    // The client now sends the honest holder a key that does not work: its refusal is still free.
    let garbage = KeyEnvelope::seal(
        &DataKey::generate(),
        &honest_key.public_key(),
        &binding(&job, 1, &honest),
    )
    .unwrap();
    let ix = deliver_ix(&client, &job, 1, honest_key.public_key(), &garbage);
    env.send(&[ix], &[&client.key]).expect("deliver");
    let give_back = env.give_back_ix(&honest, &job, 0, 1);
    env.send(&[give_back], &[&honest.wallet.key])
        .expect("refuse");
    assert_eq!(env.fetch::<Provider>(&honest.provider).slashed, 0);
    let shard: Shard = env.fetch(&slot(&job, 0, 0).shard());
    assert_eq!(shard.free_refusals, 3);
}

#[test]
fn a_claim_that_commits_or_lapses_hands_its_refusal_back() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let key = DataKey::generate();
    let job = private_job(&mut env, &client, 3, 2, &key);
    let (keyed, waiting) = (env.provider(STAKE), env.provider(STAKE));
    claim_privately(&mut env, &keyed, &job, 0);
    claim_privately(&mut env, &waiting, &job, 1);
    let reserved = |env: &mut Env| env.fetch::<Shard>(&slot(&job, 0, 0).shard()).free_refusals;
    assert_eq!(reserved(&mut env), 2);
    deliver(&mut env, &client, &job, 0, &key);
    env.commit(&keyed, &job, 0, 0, honest_root(&job.job, 0));
    assert_eq!(reserved(&mut env), 1, "a commitment hands it back");
    env.warp(601);
    env.expire(&waiting, &job, 0, 1);
    assert_eq!(reserved(&mut env), 0, "so does a lapse");
}

#[test]
fn a_private_claim_counts_the_wait_for_its_key_before_the_job_ends() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let key = DataKey::generate();
    let job = private_job(&mut env, &client, 3, 2, &key);
    let state: Job = env.fetch(&job.job);
    // The last moment a public job's shard could start (a claim timeout for this claim, one for
    // the replicas after it): without the key's wait counted, a delivery at the last moment would
    // push the commit deadline past the job's end.
    let last_public_start = state.expires_at - state.settling_seconds() - 2 * state.claim_timeout;
    env.warp(last_public_start - env.now());
    let claim = env.claim_ix(&p, &job, 0, 0);
    env.assert_refused(
        &[claim],
        &[&p.wallet.key],
        code(GpuShareError::ClaimCannotFinish),
    );
}
