//! Attacks on the protocol, each played as an adversary would and shown to fail with the honest
//! parties paid and nothing lost (docs/program.md, "Rules learned from attacks").
use gpushare::errors::GpuShareError;
use gpushare::events::{ReplicaProven, SpotCheckFailed};
use gpushare::state::*;
use gpushare_core::kernels::Kernel;
use gpushare_core::spot_check::sample_index;
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::harness::*;
use crate::outputs::{Output, prove_all};

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;
const SEED: [u8; 32] = [5; 32];

fn fee() -> u64 {
    PRICE * u64::from(default_params().fee_bps) / 10_000
}

/// A one-shard spot-checked job of `replicas` replicas on `kernel`, seeded with `SEED`.
fn spot_job(
    env: &mut Env,
    client: &Wallet,
    kernel: Kernel,
    replicas: u8,
    samples: u8,
) -> JobHandle {
    let id = env.next_job_id();
    let mut args = seeded_job(id, 1, replicas, 2, PRICE, env.now() + 86_400);
    args.kernel = KernelSpec::from_core(kernel);
    args.input = JobInput::Seed(SEED);
    args.mode = VerificationMode::SpotCheck { samples };
    env.job_with(client, args)
}

fn assignment(env: &Env, job: &JobHandle, replica: u8) -> Assignment {
    env.fetch(&assignment_address(&shard_address(&job.job, 0), replica))
}

fn shard(env: &Env, job: &JobHandle) -> Shard {
    env.fetch(&shard_address(&job.job, 0))
}

/// Attack 1: a sha256_chain computed once — from any start, or for another job — and reused with
/// only leaf 0 computed for this shard. Every step is keyed by the job's shard, so a pair of leaves
/// from the reused chain is not a step of this one: the first sample past leaf 0 convicts.
#[test]
fn a_reused_sha256_chain_is_caught_and_slashed_for_fraud() {
    let kernel = Kernel::Sha256Chain {
        steps: 512,
        leaf_every: 32,
    };
    let samples = 8;
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let cheat = env.provider(STAKE);
    let earlier = spot_job(&mut env, &client, kernel, 1, samples);
    let target = spot_job(&mut env, &client, kernel, 1, samples);
    // The chain the cheat computed once, for the earlier job; only leaf 0 is computed afresh.
    let mut leaves = Output::honest(kernel, &SEED, &earlier, 1, 0).leaves;
    leaves[0] = Output::honest(kernel, &SEED, &target, 1, 0).leaves[0].clone();
    let reused = Output::new(leaves);

    env.claim(&cheat, &target, 0, 0);
    env.commit(&cheat, &target, 0, 0, reused.root());
    env.warp(2);
    env.reveal(&cheat, &target, 0, 0, reused.root());
    // Samples inside the reused chain first: there every pair of leaves is one step of a real
    // chain, and only the key tells them apart (leaf 1, the seam, would catch an unkeyed reuse too).
    let challenge = assignment(&env, &target, 0).challenge.expect("challenged");
    let leaf_of = |sample| sample_index(&challenge, sample, reused.tree.size());
    let mut proofs = reused.proofs(kernel, &challenge, samples);
    proofs.sort_by_key(|proof| leaf_of(proof.sample) < 2);
    assert!(
        leaf_of(proofs[0].sample) >= 2,
        "some sample lands inside the chain"
    );
    for proof in proofs {
        let ix = env.prove_ix(&cheat, &target, 0, 0, vec![proof]);
        env.send(&[ix], &[&cheat.wallet.key]).expect("prove");
        if !env.events::<SpotCheckFailed>().is_empty() {
            break;
        }
    }
    let failed = env.events::<SpotCheckFailed>();
    assert_eq!(failed.len(), 1, "caught");
    assert!(
        leaf_of(failed[0].sample) >= 2,
        "caught inside the reused chain, by the key alone"
    );
    env.warp(default_params().reveal_window + 1);
    env.settle_shard(&target, 0);
    env.settle_assignment(&cheat, &target, 0, 0);
    assert_eq!(
        env.fetch::<Provider>(&cheat.provider).slashed,
        claim_slash(default_params().fraud_slash_bps)
    );
    env.close_shard(&client, &target, 0);
    env.warp(86_400);
    env.close_job(&client, &target);
    env.close_job(&client, &earlier);
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS,
        "the client pays nothing for fake work"
    );
}

