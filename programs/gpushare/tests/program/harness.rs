//! Test world: a LiteSVM with the gpushare builtin, the real SPL Token / Token-2022 programs, a
//! network, and builders for every instruction.
use std::collections::BTreeMap;

use anchor_lang::AccountDeserialize;
use anchor_lang::prelude::{Clock, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use anchor_spl::token_2022::spl_token_2022;
use base64::Engine;
use gpushare::commitment::work_commitment;
use gpushare::state::*;
use gpushare_client::compute_budget;
use gpushare_client::ix::{self as client_ix, Holder, NetworkKeys, Slot};
/// The program's addresses, under the names the tests use.
pub use gpushare_client::pda::{
    assignment as assignment_address, benchmark as benchmark_address,
    delegation as delegation_address, escrow_vault as escrow_vault_address,
    fee_vault as fee_vault_address, job as job_address, network as network_address,
    provider as provider_address, reward_vault as reward_vault_address, shard as shard_address,
    stake_vault as stake_vault_address,
};
use litesvm::LiteSVM;
use solana_keypair::Keypair;
use solana_program_pack::Pack;
use solana_signer::Signer;
use solana_transaction::Transaction;

pub const DECIMALS: u8 = 6;
pub const START_TIME: i64 = 1_750_000_000;
pub const WALLET_TOKENS: u64 = 1_000_000_000;

pub fn default_params() -> NetworkParams {
    NetworkParams {
        fee_bps: 250,
        min_stake: 1_000_000,
        stake_per_claim: 250_000,
        unbonding_period: 7 * 86_400,
        max_claim_timeout: 3_600,
        reveal_window: 600,
        fraud_slash_bps: 5_000,
        miss_slash_bps: 500,
        max_shards: 64,
        max_replicas: 5,
        update_delay: 0,
        max_commission_bps: 5_000,
        commission_delay: 86_400,
        min_delegation: 100_000,
        reward_vesting: 0,
        stake_warmup: 0,
        benchmark_millis: 5,
        benchmark_fee: 10_000_000,
        proof_validity_slots: 216_000,
    }
}

/// What a slash of `bps` takes under the default parameters: that share of the stake behind one
/// claim, never of everything staked.
pub fn claim_slash(bps: u16) -> u64 {
    default_params().stake_per_claim * u64::from(bps) / 10_000
}

/// A change to valid job arguments that makes them invalid, for refusal tables.
pub type JobArgsMutation = Box<dyn Fn(&mut CreateJobArgs)>;

/// A transaction the runtime refused.
#[derive(Debug)]
pub struct Refusal {
    pub error: String,
    pub logs: Vec<String>,
}

impl Refusal {
    /// Whether the refusal carries the program error `code`.
    pub fn is(&self, code: u32) -> bool {
        self.error.contains(&format!("Custom({code})"))
    }
}

/// Fails the test if a gpushare instruction in `logs` consumed more compute units than its worst
/// case in the client's table, and appends `name consumed figure test` lines to the file
/// `GPUSHARE_CU_REPORT` names, if any (`scripts/compute-units` turns them into the table of
/// docs/compute-units.md).
fn check_compute_units(logs: &[String]) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let mut report = String::new();
    for consumed in compute_budget::consumed(logs) {
        let worst = compute_budget::worst_case(&consumed.name)
            .unwrap_or_else(|| panic!("no compute-unit figure for {}", consumed.name));
        assert!(
            consumed.units <= u64::from(worst.units),
            "{} consumed {} compute units, over its worst case of {} (client compute_budget)",
            consumed.name,
            consumed.units,
            worst.units
        );
        report.push_str(&format!(
            "{} {} {} {test}\n",
            consumed.name, consumed.units, worst.units
        ));
    }
    if let Some(path) = std::env::var_os("GPUSHARE_CU_REPORT") {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open the compute-unit report");
        file.write_all(report.as_bytes())
            .expect("append to the compute-unit report");
    }
}

/// The numeric code of a program or Anchor error.
pub fn code(error: impl Into<u32>) -> u32 {
    error.into()
}

