//! Token conservation as a property: random sequences of instructions (valid or not), delegations,
//! reward claims and slashes included, never change the sum of all token balances but by burning
//! slashes (every account sums to the supply; every slashed token is held or burned); every live
//! escrow equals its deposit minus refunds and payouts plus held slashes, and always covers what is
//! still owed; every stake vault holds exactly the stake behind its provider (active, unbonding and
//! warming, the holders' warming adding up); every reward vault
//! holds at least what its delegators can claim, and no delegation is worth more than its share.
//! `PROPTEST_CASES` sets the number of sequences (default 2,000).
use std::collections::{BTreeMap, BTreeSet};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use gpushare::state::*;
use proptest::prelude::*;

use crate::harness::*;

const CLIENTS: usize = 2;
const PROVIDERS: usize = 4;
const DELEGATORS: usize = 3;
const CASES: u32 = 2_000;
const MAX_LIVE_JOBS: usize = 3;

/// One step of a random sequence. `pick` selects among what exists when the step runs (live jobs,
/// open slots, live assignments), so sequences reach deep states instead of mostly missing.
#[derive(Clone, Debug)]
enum Op {
    CreateJob {
        client: usize,
        shards: u16,
        replicas: u8,
        price: u64,
    },
    Cancel {
        pick: usize,
    },
    Claim {
        provider: usize,
        pick: usize,
    },
    Commit {
        pick: usize,
        honest: bool,
    },
    Reveal {
        pick: usize,
    },
    SettleShard {
        pick: usize,
    },
    SettleAssignment {
        pick: usize,
    },
    Expire {
        pick: usize,
    },
    CloseShard {
        pick: usize,
    },
    CloseJob {
        pick: usize,
    },
    Warp {
        seconds: i64,
    },
    AddStake {
        provider: usize,
        amount: u64,
    },
    /// Warmed stake joins: a delegator's (`delegator` some) or the provider's own.
    Activate {
        provider: usize,
        delegator: Option<usize>,
    },
    Unstake {
        provider: usize,
        amount: u64,
    },
    Withdraw {
        provider: usize,
    },
    GiveBack {
        pick: usize,
    },
    CollectFees,
    Delegate {
        delegator: usize,
        provider: usize,
        amount: u64,
    },
    Undelegate {
        delegator: usize,
        provider: usize,
        amount: u64,
    },
    WithdrawDelegation {
        delegator: usize,
        provider: usize,
    },
    ClaimRewards {
        delegator: usize,
        provider: usize,
    },
    SetCommission {
        provider: usize,
        bps: u16,
    },
    ClaimProviderRewards {
        provider: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let pick = any::<usize>();
    prop_oneof![
        3 => (0..CLIENTS, 1..=3u16, 2..=3u8, 1..=2_000_000u64)
            .prop_map(|(client, shards, replicas, price)| Op::CreateJob { client, shards, replicas, price }),
        3 => pick.prop_map(|pick| Op::Cancel { pick }),
        30 => (0..PROVIDERS, pick).prop_map(|(provider, pick)| Op::Claim { provider, pick }),
        24 => (pick, prop::bool::weighted(0.8)).prop_map(|(pick, honest)| Op::Commit { pick, honest }),
        24 => pick.prop_map(|pick| Op::Reveal { pick }),
        12 => pick.prop_map(|pick| Op::SettleShard { pick }),
        15 => pick.prop_map(|pick| Op::SettleAssignment { pick }),
        6 => pick.prop_map(|pick| Op::Expire { pick }),
        6 => pick.prop_map(|pick| Op::CloseShard { pick }),
        3 => pick.prop_map(|pick| Op::CloseJob { pick }),
        3 => prop_oneof![8 => 1..700i64, 1 => Just(86_400i64), 1 => Just(7 * 86_400i64)]
            .prop_map(|seconds| Op::Warp { seconds }),
        1 => (0..PROVIDERS, 1..1_000_000u64).prop_map(|(provider, amount)| Op::AddStake { provider, amount }),
        1 => (0..PROVIDERS, 1..1_500_000u64).prop_map(|(provider, amount)| Op::Unstake { provider, amount }),
        1 => (0..PROVIDERS).prop_map(|provider| Op::Withdraw { provider }),
        3 => pick.prop_map(|pick| Op::GiveBack { pick }),
        1 => Just(Op::CollectFees),
        4 => (0..DELEGATORS, 0..PROVIDERS, 1..3_000_000u64)
            .prop_map(|(delegator, provider, amount)| Op::Delegate { delegator, provider, amount }),
        2 => (0..DELEGATORS, 0..PROVIDERS, prop_oneof![9 => 1..3_000_000u64, 1 => Just(0u64)])
            .prop_map(|(delegator, provider, amount)| Op::Undelegate { delegator, provider, amount }),
        2 => (0..DELEGATORS, 0..PROVIDERS)
            .prop_map(|(delegator, provider)| Op::WithdrawDelegation { delegator, provider }),
        3 => (0..DELEGATORS, 0..PROVIDERS)
            .prop_map(|(delegator, provider)| Op::ClaimRewards { delegator, provider }),
        1 => (0..PROVIDERS, 0..=6_000u16).prop_map(|(provider, bps)| Op::SetCommission { provider, bps }),
        1 => (0..PROVIDERS).prop_map(|provider| Op::ClaimProviderRewards { provider }),
        3 => (0..PROVIDERS, prop::option::of(0..DELEGATORS))
            .prop_map(|(provider, delegator)| Op::Activate { provider, delegator }),
    ]
}

/// What the model records when an instruction lands.
enum Effect {
    Nothing,
    JobCreated(usize, JobHandle),
    ShardStarted(Pubkey, u16),
    Committed((Pubkey, u16, u8), [u8; 32]),
}

struct Model {
    env: Env,
    clients: Vec<Wallet>,
    providers: Vec<ProviderHandle>,
    delegators: Vec<Wallet>,
    jobs: Vec<(usize, JobHandle)>,
    started: BTreeSet<(Pubkey, u16)>,
    committed_roots: BTreeMap<(Pubkey, u16, u8), [u8; 32]>,
    minted: u64,
}

impl Model {
    fn new() -> Self {
        let mut env = Env::new();
        // Payouts reach delegators over ten minutes, and new stake waits five, so sequences claim,
        // join and leave mid-release and mid-warm-up.
        let params = NetworkParams {
            reward_vesting: 600,
            stake_warmup: 300,
            ..default_params()
        };
        let vesting = env.update_network_ix(&env.authority.pubkey(), params);
        env.send(&[vesting], &[]).expect("vesting period");
        let clients: Vec<Wallet> = (0..CLIENTS).map(|_| env.wallet(WALLET_TOKENS)).collect();
        let providers: Vec<ProviderHandle> =
            (0..PROVIDERS).map(|_| env.provider(1_500_000)).collect();
        let delegators: Vec<Wallet> = (0..DELEGATORS).map(|_| env.wallet(WALLET_TOKENS)).collect();
        let minted = WALLET_TOKENS * (CLIENTS + PROVIDERS + DELEGATORS) as u64;
        Model {
            env,
            clients,
            providers,
            delegators,
            jobs: Vec::new(),
            started: BTreeSet::new(),
            committed_roots: BTreeMap::new(),
            minted,
        }
    }