/// Attack 10 (replay): two jobs with the same kernel, seed and shards. The output of one is not the
/// output of the other, because every seeded input derives from the seed and the job's address.
#[test]
fn an_output_computed_for_one_job_fails_in_another() {
    let kernel = Kernel::GemmI8 { m: 8, n: 8, k: 32 };
    let samples = 4;
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (honest, replayer) = (env.provider(STAKE), env.provider(STAKE));
    let first = spot_job(&mut env, &client, kernel, 1, samples);
    let second = spot_job(&mut env, &client, kernel, 1, samples);
    let output = Output::honest(kernel, &SEED, &first, 1, 0);
    assert_ne!(
        output.root(),
        Output::honest(kernel, &SEED, &second, 1, 0).root()
    );

    for (p, job) in [(&honest, &first), (&replayer, &second)] {
        env.claim(p, job, 0, 0);
        env.commit(p, job, 0, 0, output.root());
    }
    env.warp(2);
    for (p, job) in [(&honest, &first), (&replayer, &second)] {
        env.reveal(p, job, 0, 0, output.root());
        prove_all(&mut env, p, job, 0, kernel, &output, samples);
    }
    assert_ne!(shard(&env, &first).passed_mask, 0, "honest work passes");
    assert_ne!(shard(&env, &second).failed_mask, 0, "the replay is caught");
    for (p, job) in [(&honest, &first), (&replayer, &second)] {
        env.settle_shard(job, 0);
        env.settle_assignment(p, job, 0, 0);
    }
    assert_eq!(
        env.balance(&honest.wallet.token),
        WALLET_TOKENS - STAKE + PRICE
    );
    assert_eq!(
        env.fetch::<Provider>(&replayer.provider).slashed,
        claim_slash(default_params().fraud_slash_bps)
    );
}

/// Attack 2: a second replica (a sybil, or a slow GPU) commits long after the first, so that the
/// first's challenge slots have left SlotHashes before reveals open. The first replica's challenge
/// is fixed as soon as its slots exist (by anyone), so it reveals, proves and is paid.
#[test]
fn a_late_replica_cannot_get_an_early_committer_slashed() {
    let kernel = Kernel::Sha256Chain {
        steps: 256,
        leaf_every: 16,
    };
    let samples = 3;
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (honest, sybil) = (env.provider(STAKE), env.provider(STAKE));
    let job = spot_job(&mut env, &client, kernel, 2, samples);
    let output = Output::honest(kernel, &SEED, &job, 1, 0);
    // The same attack on a job where nobody fixes the honest replica's challenge in time.
    let unfixed = spot_job(&mut env, &client, kernel, 2, samples);
    let unfixed_output = Output::honest(kernel, &SEED, &unfixed, 1, 0);
    for (job, output) in [(&job, &output), (&unfixed, &unfixed_output)] {
        env.claim(&honest, job, 0, 0);
        env.claim(&sybil, job, 0, 1);
        env.commit(&honest, job, 0, 0, output.root());
    }

    let early = env.fix_challenge_ix(&job, 0, 0);
    env.assert_refused(&[early], &[], code(GpuShareError::ChallengeNotReady));
    let uncommitted = env.fix_challenge_ix(&job, 0, 1);
    env.assert_refused(&[uncommitted], &[], code(GpuShareError::NotCommitted));
    env.warp(2);
    let fix = env.fix_challenge_ix(&job, 0, 0);
    env.send(&[fix.clone()], &[])
        .expect("anyone fixes the challenge");
    let challenge = assignment(&env, &job, 0).challenge;
    env.assert_refused(&[fix], &[], code(GpuShareError::AlreadyChallenged));

    // The sybil commits 550 s (over 1,300 slots) later: the honest commit's slots are long gone.
    env.warp(550);
    env.commit(&sybil, &unfixed, 0, 1, [9; 32]);
    let too_late = env.reveal_ix(&honest, &unfixed, 0, 0, unfixed_output.root(), honest.salt);
    env.assert_refused(
        &[too_late],
        &[&honest.wallet.key],
        code(GpuShareError::ChallengeUnavailable),
    );
    env.commit(&sybil, &job, 0, 1, [9; 32]);
    env.reveal(&honest, &job, 0, 0, output.root());
    assert_eq!(assignment(&env, &job, 0).challenge, challenge, "unchanged");
    prove_all(&mut env, &honest, &job, 0, kernel, &output, samples);
    assert_eq!(env.events::<ReplicaProven>().len(), 1);
    env.warp(default_params().reveal_window + 1);
    env.settle_shard(&job, 0);
    env.settle_assignment(&honest, &job, 0, 0);
    env.expire(&sybil, &job, 0, 1);
    assert_eq!(
        env.balance(&honest.wallet.token),
        WALLET_TOKENS - STAKE + PRICE
    );
    assert_eq!(env.fetch::<Provider>(&honest.provider).slashed, 0);
    assert_eq!(
        env.fetch::<Provider>(&sybil.provider).slashed,
        claim_slash(default_params().miss_slash_bps)
    );

    let quorum = env.job(&client, 1, 2, 2, PRICE);
    env.claim(&honest, &quorum, 0, 0);
    env.commit(&honest, &quorum, 0, 0, [1; 32]);
    env.warp(2);
    let not_spot_checked = env.fix_challenge_ix(&quorum, 0, 0);
    env.assert_refused(&[not_spot_checked], &[], code(GpuShareError::NotSpotCheck));
}

