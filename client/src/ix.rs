//! One builder per gpushare instruction. Accounts are derived from the few keys that identify them.
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{InstructionData, ToAccountMetas, system_program};
use gpushare::instructions::{BenchmarkProof, SampleProof};
use gpushare::state::{Assignment, CreateJobArgs, HardwareProfile, NetworkParams, Verdict};
use gpushare::{accounts, instruction};

use crate::pda;

/// The keys that identify a network: its mint, the mint's token program and the treasury.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkKeys {
    pub network: Pubkey,
    pub mint: Pubkey,
    pub treasury: Pubkey,
    pub token_program: Pubkey,
}

impl NetworkKeys {
    pub fn new(mint: Pubkey, treasury: Pubkey, token_program: Pubkey) -> Self {
        Self {
            network: pda::network(&mint),
            mint,
            treasury,
            token_program,
        }
    }
}

impl NetworkKeys {
    /// The associated token account of `wallet` for the network's mint.
    pub fn associated_token(&self, wallet: &Pubkey) -> Pubkey {
        spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            wallet,
            &self.mint,
            &self.token_program,
        )
    }
}

/// A provider's wallet and the token account it is paid into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub authority: Pubkey,
    pub token: Pubkey,
}

fn build(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: gpushare::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

pub fn initialize_network(
    authority: &Pubkey,
    net: &NetworkKeys,
    params: NetworkParams,
) -> Instruction {
    build(
        accounts::InitializeNetwork {
            authority: *authority,
            mint: net.mint,
            treasury: net.treasury,
            network: net.network,
            fee_vault: pda::fee_vault(&net.network),
            token_program: net.token_program,
            system_program: system_program::ID,
        },
        instruction::InitializeNetwork { params },
    )
}

pub fn update_network(authority: &Pubkey, network: &Pubkey, params: NetworkParams) -> Instruction {
    build(
        accounts::UpdateNetwork {
            authority: *authority,
            network: *network,
        },
        instruction::UpdateNetwork { params },
    )
}

pub fn apply_network_update(network: &Pubkey) -> Instruction {
    build(
        accounts::ApplyNetworkUpdate { network: *network },
        instruction::ApplyNetworkUpdate {},
    )
}

pub fn set_treasury(authority: &Pubkey, network: &Pubkey, treasury: &Pubkey) -> Instruction {
    build(
        accounts::SetTreasury {
            authority: *authority,
            network: *network,
            treasury: *treasury,
        },
        instruction::SetTreasury {},
    )
}

/// Moves the fee vault's balance to `net.treasury`.
pub fn collect_fees(net: &NetworkKeys) -> Instruction {
    build(
        accounts::CollectFees {
            network: net.network,
            mint: net.mint,
            fee_vault: pda::fee_vault(&net.network),
            treasury: net.treasury,
            token_program: net.token_program,
        },
        instruction::CollectFees {},
    )
}

pub fn register_provider(
    wallet: &Holder,
    net: &NetworkKeys,
    stake: u64,
    hardware: HardwareProfile,
) -> Instruction {
    let provider = pda::provider(&net.network, &wallet.authority);
    build(
        accounts::RegisterProvider {
            authority: wallet.authority,
            network: net.network,
            mint: net.mint,
            provider,
            stake_vault: pda::stake_vault(&provider),
            reward_vault: pda::reward_vault(&provider),
            authority_token: wallet.token,
            token_program: net.token_program,
            system_program: system_program::ID,
        },
        instruction::RegisterProvider { stake, hardware },
    )
}

fn provider_stake(wallet: &Holder, net: &NetworkKeys) -> accounts::ProviderStake {
    let provider = pda::provider(&net.network, &wallet.authority);
    accounts::ProviderStake {
        authority: wallet.authority,
        network: net.network,
        mint: net.mint,
        provider,
        stake_vault: pda::stake_vault(&provider),
        authority_token: wallet.token,
        token_program: net.token_program,
    }
}

pub fn add_stake(wallet: &Holder, net: &NetworkKeys, amount: u64) -> Instruction {
    build(
        provider_stake(wallet, net),
        instruction::AddStake { amount },
    )
}

pub fn withdraw_stake(wallet: &Holder, net: &NetworkKeys) -> Instruction {
    build(provider_stake(wallet, net), instruction::WithdrawStake {})
}

pub fn request_unstake(authority: &Pubkey, network: &Pubkey, amount: u64) -> Instruction {
    let provider = pda::provider(network, authority);
    build(
        accounts::RequestUnstake {
            authority: *authority,
            network: *network,
            provider,
        },
        instruction::RequestUnstake { amount },
    )
}

pub fn update_hardware(
    authority: &Pubkey,
    network: &Pubkey,
    hardware: HardwareProfile,
) -> Instruction {
    let provider = pda::provider(network, authority);
    build(
        accounts::ProviderProfile {
            authority: *authority,
            provider,
        },
        instruction::UpdateHardware { hardware },
    )
}

pub fn set_endpoint(authority: &Pubkey, network: &Pubkey, endpoint: String) -> Instruction {
    build(
        accounts::ProviderProfile {
            authority: *authority,
            provider: pda::provider(network, authority),
        },
        instruction::SetEndpoint { endpoint },
    )
}

pub fn close_provider(wallet: &Holder, net: &NetworkKeys) -> Instruction {
    let provider = pda::provider(&net.network, &wallet.authority);
    build(
        accounts::CloseProvider {
            authority: wallet.authority,
            network: net.network,
            mint: net.mint,
            provider,
            stake_vault: pda::stake_vault(&provider),
            reward_vault: pda::reward_vault(&provider),
            benchmark: pda::benchmark(&provider),
            authority_token: wallet.token,
            token_program: net.token_program,
        },
        instruction::CloseProvider {},
    )
}

/// `delegator` (with its token account) delegates `amount` to the provider of `provider_authority`.
pub fn delegate(
    delegator: &Holder,
    net: &NetworkKeys,
    provider_authority: &Pubkey,
    amount: u64,
) -> Instruction {
    let provider = pda::provider(&net.network, provider_authority);
    build(
        accounts::Delegate {
            delegator: delegator.authority,
            network: net.network,
            mint: net.mint,
            provider,
            delegation: pda::delegation(&provider, &delegator.authority),
            stake_vault: pda::stake_vault(&provider),
            delegator_token: delegator.token,
            token_program: net.token_program,
            system_program: system_program::ID,
        },
        instruction::Delegate { amount },
    )
}

pub fn undelegate(
    delegator: &Pubkey,
    network: &Pubkey,
    provider_authority: &Pubkey,
    amount: u64,
) -> Instruction {
    let provider = pda::provider(network, provider_authority);
    build(
        accounts::Undelegate {
            delegator: *delegator,
            network: *network,
            provider,
            delegation: pda::delegation(&provider, delegator),
        },
        instruction::Undelegate { amount },
    )
}

pub fn withdraw_delegation(
    delegator: &Holder,
    net: &NetworkKeys,
    provider_authority: &Pubkey,
) -> Instruction {
    let provider = pda::provider(&net.network, provider_authority);
    build(
        accounts::WithdrawDelegation {
            delegator: delegator.authority,
            network: net.network,
            mint: net.mint,
            provider,
            delegation: pda::delegation(&provider, &delegator.authority),
            stake_vault: pda::stake_vault(&provider),
            reward_vault: pda::reward_vault(&provider),
            delegator_token: delegator.token,
            token_program: net.token_program,
        },
        instruction::WithdrawDelegation {},
    )
}

/// Joins warmed stake of the provider of `provider_authority` to its active stake: the delegation of
/// `delegator` (who signs), or with none the provider's own (its wallet signs).
pub fn activate_stake(
    net: &NetworkKeys,
    provider_authority: &Pubkey,
    delegator: Option<&Pubkey>,
) -> Instruction {
    let provider = pda::provider(&net.network, provider_authority);
    build(
        accounts::ActivateStake {
            authority: *delegator.unwrap_or(provider_authority),
            provider,
            delegation: delegator.map(|delegator| pda::delegation(&provider, delegator)),
        },
        instruction::ActivateStake {},
    )
}

pub fn claim_rewards(
    delegator: &Holder,
    net: &NetworkKeys,
    provider_authority: &Pubkey,
) -> Instruction {
    let provider = pda::provider(&net.network, provider_authority);
    build(
        accounts::ClaimRewards {
            delegator: delegator.authority,
            network: net.network,
            mint: net.mint,
            provider,
            delegation: pda::delegation(&provider, &delegator.authority),
            reward_vault: pda::reward_vault(&provider),
            delegator_token: delegator.token,
            token_program: net.token_program,
        },
        instruction::ClaimRewards {},
    )
}

pub fn claim_provider_rewards(provider_authority: &Holder, net: &NetworkKeys) -> Instruction {
    let provider = pda::provider(&net.network, &provider_authority.authority);
    build(
        accounts::ClaimProviderRewards {
            authority: provider_authority.authority,
            network: net.network,
            mint: net.mint,
            provider,
            reward_vault: pda::reward_vault(&provider),
            authority_token: provider_authority.token,
            token_program: net.token_program,
        },
        instruction::ClaimProviderRewards {},
    )
}

pub fn set_commission(authority: &Pubkey, network: &Pubkey, commission_bps: u16) -> Instruction {
    build(
        accounts::SetCommission {
            authority: *authority,
            network: *network,
            provider: pda::provider(network, authority),
        },
        instruction::SetCommission { commission_bps },
    )
}

pub fn create_job(client: &Holder, net: &NetworkKeys, args: CreateJobArgs) -> Instruction {
    let job = pda::job(&net.network, &client.authority, args.job_id);
    build(
        accounts::CreateJob {
            client: client.authority,
            network: net.network,
            mint: net.mint,
            job,
            escrow_vault: pda::escrow_vault(&job),
            client_token: client.token,
            token_program: net.token_program,
            system_program: system_program::ID,
        },
        instruction::CreateJob { args },
    )
}

pub fn cancel_job(client: &Holder, net: &NetworkKeys, job: &Pubkey) -> Instruction {
    build(
        accounts::CancelJob {
            client: client.authority,
            network: net.network,
            mint: net.mint,
            job: *job,
            escrow_vault: pda::escrow_vault(job),
            client_token: client.token,
            token_program: net.token_program,
        },
        instruction::CancelJob {},
    )
}

/// A (shard, replica) slot of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
}

