//! Bad inputs: each is refused with its named error and changes nothing.
use anchor_lang::error::ErrorCode as AnchorError;
use gpushare::commitment::work_commitment;
use gpushare::errors::GpuShareError;
use gpushare::state::*;

use crate::harness::*;

const PRICE: u64 = 1_000_000;
const STAKE: u64 = 2_000_000;

struct World {
    env: Env,
    client: Wallet,
    providers: Vec<ProviderHandle>,
    job: JobHandle,
}

/// A network with a client, three providers and one open 2-shard × 2-replica job.
fn world() -> World {
    let mut env = Env::new();
    let client = env.wallet(WALLET_TOKENS);
    let providers = (0..3).map(|_| env.provider(STAKE)).collect();
    let job = env.job(&client, 2, 2, 2, PRICE);
    World {
        env,
        client,
        providers,
        job,
    }
}

fn args(env: &mut Env) -> CreateJobArgs {
    let id = env.next_job_id();
    seeded_job(id, 2, 3, 2, PRICE, env.now() + 86_400)
}

#[test]
fn only_the_authority_updates_the_network_and_only_within_bounds() {
    let World {
        mut env, providers, ..
    } = world();
    let intruder = &providers[0].wallet;
    let update = env.update_network_ix(&intruder.pubkey(), default_params());
    env.assert_refused(
        &[update],
        &[&intruder.key],
        code(GpuShareError::NotNetworkAuthority),
    );
    let authority = env.authority.pubkey();
    let bad: [(NetworkParams, GpuShareError); 5] = [
        (
            NetworkParams {
                fee_bps: 2_001,
                ..default_params()
            },
            GpuShareError::FeeTooHigh,
        ),
        (
            NetworkParams {
                fraud_slash_bps: 10_001,
                ..default_params()
            },
            GpuShareError::InvalidSlashShare,
        ),
        (
            NetworkParams {
                min_stake: 0,
                ..default_params()
            },
            GpuShareError::InvalidStakeParams,
        ),
        (
            NetworkParams {
                reveal_window: 0,
                ..default_params()
            },
            GpuShareError::InvalidWindow,
        ),
        (
            NetworkParams {
                max_replicas: 0,
                ..default_params()
            },
            GpuShareError::InvalidCaps,
        ),
    ];
    for (params, error) in bad {
        let update = env.update_network_ix(&authority, params);
        env.assert_refused(&[update], &[], code(error));
    }
    let update = env.update_network_ix(
        &authority,
        NetworkParams {
            fee_bps: 100,
            ..default_params()
        },
    );
    env.send(&[update], &[]).expect("valid update");
    assert_eq!(env.network_state().params.fee_bps, 100);
}

/// An embedding job's kernel over `sequences` sequences of `tokens` ids in all (a made-up model).
fn embedding(sequences: u32, tokens: u32) -> KernelSpec {
    KernelSpec::Embedding {
        model: [7; 32],
        batch: [8; 32],
        dims: 384,
        sequences,
        tokens,
    }
}

fn data_input() -> JobInput {
    JobInput::Data {
        uri: "https://example.org/tokens.bin".into(),
        sha256: [0; 32],
    }
}