    /// Picks one of `items`, if there is any.
    fn choose<T: Clone>(items: &[T], pick: usize) -> Option<T> {
        (!items.is_empty()).then(|| items[pick % items.len()].clone())
    }

    /// Jobs whose account is still open.
    fn live_jobs(&self) -> Vec<(usize, JobHandle)> {
        self.jobs
            .iter()
            .copied()
            .filter(|(_, j)| self.env.exists(&j.job))
            .collect()
    }

    /// Existing shard accounts, as (job, shard index).
    fn live_shards(&self) -> Vec<(usize, JobHandle, u16, Shard)> {
        let mut shards = Vec::new();
        for (client, job) in self.live_jobs() {
            let state: Job = self.env.fetch(&job.job);
            for index in 0..state.shards {
                if let Some(shard) = self.env.try_fetch::<Shard>(&shard_address(&job.job, index)) {
                    shards.push((client, job, index, shard));
                }
            }
        }
        shards
    }

    /// Slots a claim could target: every replica slot of every live job's shards.
    fn slots(&self) -> Vec<(JobHandle, u16, u8)> {
        let mut slots = Vec::new();
        for (_, job) in self.live_jobs() {
            let state: Job = self.env.fetch(&job.job);
            for index in 0..state.shards {
                let open = self
                    .env
                    .try_fetch::<Shard>(&shard_address(&job.job, index))
                    .map_or(state.replicas, |s| s.replicas_open);
                slots.extend((0..open).map(|replica| (job, index, replica)));
            }
        }
        slots
    }