impl Slot {
    /// The slot `assignment` holds.
    pub fn of(assignment: &Assignment) -> Self {
        Self {
            job: assignment.job,
            shard_index: assignment.shard_index,
            replica: assignment.replica,
        }
    }

    pub fn shard(&self) -> Pubkey {
        pda::shard(&self.job, self.shard_index)
    }

    pub fn assignment(&self) -> Pubkey {
        pda::assignment(&self.shard(), self.replica)
    }
}

pub fn claim(authority: &Pubkey, network: &Pubkey, slot: &Slot) -> Instruction {
    build(
        accounts::Claim {
            authority: *authority,
            network: *network,
            provider: pda::provider(network, authority),
            job: slot.job,
            shard: slot.shard(),
            assignment: slot.assignment(),
            system_program: system_program::ID,
        },
        instruction::Claim {
            shard_index: slot.shard_index,
            replica: slot.replica,
        },
    )
}

/// The holder of a private job's slot publishes its claim key (sent with the claim).
pub fn publish_claim_key(authority: &Pubkey, slot: &Slot, claim_key: [u8; 32]) -> Instruction {
    build(
        accounts::PublishClaimKey {
            authority: *authority,
            job: slot.job,
            assignment: slot.assignment(),
        },
        instruction::PublishClaimKey { claim_key },
    )
}