pub struct Wallet {
    pub key: Keypair,
    pub token: Pubkey,
}

impl Wallet {
    pub fn pubkey(&self) -> Pubkey {
        self.key.pubkey()
    }

    /// The wallet as gpushare-client names a wallet and its token account.
    pub fn holder(&self) -> Holder {
        Holder {
            authority: self.pubkey(),
            token: self.token,
        }
    }
}

/// Slot `replica` of shard `shard_index` of `job`.
pub fn slot(job: &JobHandle, shard_index: u16, replica: u8) -> Slot {
    Slot {
        job: job.job,
        shard_index,
        replica,
    }
}

pub struct ProviderHandle {
    pub wallet: Wallet,
    pub provider: Pubkey,
    pub vault: Pubkey,
    pub salt: [u8; 32],
}

#[derive(Clone, Copy)]
pub struct JobHandle {
    pub job: Pubkey,
    pub vault: Pubkey,
}

pub struct Env {
    pub svm: LiteSVM,
    pub authority: Wallet,
    pub token_program: Pubkey,
    pub mint: Pubkey,
    pub treasury: Pubkey,
    pub network: Pubkey,
    /// Where closed jobs leave fees and slashes until `collect_fees` moves them to the treasury.
    pub fee_vault: Pubkey,
    next_job_id: u64,
    /// Mixed into every slot hash, so that different worlds see different challenges.
    pub slot_salt: [u8; 32],
    /// Logs of the last successful transaction.
    pub last_logs: Vec<String>,
    /// Whether the program runs as SBPF bytecode, whose compute units are the real ones.
    metered: bool,
}

/// The output root an honest provider computes for a shard (the tests' stand-in for a Merkle root).
pub fn honest_root(job: &Pubkey, shard: u16) -> [u8; 32] {
    let mut root = [0u8; 32];
    root[..32].copy_from_slice(job.as_ref());
    root[0] ^= shard as u8;
    root[1] ^= (shard >> 8) as u8;
    root
}

/// A root that differs from the honest one by `variant`.
pub fn forged_root(job: &Pubkey, shard: u16, variant: u8) -> [u8; 32] {
    let mut root = honest_root(job, shard);
    root[31] ^= variant.wrapping_add(1);
    root
}

pub fn seeded_job(
    job_id: u64,
    shards: u16,
    replicas: u8,
    q: u8,
    price: u64,
    expires_at: i64,
) -> CreateJobArgs {
    CreateJobArgs {
        job_id,
        kernel: KernelSpec::GemmI8 {
            m: 256,
            n: 256,
            k: 256,
        },
        input: JobInput::Seed([7; 32]),
        private: None,
        shards,
        replicas,
        mode: VerificationMode::Quorum { q },
        price,
        claim_timeout: 600,
        expires_at,
        hardware: HardwareRequirement::default(),
    }
}

impl Env {
    /// A fresh world with an SPL Token mint.
    pub fn new() -> Self {
        Self::with_token_program(anchor_spl::token::ID)
    }

    /// A fresh world whose mint belongs to `token_program` (SPL Token or Token-2022).
    pub fn with_token_program(token_program: Pubkey) -> Self {
        let mut svm = LiteSVM::new();
        let build = gpushare_native::ProgramBuild::from_env();
        match &build {
            gpushare_native::ProgramBuild::Sbf(path) => svm
                .add_program_from_file(gpushare::ID, path)
                .unwrap_or_else(|e| panic!("load {}: {e}", path.display())),
            gpushare_native::ProgramBuild::Builtin => {
                gpushare_native::install();
                svm.add_builtin(gpushare::ID, gpushare_native::builtin());
            }
        }
        let mut clock: Clock = svm.get_sysvar();
        clock.unix_timestamp = START_TIME;
        svm.set_sysvar(&clock);
        let authority = Keypair::new();
        svm.airdrop(&authority.pubkey(), 1_000_000_000_000)
            .expect("airdrop");
        let mint = Keypair::new();
        let mut env = Env {
            svm,
            authority: Wallet {
                key: authority,
                token: Pubkey::default(),
            },
            token_program,
            mint: mint.pubkey(),
            treasury: Pubkey::default(),
            network: network_address(&mint.pubkey()),
            fee_vault: fee_vault_address(&network_address(&mint.pubkey())),
            next_job_id: 1,
            slot_salt: mint.pubkey().to_bytes(),
            last_logs: Vec::new(),
            metered: matches!(build, gpushare_native::ProgramBuild::Sbf(_)),
        };
        env.create_mint(&mint);
        let payer = env.authority.pubkey();
        env.authority.token = env.token_account(&payer, 0);
        env.treasury = env.token_account(&Keypair::new().pubkey(), 0);
        env.send(&[env.initialize_network_ix(default_params())], &[])
            .expect("initialize network");
        env
    }