    /// Live assignments with the index of their holder in `providers`.
    fn assignments(&self) -> Vec<(JobHandle, u16, u8, usize)> {
        let mut live = Vec::new();
        for (_, job, index, shard) in self.live_shards() {
            for replica in 0..shard.replicas_open {
                if shard.held_mask & (1 << replica) == 0 {
                    continue;
                }
                let holder = shard.holders[usize::from(replica)];
                if let Some(p) = self.providers.iter().position(|p| p.provider == holder) {
                    live.push((job, index, replica, p));
                }
            }
        }
        live
    }

    fn apply(&mut self, op: &Op) {
        if let Op::Warp { seconds } = *op {
            self.env.warp(seconds);
            return;
        }
        let Some((ix, signer, effect)) = self.plan(op) else {
            return;
        };
        let signers: Vec<&solana_keypair::Keypair> = signer.iter().collect();
        if self.env.send(&[ix], &signers).is_err() {
            return;
        }
        match effect {
            Effect::Nothing => {}
            Effect::JobCreated(client, job) => self.jobs.push((client, job)),
            Effect::ShardStarted(job, shard) => {
                self.started.insert((job, shard));
            }
            Effect::Committed(slot, root) => {
                self.committed_roots.insert(slot, root);
            }
        }
    }

    /// The instruction `op` stands for, its extra signer, and what the model records if it lands.
    fn plan(&mut self, op: &Op) -> Option<(Instruction, Option<solana_keypair::Keypair>, Effect)> {
        let signer = |w: &Wallet| Some(w.key.insecure_clone());
        let planned = match *op {
            Op::CreateJob {
                client,
                shards,
                replicas,
                price,
            } => {
                if self.live_jobs().len() >= MAX_LIVE_JOBS {
                    return None;
                }
                let id = self.env.next_job_id();
                let args = seeded_job(id, shards, replicas, 2, price, self.env.now() + 3 * 86_400);
                let c = &self.clients[client];
                let job = job_address(&self.env.network, &c.pubkey(), id);
                let handle = JobHandle {
                    job,
                    vault: escrow_vault_address(&job),
                };
                (
                    self.env.create_job_ix(c, args),
                    signer(c),
                    Effect::JobCreated(client, handle),
                )
            }
            Op::Cancel { pick } => {
                let (client, job) = Self::choose(&self.live_jobs(), pick)?;
                let c = &self.clients[client];
                (self.env.cancel_ix(c, &job), signer(c), Effect::Nothing)
            }
            Op::Claim { provider, pick } => {
                let (job, shard, replica) = Self::choose(&self.slots(), pick)?;
                let p = &self.providers[provider];
                (
                    self.env.claim_ix(p, &job, shard, replica),
                    signer(&p.wallet),
                    Effect::ShardStarted(job.job, shard),
                )
            }
            Op::Commit { pick, honest } => {
                let (job, shard, replica, holder) = Self::choose(&self.assignments(), pick)?;
                let p = &self.providers[holder];
                let root = if honest {
                    honest_root(&job.job, shard)
                } else {
                    forged_root(&job.job, shard, replica)
                };
                let commitment =
                    gpushare::commitment::work_commitment(&root, &p.wallet.pubkey(), &p.salt);
                let ix = self.env.commit_ix(p, &job, shard, replica, commitment);
                (
                    ix,
                    signer(&p.wallet),
                    Effect::Committed((job.job, shard, replica), root),
                )
            }
            Op::Reveal { pick } => {
                let (job, shard, replica, holder) = Self::choose(&self.assignments(), pick)?;
                let p = &self.providers[holder];
                let root = self.committed_roots.get(&(job.job, shard, replica))?;
                (
                    self.env.reveal_ix(p, &job, shard, replica, *root, p.salt),
                    signer(&p.wallet),
                    Effect::Nothing,
                )
            }
            Op::SettleShard { pick } => {
                let (_, job, shard, _) = Self::choose(&self.live_shards(), pick)?;
                (self.env.settle_shard_ix(&job, shard), None, Effect::Nothing)
            }
            Op::SettleAssignment { pick } | Op::Expire { pick } => {
                let (job, shard, replica, holder) = Self::choose(&self.assignments(), pick)?;
                let p = &self.providers[holder];
                let ix = if matches!(op, Op::Expire { .. }) {
                    self.env.expire_ix(p, &job, shard, replica)
                } else {
                    self.env.settle_assignment_ix(p, &job, shard, replica)
                };
                (ix, None, Effect::Nothing)
            }
            Op::CloseShard { pick } => {
                let (client, job, shard, state) = Self::choose(&self.live_shards(), pick)?;
                let c = &self.clients[client];
                let ix = self
                    .env
                    .close_shard_ix(&job, shard, &state.payer, &c.pubkey());
                (ix, signer(c), Effect::Nothing)
            }
            Op::CloseJob { pick } => {
                let (client, job) = Self::choose(&self.live_jobs(), pick)?;
                (
                    self.env.close_job_ix(&self.clients[client], &job),
                    None,
                    Effect::Nothing,
                )
            }
            Op::AddStake { provider, amount } => {
                let p = &self.providers[provider];
                (
                    self.env.add_stake_ix(p, amount),
                    signer(&p.wallet),
                    Effect::Nothing,
                )
            }
            Op::Unstake { provider, amount } => {
                let p = &self.providers[provider];
                (
                    self.env.unstake_ix(p, amount),
                    signer(&p.wallet),
                    Effect::Nothing,
                )
            }
            Op::Withdraw { provider } => {
                let p = &self.providers[provider];
                (self.env.withdraw_ix(p), signer(&p.wallet), Effect::Nothing)
            }
            Op::GiveBack { pick } => {
                let (job, shard, replica, holder) = Self::choose(&self.assignments(), pick)?;
                let p = &self.providers[holder];
                (
                    self.env.give_back_ix(p, &job, shard, replica),
                    signer(&p.wallet),
                    Effect::Nothing,
                )
            }
            Op::CollectFees => (self.env.collect_fees_ix(), None, Effect::Nothing),
            Op::Activate {
                provider,
                delegator,
            } => {
                let p = &self.providers[provider];
                let d = delegator.map(|d| &self.delegators[d]);
                let ix = self.env.activate_ix(p, d);
                (ix, signer(d.unwrap_or(&p.wallet)), Effect::Nothing)
            }
            Op::Delegate {
                delegator,
                provider,
                amount,
            } => {
                let d = &self.delegators[delegator];
                let ix = self.env.delegate_ix(d, &self.providers[provider], amount);
                (ix, signer(d), Effect::Nothing)
            }
            Op::Undelegate {
                delegator,
                provider,
                amount,
            } => {
                let d = &self.delegators[delegator];
                let ix = self.env.undelegate_ix(d, &self.providers[provider], amount);
                (ix, signer(d), Effect::Nothing)
            }
            Op::WithdrawDelegation {
                delegator,
                provider,
            } => {
                let d = &self.delegators[delegator];
                let ix = self
                    .env
                    .withdraw_delegation_ix(d, &self.providers[provider]);
                (ix, signer(d), Effect::Nothing)
            }
            Op::ClaimRewards {
                delegator,
                provider,
            } => {
                let d = &self.delegators[delegator];
                let ix = self.env.claim_rewards_ix(d, &self.providers[provider]);
                (ix, signer(d), Effect::Nothing)
            }
            Op::SetCommission { provider, bps } => {
                let p = &self.providers[provider];
                (
                    self.env.set_commission_ix(p, bps),
                    signer(&p.wallet),
                    Effect::Nothing,
                )
            }
            Op::ClaimProviderRewards { provider } => {
                let p = &self.providers[provider];
                (
                    self.env.claim_provider_rewards_ix(p),
                    signer(&p.wallet),
                    Effect::Nothing,
                )
            }
            Op::Warp { .. } => return None,
        };
        Some(planned)
    }