#[test]
fn zero_oversized_or_inconsistent_job_parameters_are_refused() {
    let World {
        mut env, client, ..
    } = world();
    let cases: Vec<(JobArgsMutation, GpuShareError)> = vec![
        (Box::new(|a| a.shards = 0), GpuShareError::InvalidShardCount),
        (
            Box::new(|a| a.shards = 65),
            GpuShareError::InvalidShardCount,
        ),
        (
            Box::new(|a| a.kernel = KernelSpec::GemmI8 { m: 1, n: 8, k: 8 }),
            GpuShareError::InvalidShardCount,
        ),
        (
            Box::new(|a| a.replicas = 0),
            GpuShareError::InvalidReplicaCount,
        ),
        (
            Box::new(|a| a.replicas = 6),
            GpuShareError::InvalidReplicaCount,
        ),
        (
            Box::new(|a| a.mode = VerificationMode::Quorum { q: 1 }),
            GpuShareError::InvalidQuorum,
        ),
        (
            Box::new(|a| a.mode = VerificationMode::Quorum { q: 4 }),
            GpuShareError::InvalidQuorum,
        ),
        (
            Box::new(|a| {
                a.replicas = 4;
                a.mode = VerificationMode::Quorum { q: 2 }
            }),
            GpuShareError::InvalidQuorum,
        ),
        (Box::new(|a| a.price = 0), GpuShareError::InvalidPrice),
        (
            Box::new(|a| a.price = u64::MAX / 4),
            GpuShareError::MathOverflow,
        ),
        (
            Box::new(|a| a.kernel = KernelSpec::GemmI8 { m: 8, n: 0, k: 8 }),
            GpuShareError::InvalidKernelSpec,
        ),
        (
            Box::new(|a| {
                a.kernel = KernelSpec::GemmI8 {
                    m: 8,
                    n: 8,
                    k: 1 << 17,
                }
            }),
            GpuShareError::InvalidKernelSpec,
        ),
        (
            Box::new(|a| {
                a.kernel = KernelSpec::Sha256Chain {
                    steps: 1000,
                    leaf_every: 3,
                }
            }),
            GpuShareError::InvalidKernelSpec,
        ),
        (
            Box::new(|a| {
                a.kernel = KernelSpec::MonteCarlo {
                    blocks: 4,
                    samples_per_block: 0,
                }
            }),
            GpuShareError::InvalidKernelSpec,
        ),
        (
            Box::new(|a| {
                a.kernel = KernelSpec::Sha256Chain {
                    steps: 1024,
                    leaf_every: 16,
                };
                a.input = JobInput::Data {
                    uri: "https://example.org/a.bin".into(),
                    sha256: [0; 32],
                };
            }),
            GpuShareError::InvalidInput,
        ),
        (
            Box::new(|a| {
                a.input = JobInput::Data {
                    uri: String::new(),
                    sha256: [0; 32],
                }
            }),
            GpuShareError::InvalidInput,
        ),
        (
            Box::new(|a| a.kernel = embedding(4, 20)),
            GpuShareError::InvalidInput,
        ),
        (
            Box::new(|a| {
                a.kernel = embedding(4, 20);
                a.input = data_input();
                a.replicas = 1;
                a.mode = VerificationMode::SpotCheck { samples: 8 };
            }),
            GpuShareError::EmbeddingSpotCheckRefused,
        ),
        (
            Box::new(|a| {
                a.kernel = embedding(4, 3);
                a.input = data_input();
            }),
            GpuShareError::InvalidKernelSpec,
        ),
        (
            Box::new(|a| {
                a.kernel = embedding(4, 4 * 512 + 1);
                a.input = data_input();
            }),
            GpuShareError::InvalidKernelSpec,
        ),
        (
            Box::new(|a| {
                a.kernel = embedding(1, 20);
                a.input = data_input();
                a.shards = 2;
            }),
            GpuShareError::InvalidShardCount,
        ),
        (
            Box::new(|a| a.claim_timeout = 5),
            GpuShareError::InvalidWindow,
        ),
        (
            Box::new(|a| a.claim_timeout = 3_601),
            GpuShareError::InvalidWindow,
        ),
        (Box::new(|a| a.expires_at = 0), GpuShareError::InvalidExpiry),
        (
            Box::new(|a| a.expires_at = i64::MAX / 2),
            GpuShareError::InvalidExpiry,
        ),
    ];
    for (mutate, error) in cases {
        let mut bad = args(&mut env);
        mutate(&mut bad);
        let create = env.create_job_ix(&client, bad.clone());
        env.assert_refused(&[create], &[&client.key], code(error));
    }
}

#[test]
fn foreign_mint_and_foreign_vaults_are_refused() {
    let World {
        mut env,
        client,
        providers,
        job,
    } = world();
    let foreign = env.foreign_token_account(&client.pubkey(), WALLET_TOKENS);
    let stranger = Wallet {
        key: client.key.insecure_clone(),
        token: foreign,
    };
    let a = args(&mut env);
    let create = env.create_job_ix(&stranger, a);
    env.assert_refused(&[create], &[&client.key], code(GpuShareError::WrongMint));

    let not_theirs = Wallet {
        key: client.key.insecure_clone(),
        token: providers[0].wallet.token,
    };
    let a = args(&mut env);
    let create = env.create_job_ix(&not_theirs, a);
    env.assert_refused(
        &[create],
        &[&client.key],
        code(GpuShareError::WrongTokenOwner),
    );

    let other_job = env.job(&client, 1, 2, 2, PRICE);
    let p = &providers[0];
    let root = honest_root(&job.job, 0);
    env.run_shard(&job, 0, &[(&providers[0], root), (&providers[1], root)]);
    env.settle_shard(&job, 0);
    let mut settle = env.settle_assignment_ix(p, &job, 0, 0);
    settle.accounts[7].pubkey = other_job.vault;
    env.assert_refused(&[settle], &[], code(AnchorError::ConstraintSeeds));
    let mut settle = env.settle_assignment_ix(p, &job, 0, 0);
    settle.accounts[6].pubkey = providers[1].vault;
    env.assert_refused(&[settle], &[], code(AnchorError::ConstraintSeeds));
    let mut settle = env.settle_assignment_ix(p, &job, 0, 0);
    settle.accounts[9].pubkey = providers[1].wallet.token;
    env.assert_refused(&[settle], &[], code(GpuShareError::WrongTokenOwner));
    let mut settle = env.settle_assignment_ix(p, &job, 0, 0);
    settle.accounts[10].pubkey = providers[1].wallet.pubkey();
    env.assert_refused(&[settle], &[], code(GpuShareError::WrongRentReceiver));
    let mut close = env.close_job_ix(&client, &other_job);
    close.accounts[6].pubkey = providers[2].wallet.token;
    env.assert_refused(&[close], &[], code(AnchorError::ConstraintSeeds));
}