    /// Whether the program runs as SBPF bytecode, so that compute units are the runtime's real ones.
    pub fn metered(&self) -> bool {
        self.metered
    }

    pub fn now(&self) -> i64 {
        self.svm.get_sysvar::<Clock>().unix_timestamp
    }

    pub fn slot(&self) -> u64 {
        self.svm.get_sysvar::<Clock>().slot
    }

    /// Moves the clock (and slot) forward by `seconds`, recording the hashes of the new slots in the
    /// SlotHashes sysvar (newest first, as the runtime keeps them).
    pub fn warp(&mut self, seconds: i64) {
        let mut clock: Clock = self.svm.get_sysvar();
        let from = clock.slot;
        clock.unix_timestamp += seconds;
        clock.slot += (seconds.max(0) as u64) * 5 / 2 + 1;
        self.svm.set_sysvar(&clock);
        let first = clock.slot.saturating_sub(511).max(from.saturating_sub(64));
        let entries: Vec<_> = (first..=clock.slot)
            .rev()
            .map(|slot| {
                (
                    slot,
                    solana_hash::Hash::new_from_array(self.slot_hash(slot)),
                )
            })
            .collect();
        self.svm
            .set_sysvar(&solana_slot_hashes::SlotHashes::new(&entries));
        self.svm.expire_blockhash();
    }

    /// The hash this world gives `slot` (varied per world by `slot_salt`).
    pub fn slot_hash(&self, slot: u64) -> [u8; 32] {
        gpushare_core::sha256(&[&self.slot_salt, &slot.to_le_bytes()])
    }

    /// Signs with the network authority (fee payer) and `extra`, and executes with the compute-unit
    /// limit the client requests for `ixs`. On the SBPF build, every gpushare instruction that
    /// completes must stay within its measured worst case (gpushare_client::compute_budget).
    pub fn send(&mut self, ixs: &[Instruction], extra: &[&Keypair]) -> Result<(), Refusal> {
        let mut signers: Vec<&Keypair> = vec![&self.authority.key];
        signers.extend_from_slice(extra);
        let tx = Transaction::new_signed_with_payer(
            &compute_budget::with_limit(ixs),
            Some(&self.authority.pubkey()),
            &signers,
            self.svm.latest_blockhash(),
        );
        let result = self.svm.send_transaction(tx);
        self.svm.expire_blockhash();
        match result {
            Ok(meta) => {
                if self.metered {
                    check_compute_units(&meta.logs);
                }
                self.last_logs = meta.logs;
                Ok(())
            }
            Err(failed) => Err(Refusal {
                error: format!("{:?}", failed.err),
                logs: failed.meta.logs,
            }),
        }
    }

    /// Sends, expects the program error `expected`, and checks that no account the transaction
    /// named changed (the fee payer's lamports aside).
    pub fn assert_refused(&mut self, ixs: &[Instruction], extra: &[&Keypair], expected: u32) {
        let named: Vec<Pubkey> = ixs
            .iter()
            .flat_map(|i| i.accounts.iter().map(|m| m.pubkey))
            .collect();
        let before = self.snapshot(&named);
        let refusal = self
            .send(ixs, extra)
            .expect_err("transaction should be refused");
        assert!(
            refusal.is(expected),
            "expected Custom({expected}), got {} logs={:#?}",
            refusal.error,
            refusal.logs
        );
        assert_eq!(
            before,
            self.snapshot(&named),
            "a refused transaction changed state"
        );
    }