    fn total_tokens(&self) -> u64 {
        let env = &self.env;
        let wallets = self
            .clients
            .iter()
            .chain(&self.delegators)
            .map(|w| w.token)
            .chain(self.providers.iter().map(|p| p.wallet.token));
        let vaults = self
            .providers
            .iter()
            .flat_map(|p| [p.vault, reward_vault_address(&p.provider)])
            .chain(self.jobs.iter().map(|(_, j)| j.vault));
        wallets
            .chain(vaults)
            .chain([env.treasury, env.fee_vault, env.authority.token])
            .map(|a| env.balance(&a))
            .sum()
    }

    /// Checks that no token is created or destroyed except slashes burned: every account sums to
    /// the mint's supply, and everything ever slashed is either held in a live job's escrow or gone
    /// from the supply.
    fn check_supply(&self) -> Result<(), TestCaseError> {
        let env = &self.env;
        prop_assert_eq!(self.total_tokens(), env.supply());
        let slashed: u64 = self
            .providers
            .iter()
            .map(|p| env.fetch::<Provider>(&p.provider).slashed)
            .sum();
        let held: u64 = self
            .jobs
            .iter()
            .filter_map(|(_, j)| env.try_fetch::<Job>(&j.job))
            .map(|job| job.slashes_held)
            .sum();
        prop_assert_eq!(self.minted - env.supply() + held, slashed);
        Ok(())
    }