/// Attacks 5 and 6: with the shortest lifetime a job may have, a late claim could push the reveal
/// past expiry (the client's sybil stalling) or never commit in time (a provider slashed for a claim
/// that could not finish). Such claims are refused; and once the job has expired, a revealed
/// replica waits for its shard to settle instead of being released unpaid.
#[test]
fn claims_that_could_not_finish_are_refused_and_revealed_work_is_paid_after_expiry() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..4).map(|_| env.provider(STAKE)).collect();
    let params = default_params();
    let id = env.next_job_id();
    // The shortest lifetime: a claim, a claim timeout for the replicas after it, and a reveal
    // window and a dispute to settle.
    let mut args = seeded_job(id, 1, 3, 2, PRICE, 0);
    let lifetime = args.min_lifetime(params.reveal_window);
    assert_eq!(lifetime, 2 * 600 + 2 * params.reveal_window);
    args.expires_at = env.now() + lifetime;
    let short = env.create_job_ix(&client, CreateJobArgs {
        expires_at: args.expires_at - 1,
        ..args.clone()
    });
    env.assert_refused(&[short], &[&client.key], code(GpuShareError::InvalidExpiry));
    let job = env.job_with(&client, args);
    env.claim(&providers[0], &job, 0, 0);
    env.claim(&providers[1], &job, 0, 1);
    env.warp(601);
    let stalling = env.claim_ix(&providers[3], &job, 0, 2);
    env.assert_refused(
        &[stalling],
        &[&providers[3].wallet.key],
        code(GpuShareError::ClaimCannotFinish),
    );

    // A replica claimed in time commits at its deadline; the honest two reveal; it does not.
    let id = env.next_job_id();
    let job2 = env.job_with(
        &client,
        seeded_job(id, 1, 3, 2, PRICE, env.now() + lifetime),
    );
    let root = honest_root(&job2.job, 0);
    for (replica, p) in providers[..3].iter().enumerate() {
        env.claim(p, &job2, 0, replica as u8);
    }
    env.commit(&providers[0], &job2, 0, 0, root);
    env.commit(&providers[1], &job2, 0, 1, root);
    env.warp(599);
    env.commit(&providers[2], &job2, 0, 2, [7; 32]);
    env.reveal(&providers[0], &job2, 0, 0, root);
    env.reveal(&providers[1], &job2, 0, 1, root);
    env.warp(lifetime);
    assert!(env.fetch::<Job>(&job2.job).is_expired(env.now()));
    let release = env.settle_assignment_ix(&providers[0], &job2, 0, 0);
    env.assert_refused(
        &[release],
        &[],
        code(GpuShareError::AssignmentNotSettleable),
    );
    env.settle_shard(&job2, 0);
    env.settle_assignment(&providers[0], &job2, 0, 0);
    env.settle_assignment(&providers[1], &job2, 0, 1);
    env.expire(&providers[2], &job2, 0, 2);
    for p in &providers[..2] {
        assert_eq!(env.fetch::<Provider>(&p.provider).completed, 1);
    }
    assert_eq!(
        env.fetch::<Provider>(&providers[2].provider).slashed,
        claim_slash(params.miss_slash_bps),
        "the staller is slashed"
    );
}