    fn snapshot(&self, keys: &[Pubkey]) -> BTreeMap<Pubkey, Option<(u64, Vec<u8>, Pubkey)>> {
        let payer = self.authority.pubkey();
        keys.iter()
            .map(|k| {
                let account = self.svm.get_account(k).map(|a| {
                    let lamports = if *k == payer { 0 } else { a.lamports };
                    (lamports, a.data, a.owner)
                });
                (*k, account)
            })
            .collect()
    }

    /// Creates the mint `mint` (authority: the network authority) under the world's token program.
    pub fn create_mint(&mut self, mint: &Keypair) {
        self.create_mint_frozen_by(mint, None);
    }

    /// Creates the mint `mint` whose freeze authority is the network authority.
    pub fn create_mint_with_freeze_authority(&mut self, mint: &Keypair) {
        let freezer = self.authority.pubkey();
        self.create_mint_frozen_by(mint, Some(&freezer));
    }

    fn create_mint_frozen_by(&mut self, mint: &Keypair, freeze_authority: Option<&Pubkey>) {
        let rent = self
            .svm
            .minimum_balance_for_rent_exemption(spl_token_2022::state::Mint::LEN);
        let payer = self.authority.pubkey();
        let tp = self.token_program;
        self.send(
            &[
                solana_system_interface::instruction::create_account(
                    &payer,
                    &mint.pubkey(),
                    rent,
                    spl_token_2022::state::Mint::LEN as u64,
                    &tp,
                ),
                spl_token_2022::instruction::initialize_mint2(
                    &tp,
                    &mint.pubkey(),
                    &payer,
                    freeze_authority,
                    DECIMALS,
                )
                .expect("mint ix"),
            ],
            &[mint],
        )
        .expect("create mint");
    }

    /// A token account of a brand-new mint (not the network's) owned by `owner`, with `amount`.
    pub fn foreign_token_account(&mut self, owner: &Pubkey, amount: u64) -> Pubkey {
        let mint = Keypair::new();
        self.create_mint(&mint);
        self.token_account_of(&mint.pubkey(), owner, amount)
    }

    /// A new token account of the network's mint owned by `owner`, holding `amount` fresh tokens.
    pub fn token_account(&mut self, owner: &Pubkey, amount: u64) -> Pubkey {
        let mint = self.mint;
        self.token_account_of(&mint, owner, amount)
    }

    /// A new token account of `mint` owned by `owner`, holding `amount` fresh tokens.
    pub fn token_account_of(&mut self, mint: &Pubkey, owner: &Pubkey, amount: u64) -> Pubkey {
        let account = Keypair::new();
        let size = spl_token_2022::state::Account::LEN;
        let rent = self.svm.minimum_balance_for_rent_exemption(size);
        let payer = self.authority.pubkey();
        let tp = self.token_program;
        let mut ixs = vec![
            solana_system_interface::instruction::create_account(
                &payer,
                &account.pubkey(),
                rent,
                size as u64,
                &tp,
            ),
            spl_token_2022::instruction::initialize_account3(&tp, &account.pubkey(), mint, owner)
                .expect("ix"),
        ];
        if amount > 0 {
            ixs.push(
                spl_token_2022::instruction::mint_to(
                    &tp,
                    mint,
                    &account.pubkey(),
                    &payer,
                    &[],
                    amount,
                )
                .expect("ix"),
            );
        }
        self.send(&ixs, &[&account]).expect("token account");
        account.pubkey()
    }

    /// A funded wallet with a token account holding `tokens`.
    pub fn wallet(&mut self, tokens: u64) -> Wallet {
        let key = Keypair::new();
        self.svm
            .airdrop(&key.pubkey(), 100_000_000_000)
            .expect("airdrop");
        let token = self.token_account(&key.pubkey(), tokens);
        Wallet { key, token }
    }