/// A private job's client delivers the data key sealed to one slot's claim key.
pub fn deliver_key(
    client: &Pubkey,
    slot: &Slot,
    claim_key: [u8; 32],
    envelope: [u8; gpushare::state::KEY_ENVELOPE_BYTES],
) -> Instruction {
    build(
        accounts::DeliverKey {
            client: *client,
            job: slot.job,
            assignment: slot.assignment(),
        },
        instruction::DeliverKey {
            claim_key,
            envelope,
        },
    )
}

pub fn commit(
    authority: &Pubkey,
    network: &Pubkey,
    slot: &Slot,
    commitment: [u8; 32],
) -> Instruction {
    build(
        accounts::Commit {
            authority: *authority,
            network: *network,
            job: slot.job,
            shard: slot.shard(),
            assignment: slot.assignment(),
        },
        instruction::Commit { commitment },
    )
}

pub fn reveal(authority: &Pubkey, slot: &Slot, root: [u8; 32], salt: [u8; 32]) -> Instruction {
    build(
        accounts::Reveal {
            authority: *authority,
            job: slot.job,
            shard: slot.shard(),
            assignment: slot.assignment(),
            slot_hashes: gpushare::constants::SLOT_HASHES_SYSVAR,
        },
        instruction::Reveal { root, salt },
    )
}