#[test]
fn foreign_pdas_are_refused() {
    let World {
        mut env,
        client,
        providers,
        job,
    } = world();
    let other_job = env.job(&client, 2, 2, 2, PRICE);
    let p = &providers[0];
    env.claim(p, &other_job, 0, 0);
    env.claim(p, &job, 0, 0);
    let mut claim = env.claim_ix(p, &job, 1, 0);
    claim.accounts[4].pubkey = shard_address(&other_job.job, 0);
    env.assert_refused(
        &[claim],
        &[&p.wallet.key],
        code(AnchorError::ConstraintSeeds),
    );
    let mut commit = env.commit_ix(p, &job, 0, 0, [1; 32]);
    commit.accounts[3].pubkey = shard_address(&other_job.job, 0);
    env.assert_refused(
        &[commit],
        &[&p.wallet.key],
        code(AnchorError::ConstraintSeeds),
    );
    let mut settle = env.settle_shard_ix(&job, 0);
    settle.accounts[1].pubkey = shard_address(&other_job.job, 0);
    env.assert_refused(&[settle], &[], code(AnchorError::ConstraintSeeds));
    let mut register = env.register_ix(&providers[1].wallet, STAKE);
    register.accounts[3].pubkey = p.provider;
    env.assert_refused(
        &[register],
        &[&providers[1].wallet.key],
        code(AnchorError::ConstraintSeeds),
    );
}

#[test]
fn wrong_signers_are_refused() {
    let World {
        mut env,
        client,
        providers,
        job,
    } = world();
    let (owner, thief) = (&providers[0], &providers[1]);
    env.claim(owner, &job, 0, 0);
    let mut commit = env.commit_ix(owner, &job, 0, 0, [1; 32]);
    commit.accounts[0].pubkey = thief.wallet.pubkey();
    env.assert_refused(
        &[commit],
        &[&thief.wallet.key],
        code(GpuShareError::NotProviderAuthority),
    );
    let mut cancel = env.cancel_ix(&client, &job);
    cancel.accounts[0].pubkey = thief.wallet.pubkey();
    env.assert_refused(
        &[cancel],
        &[&thief.wallet.key],
        code(GpuShareError::NotJobClient),
    );
    let mut unstake = env.unstake_ix(owner, 1);
    unstake.accounts[0].pubkey = thief.wallet.pubkey();
    env.assert_refused(
        &[unstake],
        &[&thief.wallet.key],
        code(AnchorError::ConstraintSeeds),
    );
}

#[test]
fn a_slot_has_one_holder_and_a_provider_one_replica_per_shard() {
    let World {
        mut env,
        providers,
        job,
        ..
    } = world();
    env.claim(&providers[0], &job, 0, 0);
    let taken = env.claim_ix(&providers[1], &job, 0, 0);
    env.assert_refused(
        &[taken],
        &[&providers[1].wallet.key],
        code(GpuShareError::SlotTaken),
    );
    let twice = env.claim_ix(&providers[0], &job, 0, 1);
    env.assert_refused(
        &[twice],
        &[&providers[0].wallet.key],
        code(GpuShareError::AlreadyHoldsReplica),
    );
    let outside = env.claim_ix(&providers[1], &job, 0, 2);
    env.assert_refused(
        &[outside],
        &[&providers[1].wallet.key],
        code(GpuShareError::InvalidReplicaIndex),
    );
    let no_shard = env.claim_ix(&providers[1], &job, 2, 0);
    env.assert_refused(
        &[no_shard],
        &[&providers[1].wallet.key],
        code(GpuShareError::InvalidShardIndex),
    );
    let new_shard_outside = env.claim_ix(&providers[1], &job, 1, 2);
    env.assert_refused(
        &[new_shard_outside],
        &[&providers[1].wallet.key],
        code(GpuShareError::InvalidReplicaIndex),
    );
}