    pub fn balance(&self, token_account: &Pubkey) -> u64 {
        self.svm
            .get_account(token_account)
            .map(|a| {
                spl_token_2022::state::Account::unpack(
                    &a.data[..spl_token_2022::state::Account::LEN],
                )
                .map(|t| t.amount)
                .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// The mint's supply: what was minted less what slashes burned.
    pub fn supply(&self) -> u64 {
        let mint = self.svm.get_account(&self.mint).expect("the mint exists");
        spl_token_2022::state::Mint::unpack(&mint.data[..spl_token_2022::state::Mint::LEN])
            .expect("a mint")
            .supply
    }

    pub fn exists(&self, address: &Pubkey) -> bool {
        self.svm
            .get_account(address)
            .is_some_and(|a| a.lamports > 0)
    }

    pub fn lamports(&self, address: &Pubkey) -> u64 {
        self.svm.get_account(address).map_or(0, |a| a.lamports)
    }

    pub fn fetch<T: AccountDeserialize>(&self, address: &Pubkey) -> T {
        let account = self.svm.get_account(address).expect("account exists");
        T::try_deserialize(&mut account.data.as_slice()).expect("deserialize")
    }

    pub fn try_fetch<T: AccountDeserialize>(&self, address: &Pubkey) -> Option<T> {
        let account = self.svm.get_account(address).filter(|a| a.lamports > 0)?;
        T::try_deserialize(&mut account.data.as_slice()).ok()
    }

    pub fn network_state(&self) -> Network {
        self.fetch(&self.network)
    }

    /// Events of type `E` in the last successful transaction's log.
    pub fn events<E: anchor_lang::Event + anchor_lang::AnchorDeserialize>(&self) -> Vec<E> {
        self.last_logs
            .iter()
            .filter_map(|line| line.strip_prefix("Program data: "))
            .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .filter(|data| data.starts_with(E::DISCRIMINATOR))
            .filter_map(|data| E::try_from_slice(&data[E::DISCRIMINATOR.len()..]).ok())
            .collect()
    }

    // ---- instruction builders (gpushare-client, with this world's keys) ----

    /// This world's network keys.
    pub fn keys(&self) -> NetworkKeys {
        NetworkKeys {
            network: self.network,
            mint: self.mint,
            treasury: self.treasury,
            token_program: self.token_program,
        }
    }

    pub fn initialize_network_ix(&self, params: NetworkParams) -> Instruction {
        client_ix::initialize_network(&self.authority.pubkey(), &self.keys(), params)
    }

    /// `initialize_network` for another mint (its own network).
    pub fn initialize_network_ix_for(
        &self,
        mint: &Pubkey,
        treasury: &Pubkey,
        params: NetworkParams,
    ) -> Instruction {
        let keys = NetworkKeys::new(*mint, *treasury, self.token_program);
        client_ix::initialize_network(&self.authority.pubkey(), &keys, params)
    }

    pub fn update_network_ix(&self, signer: &Pubkey, params: NetworkParams) -> Instruction {
        client_ix::update_network(signer, &self.network, params)
    }

    pub fn apply_update_ix(&self) -> Instruction {
        client_ix::apply_network_update(&self.network)
    }

    pub fn set_treasury_ix(&self, signer: &Pubkey, treasury: &Pubkey) -> Instruction {
        client_ix::set_treasury(signer, &self.network, treasury)
    }

    /// `collect_fees` to the network's treasury as the chain has it now.
    pub fn collect_fees_ix(&self) -> Instruction {
        let mut keys = self.keys();
        keys.treasury = self.network_state().treasury;
        client_ix::collect_fees(&keys)
    }

    pub fn register_ix(&self, wallet: &Wallet, stake: u64) -> Instruction {
        client_ix::register_provider(
            &wallet.holder(),
            &self.keys(),
            stake,
            HardwareProfile::default(),
        )
    }

    /// Registers a new provider with `stake`.
    pub fn provider(&mut self, stake: u64) -> ProviderHandle {
        let wallet = self.wallet(WALLET_TOKENS);
        let register = self.register_ix(&wallet, stake);
        self.send(&[register], &[&wallet.key])
            .expect("register provider");
        let provider = provider_address(&self.network, &wallet.pubkey());
        let mut salt = [0u8; 32];
        salt.copy_from_slice(Keypair::new().pubkey().as_ref());
        ProviderHandle {
            vault: stake_vault_address(&provider),
            provider,
            wallet,
            salt,
        }
    }

    pub fn add_stake_ix(&self, p: &ProviderHandle, amount: u64) -> Instruction {
        client_ix::add_stake(&p.wallet.holder(), &self.keys(), amount)
    }

    pub fn withdraw_ix(&self, p: &ProviderHandle) -> Instruction {
        client_ix::withdraw_stake(&p.wallet.holder(), &self.keys())
    }

    pub fn unstake_ix(&self, p: &ProviderHandle, amount: u64) -> Instruction {
        client_ix::request_unstake(&p.wallet.pubkey(), &self.network, amount)
    }

    pub fn update_hardware_ix(&self, p: &ProviderHandle, hardware: HardwareProfile) -> Instruction {
        client_ix::update_hardware(&p.wallet.pubkey(), &self.network, hardware)
    }

    pub fn set_endpoint_ix(&self, p: &ProviderHandle, endpoint: &str) -> Instruction {
        client_ix::set_endpoint(&p.wallet.pubkey(), &self.network, endpoint.into())
    }

    pub fn close_provider_ix(&self, p: &ProviderHandle) -> Instruction {
        client_ix::close_provider(&p.wallet.holder(), &self.keys())
    }

    pub fn delegate_ix(&self, delegator: &Wallet, p: &ProviderHandle, amount: u64) -> Instruction {
        client_ix::delegate(
            &delegator.holder(),
            &self.keys(),
            &p.wallet.pubkey(),
            amount,
        )
    }

    pub fn undelegate_ix(
        &self,
        delegator: &Wallet,
        p: &ProviderHandle,
        amount: u64,
    ) -> Instruction {
        client_ix::undelegate(
            &delegator.pubkey(),
            &self.network,
            &p.wallet.pubkey(),
            amount,
        )
    }

    pub fn withdraw_delegation_ix(&self, delegator: &Wallet, p: &ProviderHandle) -> Instruction {
        client_ix::withdraw_delegation(&delegator.holder(), &self.keys(), &p.wallet.pubkey())
    }

    /// Joins `delegator`'s warmed stake behind `p` (or, with none, `p`'s own) to the active stake;
    /// signed by that holder.
    pub fn activate_ix(&self, p: &ProviderHandle, delegator: Option<&Wallet>) -> Instruction {
        let delegator = delegator.map(Wallet::pubkey);
        client_ix::activate_stake(&self.keys(), &p.wallet.pubkey(), delegator.as_ref())
    }

    pub fn claim_rewards_ix(&self, delegator: &Wallet, p: &ProviderHandle) -> Instruction {
        client_ix::claim_rewards(&delegator.holder(), &self.keys(), &p.wallet.pubkey())
    }

    pub fn request_benchmark_ix(&self, requester: &Wallet, p: &ProviderHandle) -> Instruction {
        client_ix::request_benchmark(&requester.pubkey(), &self.network, &p.provider)
    }

    pub fn commit_benchmark_ix(&self, p: &ProviderHandle, root: [u8; 32]) -> Instruction {
        client_ix::commit_benchmark(&p.wallet.pubkey(), &self.network, root)
    }

    pub fn prove_benchmark_ix(
        &self,
        p: &ProviderHandle,
        proofs: Vec<gpushare::instructions::BenchmarkProof>,
    ) -> Instruction {
        client_ix::prove_benchmark(&p.wallet.pubkey(), &self.network, proofs)
    }

    pub fn settle_benchmark_ix(&self, p: &ProviderHandle, requester: &Pubkey) -> Instruction {
        client_ix::settle_benchmark(&self.keys(), &p.wallet.pubkey(), requester)
    }

    pub fn claim_provider_rewards_ix(&self, p: &ProviderHandle) -> Instruction {
        client_ix::claim_provider_rewards(&p.wallet.holder(), &self.keys())
    }

    pub fn set_commission_ix(&self, p: &ProviderHandle, commission_bps: u16) -> Instruction {
        client_ix::set_commission(&p.wallet.pubkey(), &self.network, commission_bps)
    }

    /// A new wallet delegating `amount` to `p`.
    pub fn delegator(&mut self, p: &ProviderHandle, amount: u64) -> Wallet {
        let wallet = self.wallet(WALLET_TOKENS);
        let delegate = self.delegate_ix(&wallet, p, amount);
        self.send(&[delegate], &[&wallet.key]).expect("delegate");
        wallet
    }

    /// The delegation of `delegator` to `p`, if it is open.
    pub fn delegation(&self, delegator: &Wallet, p: &ProviderHandle) -> Option<Delegation> {
        self.try_fetch(&delegation_address(&p.provider, &delegator.pubkey()))
    }

    pub fn next_job_id(&mut self) -> u64 {
        self.next_job_id += 1;
        self.next_job_id
    }

    pub fn create_job_ix(&self, client: &Wallet, args: CreateJobArgs) -> Instruction {
        client_ix::create_job(&client.holder(), &self.keys(), args)
    }

    /// Creates a quorum job of `shards × replicas` at `price`, expiring in a day.
    pub fn job(
        &mut self,
        client: &Wallet,
        shards: u16,
        replicas: u8,
        q: u8,
        price: u64,
    ) -> JobHandle {
        let id = self.next_job_id();
        let args = seeded_job(id, shards, replicas, q, price, self.now() + 86_400);
        self.job_with(client, args)
    }

    pub fn job_with(&mut self, client: &Wallet, args: CreateJobArgs) -> JobHandle {
        let job = job_address(&self.network, &client.pubkey(), args.job_id);
        let create = self.create_job_ix(client, args);
        self.send(&[create], &[&client.key]).expect("create job");
        JobHandle {
            job,
            vault: escrow_vault_address(&job),
        }
    }

    pub fn cancel_ix(&self, client: &Wallet, job: &JobHandle) -> Instruction {
        client_ix::cancel_job(&client.holder(), &self.keys(), &job.job)
    }

    pub fn claim_ix(
        &self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard_index: u16,
        replica: u8,
    ) -> Instruction {
        client_ix::claim(
            &p.wallet.pubkey(),
            &self.network,
            &slot(job, shard_index, replica),
        )
    }

    pub fn commit_ix(
        &self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard_index: u16,
        replica: u8,
        commitment: [u8; 32],
    ) -> Instruction {
        client_ix::commit(
            &p.wallet.pubkey(),
            &self.network,
            &slot(job, shard_index, replica),
            commitment,
        )
    }

    pub fn reveal_ix(
        &self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard_index: u16,
        replica: u8,
        root: [u8; 32],
        salt: [u8; 32],
    ) -> Instruction {
        client_ix::reveal(
            &p.wallet.pubkey(),
            &slot(job, shard_index, replica),
            root,
            salt,
        )
    }

    pub fn prove_ix(
        &self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard_index: u16,
        replica: u8,
        proofs: Vec<gpushare::instructions::SampleProof>,
    ) -> Instruction {
        client_ix::prove(&p.wallet.pubkey(), &slot(job, shard_index, replica), proofs)
    }

    pub fn fix_challenge_ix(&self, job: &JobHandle, shard_index: u16, replica: u8) -> Instruction {
        client_ix::fix_challenge(&slot(job, shard_index, replica))
    }

    pub fn give_back_ix(
        &self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard_index: u16,
        replica: u8,
    ) -> Instruction {
        client_ix::give_back_claim(
            &self.keys(),
            &slot(job, shard_index, replica),
            &p.wallet.holder(),
        )
    }

    pub fn settle_shard_ix(&self, job: &JobHandle, shard_index: u16) -> Instruction {
        client_ix::settle_shard(&job.job, shard_index)
    }

    pub fn settle_assignment_ix(
        &self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard_index: u16,
        replica: u8,
    ) -> Instruction {
        client_ix::settle_assignment(
            &self.keys(),
            &slot(job, shard_index, replica),
            &p.wallet.holder(),
        )
    }

    pub fn expire_ix(
        &self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard_index: u16,
        replica: u8,
    ) -> Instruction {
        client_ix::expire_claim(
            &self.keys(),
            &slot(job, shard_index, replica),
            &p.wallet.holder(),
        )
    }

    pub fn close_shard_ix(
        &self,
        job: &JobHandle,
        shard_index: u16,
        rent_receiver: &Pubkey,
        closer: &Pubkey,
    ) -> Instruction {
        client_ix::close_shard(&job.job, shard_index, rent_receiver, closer)
    }

    pub fn close_job_ix(&self, client: &Wallet, job: &JobHandle) -> Instruction {
        client_ix::close_job(&self.keys(), &job.job, &client.holder())
    }

    // ---- protocol steps that must succeed ----

    pub fn claim(&mut self, p: &ProviderHandle, job: &JobHandle, shard: u16, replica: u8) {
        let ix = self.claim_ix(p, job, shard, replica);
        self.send(&[ix], &[&p.wallet.key]).expect("claim");
    }

    /// Commits to `root` with the provider's salt.
    pub fn commit(
        &mut self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard: u16,
        replica: u8,
        root: [u8; 32],
    ) {
        let commitment = work_commitment(&root, &p.wallet.pubkey(), &p.salt);
        let ix = self.commit_ix(p, job, shard, replica, commitment);
        self.send(&[ix], &[&p.wallet.key]).expect("commit");
    }

    pub fn reveal(
        &mut self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard: u16,
        replica: u8,
        root: [u8; 32],
    ) {
        let ix = self.reveal_ix(p, job, shard, replica, root, p.salt);
        self.send(&[ix], &[&p.wallet.key]).expect("reveal");
    }

    pub fn settle_shard(&mut self, job: &JobHandle, shard: u16) {
        let ix = self.settle_shard_ix(job, shard);
        self.send(&[ix], &[]).expect("settle shard");
    }

    pub fn settle_assignment(
        &mut self,
        p: &ProviderHandle,
        job: &JobHandle,
        shard: u16,
        replica: u8,
    ) {
        let ix = self.settle_assignment_ix(p, job, shard, replica);
        self.send(&[ix], &[]).expect("settle assignment");
    }

    pub fn expire(&mut self, p: &ProviderHandle, job: &JobHandle, shard: u16, replica: u8) {
        let ix = self.expire_ix(p, job, shard, replica);
        self.send(&[ix], &[]).expect("expire claim");
    }

    /// Closes a shard, signed by the job's client.
    pub fn close_shard(&mut self, client: &Wallet, job: &JobHandle, shard: u16) {
        let payer = self.fetch::<Shard>(&shard_address(&job.job, shard)).payer;
        let ix = self.close_shard_ix(job, shard, &payer, &client.pubkey());
        self.send(&[ix], &[&client.key]).expect("close shard");
    }

    /// Closes the job (burning the slashes it held) and, in the same transaction, collects the fees
    /// it left in the fee vault to the treasury.
    pub fn close_job(&mut self, client: &Wallet, job: &JobHandle) {
        let ixs = [self.close_job_ix(client, job), self.collect_fees_ix()];
        self.send(&ixs, &[]).expect("close job");
    }

    /// Claims, commits and reveals `root` for each (provider, replica) of one shard.
    pub fn run_shard(
        &mut self,
        job: &JobHandle,
        shard: u16,
        replicas: &[(&ProviderHandle, [u8; 32])],
    ) {
        for (replica, (p, _)) in replicas.iter().enumerate() {
            self.claim(p, job, shard, replica as u8);
        }
        for (replica, (p, root)) in replicas.iter().enumerate() {
            self.commit(p, job, shard, replica as u8, *root);
        }
        for (replica, (p, root)) in replicas.iter().enumerate() {
            self.reveal(p, job, shard, replica as u8, *root);
        }
    }
}