pub fn fix_challenge(slot: &Slot) -> Instruction {
    build(
        accounts::FixChallenge {
            job: slot.job,
            shard: slot.shard(),
            assignment: slot.assignment(),
            slot_hashes: gpushare::constants::SLOT_HASHES_SYSVAR,
        },
        instruction::FixChallenge {},
    )
}

pub fn prove(authority: &Pubkey, slot: &Slot, proofs: Vec<SampleProof>) -> Instruction {
    build(
        accounts::Prove {
            authority: *authority,
            job: slot.job,
            shard: slot.shard(),
            assignment: slot.assignment(),
        },
        instruction::Prove { proofs },
    )
}

/// Opens the buffer of `slot`'s embedding sample `sample`.
pub fn open_proof_buffer(authority: &Pubkey, slot: &Slot, sample: u8) -> Instruction {
    let assignment = slot.assignment();
    build(
        accounts::OpenProofBuffer {
            authority: *authority,
            assignment,
            buffer: pda::proof_buffer(&assignment, sample),
            system_program: system_program::ID,
        },
        instruction::OpenProofBuffer { sample },
    )
}

/// Writes `bytes` at `offset` of `slot`'s buffer of sample `sample`.
pub fn write_proof_buffer(
    authority: &Pubkey,
    slot: &Slot,
    sample: u8,
    offset: u32,
    bytes: Vec<u8>,
) -> Instruction {
    build(
        accounts::WriteProofBuffer {
            authority: *authority,
            buffer: pda::proof_buffer(&slot.assignment(), sample),
            system_program: system_program::ID,
        },
        instruction::WriteProofBuffer { offset, bytes },
    )
}

/// Closes the buffer of `assignment`'s sample `sample`, its rent back to `authority`.
pub fn close_proof_buffer(authority: &Pubkey, assignment: &Pubkey, sample: u8) -> Instruction {
    build(
        accounts::CloseProofBuffer {
            authority: *authority,
            buffer: pda::proof_buffer(assignment, sample),
        },
        instruction::CloseProofBuffer {},
    )
}

/// Proves `slot`'s embedding sample `sample` from its buffer (and closes the buffer).
pub fn prove_embedding(authority: &Pubkey, slot: &Slot, sample: u8) -> Instruction {
    let assignment = slot.assignment();
    build(
        accounts::ProveEmbedding {
            authority: *authority,
            job: slot.job,
            shard: slot.shard(),
            assignment,
            buffer: pda::proof_buffer(&assignment, sample),
        },
        instruction::ProveEmbedding { sample },
    )
}

pub fn settle_shard(job: &Pubkey, shard_index: u16) -> Instruction {
    build(
        accounts::SettleShard {
            job: *job,
            shard: pda::shard(job, shard_index),
        },
        instruction::SettleShard {},
    )
}

fn assignment_outcome(
    net: &NetworkKeys,
    slot: &Slot,
    holder: &Holder,
) -> accounts::AssignmentOutcome {
    let provider = pda::provider(&net.network, &holder.authority);
    accounts::AssignmentOutcome {
        network: net.network,
        mint: net.mint,
        job: slot.job,
        shard: slot.shard(),
        assignment: slot.assignment(),
        provider,
        stake_vault: pda::stake_vault(&provider),
        escrow_vault: pda::escrow_vault(&slot.job),
        reward_vault: pda::reward_vault(&provider),
        provider_token: holder.token,
        rent_receiver: holder.authority,
        token_program: net.token_program,
    }
}

pub fn settle_assignment(net: &NetworkKeys, slot: &Slot, holder: &Holder) -> Instruction {
    build(
        assignment_outcome(net, slot, holder),
        instruction::SettleAssignment {},
    )
}

pub fn expire_claim(net: &NetworkKeys, slot: &Slot, holder: &Holder) -> Instruction {
    build(
        assignment_outcome(net, slot, holder),
        instruction::ExpireClaim {},
    )
}

/// The holder (signing as the rent receiver) gives its uncommitted claim back.
pub fn give_back_claim(net: &NetworkKeys, slot: &Slot, holder: &Holder) -> Instruction {
    let mut instruction = build(
        assignment_outcome(net, slot, holder),
        instruction::GiveBackClaim {},
    );
    for meta in &mut instruction.accounts {
        if meta.pubkey == holder.authority {
            meta.is_signer = true;
        }
    }
    instruction
}