/// Attack 7: the authority sets 100 % slashes and a 10 s reveal window in the same transaction as a
/// commit, to take honest providers' stake. Jobs keep the terms they were made with, and changes
/// wait out the network's update delay, which providers can read on chain.
#[test]
fn the_authority_cannot_change_the_terms_of_a_running_job_or_change_them_unannounced() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (honest, second, late) = (
        env.provider(STAKE),
        env.provider(STAKE),
        env.provider(STAKE),
    );
    let job = env.job(&client, 1, 3, 2, PRICE);
    let root = honest_root(&job.job, 0);
    env.claim(&honest, &job, 0, 0);
    env.claim(&second, &job, 0, 1);
    env.claim(&late, &job, 0, 2);
    env.commit(&honest, &job, 0, 0, root);
    env.commit(&second, &job, 0, 1, root);
    let mut harsh = default_params();
    harsh.fraud_slash_bps = 10_000;
    harsh.miss_slash_bps = 10_000;
    harsh.reveal_window = 10;
    harsh.update_delay = 86_400;
    let harsh_now = env.update_network_ix(&env.authority.pubkey(), harsh);
    let commit = env.commit_ix(
        &late,
        &job,
        0,
        2,
        gpushare::commitment::work_commitment(&root, &late.wallet.pubkey(), &late.salt),
    );
    env.send(&[harsh_now, commit], &[&late.wallet.key])
        .expect("update (no delay yet) and commit");
    assert_eq!(env.network_state().params.reveal_window, 10);
    env.warp(60);
    env.reveal(&honest, &job, 0, 0, root);
    env.reveal(&second, &job, 0, 1, root);
    env.warp(default_params().reveal_window);
    env.settle_shard(&job, 0);
    env.settle_assignment(&honest, &job, 0, 0);
    env.settle_assignment(&second, &job, 0, 1);
    env.expire(&late, &job, 0, 2);
    assert_eq!(env.fetch::<Provider>(&honest.provider).completed, 1);
    assert_eq!(
        env.fetch::<Provider>(&late.provider).slashed,
        claim_slash(default_params().miss_slash_bps),
        "the job's own miss share, not 100 %"
    );

    // From now on every change waits a day, and the delay itself cannot be cut short.
    let mut instant = harsh;
    instant.update_delay = 0;
    instant.fee_bps = 2_000;
    let queue = env.update_network_ix(&env.authority.pubkey(), instant);
    env.send(&[queue], &[]).expect("queue");
    let network = env.network_state();
    assert_eq!((network.params, network.pending), (harsh, Some(instant)));
    let apply = env.apply_update_ix();
    env.assert_refused(&[apply.clone()], &[], code(GpuShareError::UpdateNotDue));
    env.warp(86_400);
    env.send(&[apply.clone()], &[])
        .expect("anyone applies a due update");
    assert_eq!(env.network_state().params, instant);
    env.assert_refused(&[apply], &[], code(GpuShareError::NoPendingUpdate));
}

/// Attack 8: anyone but the mint's authority initializing the mint's network (and choosing its
/// treasury) is refused; so is a mint whose freeze authority could freeze every vault.
#[test]
fn only_the_mint_authority_creates_a_network_and_never_on_a_freezable_mint() {
    let mut env = Env::new();
    let squatter = env.wallet(0);
    let mint = Keypair::new();
    env.create_mint(&mint);
    let treasury = env.token_account_of(&mint.pubkey(), &squatter.pubkey(), 0);
    let keys = gpushare_client::ix::NetworkKeys::new(mint.pubkey(), treasury, env.token_program);
    let squat =
        gpushare_client::ix::initialize_network(&squatter.pubkey(), &keys, default_params());
    env.assert_refused(
        &[squat],
        &[&squatter.key],
        code(GpuShareError::NotMintAuthority),
    );

    let freezable = Keypair::new();
    env.create_mint_with_freeze_authority(&freezable);
    let treasury = env.token_account_of(&freezable.pubkey(), &env.authority.pubkey(), 0);
    let ix = env.initialize_network_ix_for(&freezable.pubkey(), &treasury, default_params());
    env.assert_refused(&[ix], &[], code(GpuShareError::FreezableMint));
}