#[test]
fn reveals_must_match_their_own_commitment() {
    let World {
        mut env,
        providers,
        job,
        ..
    } = world();
    let (honest, copier) = (&providers[0], &providers[1]);
    let root = honest_root(&job.job, 0);
    env.claim(honest, &job, 0, 0);
    env.claim(copier, &job, 0, 1);
    env.commit(honest, &job, 0, 0, root);
    let copied = work_commitment(&root, &honest.wallet.pubkey(), &honest.salt);
    let copy = env.commit_ix(copier, &job, 0, 1, copied);
    env.send(&[copy], &[&copier.wallet.key])
        .expect("a copied commitment lands");
    let again = env.commit_ix(copier, &job, 0, 1, copied);
    env.assert_refused(
        &[again],
        &[&copier.wallet.key],
        code(GpuShareError::AlreadyCommitted),
    );

    let wrong_root = env.reveal_ix(honest, &job, 0, 0, forged_root(&job.job, 0, 0), honest.salt);
    env.assert_refused(
        &[wrong_root],
        &[&honest.wallet.key],
        code(GpuShareError::CommitmentMismatch),
    );
    let wrong_salt = env.reveal_ix(honest, &job, 0, 0, root, [9; 32]);
    env.assert_refused(
        &[wrong_salt],
        &[&honest.wallet.key],
        code(GpuShareError::CommitmentMismatch),
    );
    let copied_reveal = env.reveal_ix(copier, &job, 0, 1, root, honest.salt);
    env.assert_refused(
        &[copied_reveal],
        &[&copier.wallet.key],
        code(GpuShareError::CommitmentMismatch),
    );
    env.reveal(honest, &job, 0, 0, root);
    let twice = env.reveal_ix(honest, &job, 0, 0, root, honest.salt);
    env.assert_refused(
        &[twice],
        &[&honest.wallet.key],
        code(GpuShareError::AlreadyRevealed),
    );
}

#[test]
fn late_commits_and_reveals_are_refused() {
    let World {
        mut env,
        providers,
        job,
        ..
    } = world();
    let root = honest_root(&job.job, 0);
    env.claim(&providers[0], &job, 0, 0);
    env.claim(&providers[1], &job, 0, 1);
    let early_reveal = env.reveal_ix(&providers[0], &job, 0, 0, root, providers[0].salt);
    env.assert_refused(
        &[early_reveal],
        &[&providers[0].wallet.key],
        code(GpuShareError::NotCommitted),
    );
    env.commit(&providers[0], &job, 0, 0, root);
    let not_open = env.reveal_ix(&providers[0], &job, 0, 0, root, providers[0].salt);
    env.assert_refused(
        &[not_open],
        &[&providers[0].wallet.key],
        code(GpuShareError::RevealNotOpen),
    );
    env.warp(601);
    let commitment = work_commitment(&root, &providers[1].wallet.pubkey(), &providers[1].salt);
    let late = env.commit_ix(&providers[1], &job, 0, 1, commitment);
    env.assert_refused(
        &[late],
        &[&providers[1].wallet.key],
        code(GpuShareError::CommitTooLate),
    );

    env.claim(&providers[0], &job, 1, 0);
    env.claim(&providers[1], &job, 1, 1);
    let root = honest_root(&job.job, 1);
    env.commit(&providers[0], &job, 1, 0, root);
    env.commit(&providers[1], &job, 1, 1, root);
    env.warp(default_params().reveal_window + 1);
    let late = env.reveal_ix(&providers[0], &job, 1, 0, root, providers[0].salt);
    env.assert_refused(
        &[late],
        &[&providers[0].wallet.key],
        code(GpuShareError::RevealTooLate),
    );
}