/// The instruction that carries out `verdict` on a slot: `expire_claim` for a miss (or a private
/// claim never keyed), `settle_assignment` for pay, fraud or release; `None` while the verdict is
/// pending.
pub fn outcome(
    net: &NetworkKeys,
    slot: &Slot,
    holder: &Holder,
    verdict: Verdict,
) -> Option<Instruction> {
    match verdict {
        Verdict::Pending => None,
        Verdict::SlashMissed { .. } | Verdict::Unkeyed { .. } => {
            Some(expire_claim(net, slot, holder))
        }
        Verdict::Pay | Verdict::SlashFraud | Verdict::Release => {
            Some(settle_assignment(net, slot, holder))
        }
    }
}

/// Closes a shard, signed by `closer` (the job's client, or anyone once the job expired).
pub fn close_shard(
    job: &Pubkey,
    shard_index: u16,
    rent_receiver: &Pubkey,
    closer: &Pubkey,
) -> Instruction {
    build(
        accounts::CloseShard {
            job: *job,
            shard: pda::shard(job, shard_index),
            rent_receiver: *rent_receiver,
            closer: *closer,
        },
        instruction::CloseShard {},
    )
}

pub fn close_job(net: &NetworkKeys, job: &Pubkey, client: &Holder) -> Instruction {
    build(
        accounts::CloseJob {
            network: net.network,
            mint: net.mint,
            job: *job,
            escrow_vault: pda::escrow_vault(job),
            client: client.authority,
            client_token: client.token,
            fee_vault: pda::fee_vault(&net.network),
            token_program: net.token_program,
        },
        instruction::CloseJob {},
    )
}

/// `requester` opens a benchmark on `provider` (the provider's account).
pub fn request_benchmark(requester: &Pubkey, network: &Pubkey, provider: &Pubkey) -> Instruction {
    build(
        accounts::RequestBenchmark {
            requester: *requester,
            network: *network,
            provider: *provider,
            benchmark: pda::benchmark(provider),
            system_program: system_program::ID,
        },
        instruction::RequestBenchmark {},
    )
}

/// Draws the seed, then the challenge, of `provider`'s open benchmark.
pub fn draw_benchmark(provider: &Pubkey) -> Instruction {
    build(
        accounts::DrawBenchmark {
            benchmark: pda::benchmark(provider),
            slot_hashes: gpushare::constants::SLOT_HASHES_SYSVAR,
        },
        instruction::DrawBenchmark {},
    )
}

/// The accounts of `authority`'s provider's steps on its own benchmark.
fn provider_benchmark(authority: &Pubkey, network: &Pubkey) -> accounts::ProviderBenchmark {
    let provider = pda::provider(network, authority);
    accounts::ProviderBenchmark {
        authority: *authority,
        provider,
        benchmark: pda::benchmark(&provider),
    }
}

/// `authority`'s provider commits to its benchmark output's root.
pub fn commit_benchmark(authority: &Pubkey, network: &Pubkey, root: [u8; 32]) -> Instruction {
    build(
        provider_benchmark(authority, network),
        instruction::CommitBenchmark { root },
    )
}

/// `authority`'s provider proves steps of its benchmark's challenged samples.
pub fn prove_benchmark(
    authority: &Pubkey,
    network: &Pubkey,
    proofs: Vec<BenchmarkProof>,
) -> Instruction {
    build(
        provider_benchmark(authority, network),
        instruction::ProveBenchmark { proofs },
    )
}

/// Records the verdict of the benchmark on the provider of `provider_authority`, which `requester`
/// asked for.
pub fn settle_benchmark(
    net: &NetworkKeys,
    provider_authority: &Pubkey,
    requester: &Pubkey,
) -> Instruction {
    let provider = pda::provider(&net.network, provider_authority);
    build(
        accounts::SettleBenchmark {
            benchmark: pda::benchmark(&provider),
            requester: *requester,
            network: net.network,
            mint: net.mint,
            provider,
            incinerator: gpushare::constants::INCINERATOR,
            provider_authority: *provider_authority,
            stake_vault: pda::stake_vault(&provider),
            token_program: net.token_program,
        },
        instruction::SettleBenchmark {},
    )
}