/// Attack 9: the treasury's owner closes it. Fees and slashes wait in the program-owned fee vault,
/// so every job still closes and refunds; the authority names a new treasury to collect.
#[test]
fn a_closed_treasury_blocks_no_refund() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..2).map(|_| env.provider(STAKE)).collect();
    let owner = env.wallet(0);
    let closable = env.token_account(&owner.pubkey(), 0);
    let adopt = env.set_treasury_ix(&env.authority.pubkey(), &closable);
    env.send(&[adopt], &[]).expect("set treasury");
    let close_treasury = spl_token_close(&env, &closable, &owner.pubkey());
    env.send(&[close_treasury], &[&owner.key])
        .expect("the owner closes the treasury");

    let job = env.job(&client, 2, 2, 2, PRICE);
    let root = honest_root(&job.job, 0);
    env.run_shard(&job, 0, &[(&providers[0], root), (&providers[1], root)]);
    env.settle_shard(&job, 0);
    env.settle_assignment(&providers[0], &job, 0, 0);
    env.settle_assignment(&providers[1], &job, 0, 1);
    env.close_shard(&client, &job, 0);
    env.warp(86_400);
    let close = env.close_job_ix(&client, &job);
    env.send(&[close], &[]).expect("close and refund");
    assert_eq!(
        env.balance(&client.token),
        WALLET_TOKENS - 2 * (PRICE + fee()),
        "the unstarted shard is refunded"
    );
    assert_eq!(env.balance(&env.fee_vault), 2 * fee());
    let collect = env.collect_fees_ix();
    assert!(env.send(&[collect], &[]).is_err(), "nowhere to collect to");

    let intruder = env.wallet(0);
    let theirs = env.token_account(&intruder.pubkey(), 0);
    let steal = env.set_treasury_ix(&intruder.pubkey(), &theirs);
    env.assert_refused(
        &[steal],
        &[&intruder.key],
        code(GpuShareError::NotNetworkAuthority),
    );
    let fresh = env.token_account(&env.authority.pubkey(), 0);
    let adopt = env.set_treasury_ix(&env.authority.pubkey(), &fresh);
    env.send(&[adopt], &[]).expect("new treasury");
    let collect = env.collect_fees_ix();
    env.send(&[collect], &[]).expect("collect");
    assert_eq!(env.balance(&fresh), 2 * fee());
    assert_eq!(env.balance(&env.fee_vault), 0);
}

/// A `CloseAccount` of an empty SPL token account, signed by its owner.
fn spl_token_close(
    env: &Env,
    account: &anchor_lang::prelude::Pubkey,
    owner: &anchor_lang::prelude::Pubkey,
) -> anchor_lang::solana_program::instruction::Instruction {
    anchor_spl::token_2022::spl_token_2022::instruction::close_account(
        &env.token_program,
        account,
        owner,
        owner,
        &[],
    )
    .expect("close ix")
}

/// Attack 10 (missed then late): a replica that missed its reveal must not reveal once the roots of
/// the others are public, in the dispute their disagreement opened.
#[test]
fn a_replica_that_missed_its_reveal_cannot_reveal_in_the_dispute() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..3).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 1, 3, 2, PRICE);
    let (root, other) = (honest_root(&job.job, 0), forged_root(&job.job, 0, 0));
    for (replica, p) in providers.iter().enumerate() {
        env.claim(p, &job, 0, replica as u8);
    }
    env.commit(&providers[0], &job, 0, 0, root);
    env.commit(&providers[1], &job, 0, 1, other);
    env.commit(&providers[2], &job, 0, 2, root);
    env.reveal(&providers[0], &job, 0, 0, root);
    env.reveal(&providers[1], &job, 0, 1, other);
    env.warp(default_params().reveal_window + 1);
    env.settle_shard(&job, 0);
    assert!(shard(&env, &job).dispute_slot().is_some(), "disputed");
    let late = env.reveal_ix(&providers[2], &job, 0, 2, root, providers[2].salt);
    env.assert_refused(
        &[late],
        &[&providers[2].wallet.key],
        code(GpuShareError::RevealTooLate),
    );
    env.expire(&providers[2], &job, 0, 2);
    assert_eq!(env.fetch::<Provider>(&providers[2].provider).completed, 0);
    assert_eq!(env.fetch::<Provider>(&providers[2].provider).missed, 1);
}