    /// Checks each provider's pool: the stake vault holds exactly the active and unbonding stake;
    /// the reward vault at least what every delegation could claim now; the delegations' and the
    /// provider's shares add up, and are worth no more than the stake.
    fn check_pools(&self) -> Result<(), TestCaseError> {
        let env = &self.env;
        for p in &self.providers {
            let provider: Provider = env.fetch(&p.provider);
            prop_assert_eq!(
                env.balance(&p.vault),
                provider.stake + provider.unbonding + provider.warming,
                "stake vault"
            );
            let pool = provider.pool;
            let own = pool.own_owed_at(env.now()).expect("own rewards");
            let (mut claimable, mut shares, mut unbonding_shares, mut worth) =
                (own, 0u128, 0u128, 0u64);
            let mut warming = provider.own_warming.amount;
            for d in &self.delegators {
                let Some(mut delegation) = env.delegation(d, p) else {
                    continue;
                };
                delegation.accrue(&pool, env.now()).expect("accrue");
                claimable += delegation.accrual.owed;
                shares += delegation.shares;
                unbonding_shares += delegation.unbonding_shares;
                warming += delegation.warming.amount;
                worth += tokens_for(delegation.shares, provider.stake, pool.shares).expect("worth");
            }
            prop_assert!(
                env.balance(&reward_vault_address(&p.provider))
                    >= claimable + pool.vesting_at(env.now()),
                "reward vault below what is claimable (the provider's own included) and still vesting"
            );
            prop_assert_eq!(shares, pool.delegated_shares, "delegated shares");
            prop_assert_eq!(warming, provider.warming, "warming stake");
            prop_assert_eq!(
                unbonding_shares + pool.own_unbonding_shares,
                pool.unbonding_shares
            );
            prop_assert!(worth + provider.own_stake().expect("own") <= provider.stake);
        }
        Ok(())
    }

    /// Checks each live job's escrow: exact bookkeeping, and enough for everything still owed.
    fn check_escrows(&self) -> Result<(), TestCaseError> {
        let env = &self.env;
        for (_, handle) in &self.jobs {
            let Some(job) = env.try_fetch::<Job>(&handle.job) else {
                continue;
            };
            let vault = env.balance(&handle.vault);
            let expected = job.escrow_total().expect("escrow") - job.refunded - job.paid_out
                + job.slashes_held;
            prop_assert_eq!(vault, expected, "escrow bookkeeping");
            let per_shard = job.escrow_per_shard().expect("escrow");
            let expired = job.is_expired(env.now());
            let mut owed = job.fees_accrued + job.slashes_held;
            for index in 0..job.shards {
                let address = shard_address(&handle.job, index);
                owed += match env.try_fetch::<Shard>(&address) {
                    None if self.started.contains(&(handle.job, index))
                        || job.cancelled
                        || expired =>
                    {
                        0
                    }
                    None => per_shard,
                    Some(shard) => match shard.phase {
                        ShardPhase::Settled {
                            outcome: ShardOutcome::Quorum { root },
                        } => (0..shard.replicas_open)
                            .filter_map(|r| {
                                env.try_fetch::<Assignment>(&assignment_address(&address, r))
                            })
                            .filter(|a| a.root == Some(root))
                            .map(|_| job.price + job.fee_per_slot)
                            .sum(),
                        ShardPhase::Settled {
                            outcome: ShardOutcome::NoQuorum,
                        } => 0,
                        _ if expired => 0,
                        _ => per_shard,
                    },
                };
            }
            prop_assert!(
                vault >= owed,
                "escrow {} below what is owed {}",
                vault,
                owed
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_instruction_sequences_conserve_tokens_and_keep_escrow_covered(ops in prop::collection::vec(op(), 20..100)) {
        let mut model = Model::new();
        prop_assert_eq!(model.total_tokens(), model.minted);
        for op in &ops {
            model.apply(op);
            model.check_supply().map_err(|e| TestCaseError::fail(format!("{e} after {op:?}")))?;
            model.check_escrows()?;
            model.check_pools()?;
        }
    }
}