#[test]
fn settling_and_closing_before_time_are_refused() {
    let World {
        mut env,
        client,
        providers,
        job,
    } = world();
    let root = honest_root(&job.job, 0);
    env.claim(&providers[0], &job, 0, 0);
    env.claim(&providers[1], &job, 0, 1);
    let settle = env.settle_shard_ix(&job, 0);
    env.assert_refused(&[settle.clone()], &[], code(GpuShareError::SettleTooEarly));
    let expire = env.expire_ix(&providers[0], &job, 0, 0);
    env.assert_refused(&[expire], &[], code(GpuShareError::NotMissed));
    env.commit(&providers[0], &job, 0, 0, root);
    env.commit(&providers[1], &job, 0, 1, root);
    env.reveal(&providers[0], &job, 0, 0, root);
    env.assert_refused(&[settle.clone()], &[], code(GpuShareError::SettleTooEarly));
    let assignment = env.settle_assignment_ix(&providers[0], &job, 0, 0);
    env.assert_refused(
        &[assignment],
        &[],
        code(GpuShareError::AssignmentNotSettleable),
    );
    let close_shard = env.close_shard_ix(
        &job,
        0,
        &providers[0].wallet.pubkey(),
        &env.authority.pubkey(),
    );
    env.assert_refused(&[close_shard], &[], code(GpuShareError::ShardStillOpen));
    let close_job = env.close_job_ix(&client, &job);
    env.assert_refused(&[close_job], &[], code(GpuShareError::JobStillOpen));
    env.reveal(&providers[1], &job, 0, 1, root);
    env.settle_shard(&job, 0);
    env.assert_refused(&[settle], &[], code(GpuShareError::ShardAlreadySettled));
    let close_shard = env.close_shard_ix(
        &job,
        0,
        &providers[0].wallet.pubkey(),
        &env.authority.pubkey(),
    );
    env.assert_refused(&[close_shard], &[], code(GpuShareError::ShardStillOpen));
}

#[test]
fn registering_below_the_minimum_stake_is_refused() {
    let mut env = Env::new();
    let wallet = env.wallet(WALLET_TOKENS);
    let register = env.register_ix(&wallet, default_params().min_stake - 1);
    env.assert_refused(
        &[register],
        &[&wallet.key],
        code(GpuShareError::StakeBelowMinimum),
    );
}

#[test]
fn claims_after_expiry_and_double_cancels_are_refused() {
    let World {
        mut env,
        client,
        providers,
        job,
    } = world();
    let cancel = env.cancel_ix(&client, &job);
    env.send(&[cancel.clone()], &[&client.key]).expect("cancel");
    env.assert_refused(&[cancel], &[&client.key], code(GpuShareError::JobCancelled));
    let other = env.job(&client, 1, 2, 2, PRICE);
    env.warp(86_400);
    let claim = env.claim_ix(&providers[0], &other, 0, 0);
    env.assert_refused(
        &[claim],
        &[&providers[0].wallet.key],
        code(GpuShareError::JobExpired),
    );
}

#[test]
fn token_2022_mints_that_could_move_or_freeze_escrow_are_refused() {
    use anchor_spl::token_2022::spl_token_2022::{
        self, extension::ExtensionType, instruction as token_ix,
    };
    let mut env = Env::with_token_program(spl_token_2022::ID);
    let payer = env.authority.pubkey();
    let mint_with = |env: &mut Env, extensions: &[ExtensionType]| {
        let mint = solana_keypair::Keypair::new();
        let len =
            ExtensionType::try_calculate_account_len::<spl_token_2022::state::Mint>(extensions)
                .unwrap();
        let rent = env.svm.minimum_balance_for_rent_exemption(len);
        let mut ixs = vec![solana_system_interface::instruction::create_account(
            &payer,
            &solana_signer::Signer::pubkey(&mint),
            rent,
            len as u64,
            &spl_token_2022::ID,
        )];
        let key = solana_signer::Signer::pubkey(&mint);
        for extension in extensions {
            ixs.push(match extension {
                ExtensionType::PermanentDelegate => {
                    token_ix::initialize_permanent_delegate(&spl_token_2022::ID, &key, &payer)
                        .unwrap()
                }
                ExtensionType::MintCloseAuthority => token_ix::initialize_mint_close_authority(
                    &spl_token_2022::ID,
                    &key,
                    Some(&payer),
                )
                .unwrap(),
                other => panic!("no set-up for {other:?}"),
            });
        }
        ixs.push(
            token_ix::initialize_mint2(&spl_token_2022::ID, &key, &payer, None, DECIMALS).unwrap(),
        );
        env.send(&ixs, &[&mint]).expect("mint with extensions");
        let treasury = env.token_account_of(&key, &payer, 0);
        (key, treasury)
    };
    for (extensions, refused) in [
        (vec![ExtensionType::PermanentDelegate], true),
        (
            vec![
                ExtensionType::MintCloseAuthority,
                ExtensionType::PermanentDelegate,
            ],
            true,
        ),
        (vec![ExtensionType::MintCloseAuthority], false),
    ] {
        let (mint, treasury) = mint_with(&mut env, &extensions);
        let ix = env.initialize_network_ix_for(&mint, &treasury, default_params());
        if refused {
            env.assert_refused(&[ix], &[], code(GpuShareError::UnsupportedMintExtension));
        } else {
            env.send(&[ix], &[])
                .expect("a mint with only a close authority is fine");
        }
    }
}