/// Attack 10 (no way back): a provider that cannot finish gives the claim back early for half a
/// miss, and the slot reopens at once; only the holder may, and only before committing and in time.
#[test]
fn a_claim_given_back_early_costs_half_a_miss_and_reopens_the_slot() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (quitter, next) = (env.provider(STAKE), env.provider(STAKE));
    let job = env.job(&client, 1, 2, 2, PRICE);
    env.claim(&quitter, &job, 0, 0);
    let mut unsigned = env.give_back_ix(&quitter, &job, 0, 0);
    for meta in &mut unsigned.accounts {
        meta.is_signer = false;
    }
    env.assert_refused(&[unsigned], &[], code(GpuShareError::NotHolder));
    let give_back = env.give_back_ix(&quitter, &job, 0, 0);
    env.send(&[give_back], &[&quitter.wallet.key])
        .expect("give back");
    let half_a_miss = claim_slash(default_params().miss_slash_bps / 2);
    let state: Provider = env.fetch(&quitter.provider);
    assert_eq!((state.slashed, state.open_claims), (half_a_miss, 0));
    assert!(half_a_miss < claim_slash(default_params().miss_slash_bps));
    env.claim(&next, &job, 0, 0);

    env.commit(&next, &job, 0, 0, honest_root(&job.job, 0));
    let committed = env.give_back_ix(&next, &job, 0, 0);
    env.assert_refused(
        &[committed],
        &[&next.wallet.key],
        code(GpuShareError::AlreadyCommitted),
    );
    env.claim(&quitter, &job, 0, 1);
    env.warp(601);
    let too_late = env.give_back_ix(&quitter, &job, 0, 1);
    env.assert_refused(
        &[too_late],
        &[&quitter.wallet.key],
        code(GpuShareError::CommitTooLate),
    );
}

/// Attack 10 (clean slate): leaving and registering again keeps the track record.
#[test]
fn registering_again_keeps_the_track_record() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let p = env.provider(STAKE);
    let job = env.job(&client, 1, 2, 2, PRICE);
    env.claim(&p, &job, 0, 0);
    env.warp(601);
    env.expire(&p, &job, 0, 0);
    let before: Provider = env.fetch(&p.provider);
    assert_eq!(before.missed, 1);
    let again = env.register_ix(&p.wallet, STAKE);
    env.assert_refused(
        &[again],
        &[&p.wallet.key],
        code(GpuShareError::ProviderNotEmpty),
    );
    let unstake = env.unstake_ix(&p, before.stake);
    env.send(&[unstake], &[&p.wallet.key]).expect("unstake");
    env.warp(default_params().unbonding_period);
    let withdraw = env.withdraw_ix(&p);
    env.send(&[withdraw], &[&p.wallet.key]).expect("withdraw");
    let close = env.close_provider_ix(&p);
    env.send(&[close], &[&p.wallet.key]).expect("close");
    assert!(!env.exists(&p.vault), "the stake vault closes");
    let register = env.register_ix(&p.wallet, STAKE);
    env.send(&[register], &[&p.wallet.key])
        .expect("register again");
    let after: Provider = env.fetch(&p.provider);
    assert_eq!(
        (
            after.missed,
            after.slashed,
            after.registered_at,
            after.stake
        ),
        (before.missed, before.slashed, before.registered_at, STAKE)
    );
}

/// Attacks 10 and 11: shards too large to hold or prove, and spot-checks whose leaves could not be
/// recomputed within a transaction's compute budget, whose proofs would not fit a transaction, or
/// whose leaves could be guessed, are refused at creation.
#[test]
fn jobs_whose_shards_or_proofs_do_not_fit_are_refused() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let spot = VerificationMode::SpotCheck { samples: 8 };
    let cases: Vec<(KernelSpec, VerificationMode, GpuShareError)> = vec![
        (
            KernelSpec::Sha256Chain {
                steps: 1 << 30,
                leaf_every: 1,
            },
            VerificationMode::Quorum { q: 2 },
            GpuShareError::ShardOutputTooLarge,
        ),
        (
            KernelSpec::GemmI8 {
                m: 1 << 16,
                n: 1 << 16,
                k: 64,
            },
            VerificationMode::Quorum { q: 2 },
            GpuShareError::ShardOutputTooLarge,
        ),
        (
            KernelSpec::GemmI8 {
                m: 64,
                n: 64,
                k: 4_166,
            },
            spot,
            GpuShareError::LeafTooExpensive,
        ),
        (
            KernelSpec::MonteCarlo {
                blocks: 16,
                samples_per_block: 1 << 13,
            },
            spot,
            GpuShareError::LeafTooExpensive,
        ),
        // 2^16 leaves: a chained sample's two paths alone take over a transaction's room.
        (
            KernelSpec::Sha256Chain {
                steps: 1 << 16,
                leaf_every: 1,
            },
            spot,
            GpuShareError::ProofTooLarge,
        ),
        // One sample a block: a leaf is 1 with chance π/4, so all ones passes without computing.
        (
            KernelSpec::MonteCarlo {
                blocks: 64,
                samples_per_block: 1,
            },
            spot,
            GpuShareError::LeavesGuessable,
        ),
    ];
    for (kernel, mode, error) in cases {
        let id = env.next_job_id();
        let mut args = seeded_job(id, 1, 2, 2, PRICE, env.now() + 86_400);
        args.kernel = kernel;
        args.mode = mode;
        let ix = env.create_job_ix(&client, args);
        env.assert_refused(&[ix], &[&client.key], code(error));
    }
    let id = env.next_job_id();
    let mut fits = seeded_job(id, 1, 2, 2, PRICE, env.now() + 86_400);
    fits.kernel = KernelSpec::GemmI8 {
        m: 64,
        n: 64,
        k: 1_024,
    };
    fits.mode = spot;
    env.job_with(&client, fits);
}

/// Attack 4 (the other way round): results are served, and checked, only while the settled shard
/// is on chain, so a griefer closing it early would take them from the client. Until the job
/// expires only its client may close a shard; after that, anyone.
#[test]
fn only_the_client_closes_a_settled_shard_before_expiry() {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers: Vec<ProviderHandle> = (0..2).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 2, 2, 2, PRICE);
    for shard in 0..2 {
        let root = honest_root(&job.job, shard);
        env.run_shard(&job, shard, &[(&providers[0], root), (&providers[1], root)]);
        env.settle_shard(&job, shard);
        env.settle_assignment(&providers[0], &job, shard, 0);
        env.settle_assignment(&providers[1], &job, shard, 1);
    }
    let payer = shard(&env, &job).payer;
    let griefer = env.close_shard_ix(&job, 0, &payer, &env.authority.pubkey());
    env.assert_refused(&[griefer], &[], code(GpuShareError::NotJobClient));
    env.close_shard(&client, &job, 0);
    env.warp(86_400);
    let anyone = env.close_shard_ix(&job, 1, &payer, &env.authority.pubkey());
    env.send(&[anyone], &[]).expect("anyone, after expiry");
    env.close_job(&client, &job);
}

/// A spot-checked shard where one replica passes and another is caught: only the passing root is
/// accepted, so a client never takes the caught replica's bytes as a verified result.
#[test]
fn a_caught_replicas_root_is_never_an_accepted_result() {
    let kernel = Kernel::Sha256Chain {
        steps: 256,
        leaf_every: 16,
    };
    let samples = 4;
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let (honest, faker) = (env.provider(STAKE), env.provider(STAKE));
    let job = spot_job(&mut env, &client, kernel, 2, samples);
    let output = Output::honest(kernel, &SEED, &job, 1, 0);
    let faked = Output::new(
        output
            .leaves
            .iter()
            .map(|leaf| leaf.iter().map(|b| !b).collect())
            .collect(),
    );
    for (replica, (p, out)) in [(&honest, &output), (&faker, &faked)]
        .into_iter()
        .enumerate()
    {
        env.claim(p, &job, 0, replica as u8);
        env.commit(p, &job, 0, replica as u8, out.root());
    }
    env.warp(2);
    for (replica, (p, out)) in [(&honest, &output), (&faker, &faked)]
        .into_iter()
        .enumerate()
    {
        env.reveal(p, &job, 0, replica as u8, out.root());
        prove_all(&mut env, p, &job, replica as u8, kernel, out, samples);
    }
    env.settle_shard(&job, 0);
    let settled = shard(&env, &job);
    assert_eq!((settled.passed_mask, settled.failed_mask), (0b01, 0b10));
    assert_eq!(settled.accepted_roots(), vec![output.root()]);
}
