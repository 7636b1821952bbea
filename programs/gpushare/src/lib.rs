//! gpushare: a GPU compute-sharing network. Clients escrow tokens for sharded compute jobs,
//! staked providers claim (shard, replica) slots, commit to and reveal the Merkle roots of their
//! outputs, and are paid per verified replica; fraud and missed claims are slashed on evidence.
#![allow(unexpected_cfgs)]
#![cfg_attr(
    target_arch = "bpf",
    feature(abi_unadjusted, rustc_private),
    allow(internal_features)
)]

use anchor_lang::prelude::*;
// Links the runtime-syscall memcpy/memset/memcmp/memmove (scripts/build-sbf).
#[cfg(target_arch = "bpf")]
use solana_compiler_builtins as _;
#[cfg(target_arch = "bpf")]
mod sbf_builtins;

pub mod commitment;
pub mod constants;
pub mod errors;
pub mod events;
pub mod instructions;
pub mod seeds;
pub mod slot_hashes;
pub mod state;
mod token;

use instructions::*;
use state::{CreateJobArgs, HardwareProfile, KEY_ENVELOPE_BYTES, NetworkParams};

declare_id!("DcXUe8vyyr3B7y7dTPPtLmiurjqmcGLhbcPzihDZPpSk");

#[program]
pub mod gpushare {
    use super::*;

    /// Creates the network of `mint` with its treasury and parameters.
    pub fn initialize_network(
        ctx: Context<InitializeNetwork>,
        params: NetworkParams,
    ) -> Result<()> {
        InitializeNetwork::handler(ctx, params)
    }

    /// The authority queues new parameters; they take effect after the network's update delay.
    pub fn update_network(ctx: Context<UpdateNetwork>, params: NetworkParams) -> Result<()> {
        UpdateNetwork::handler(ctx, params)
    }

    /// Anyone: puts queued parameters in force once their delay is over.
    pub fn apply_network_update(ctx: Context<ApplyNetworkUpdate>) -> Result<()> {
        ApplyNetworkUpdate::handler(ctx)
    }

    /// The authority names another treasury token account.
    pub fn set_treasury(ctx: Context<SetTreasury>) -> Result<()> {
        SetTreasury::handler(ctx)
    }

    /// Anyone: moves the fee vault's balance to the treasury.
    pub fn collect_fees(ctx: Context<CollectFees>) -> Result<()> {
        CollectFees::handler(ctx)
    }

    /// A wallet registers as a provider with an initial stake.
    pub fn register_provider(
        ctx: Context<RegisterProvider>,
        stake: u64,
        hardware: HardwareProfile,
    ) -> Result<()> {
        RegisterProvider::handler(ctx, stake, hardware)
    }

    /// A provider adds stake.
    pub fn add_stake(ctx: Context<ProviderStake>, amount: u64) -> Result<()> {
        ProviderStake::add_stake(ctx, amount)
    }

    /// A provider starts unbonding part of its stake.
    pub fn request_unstake(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
        RequestUnstake::handler(ctx, amount)
    }

    /// A provider withdraws unbonded stake after the unbonding period.
    pub fn withdraw_stake(ctx: Context<ProviderStake>) -> Result<()> {
        ProviderStake::withdraw_stake(ctx)
    }

    /// A wallet delegates stake to a provider.
    pub fn delegate(ctx: Context<Delegate>, amount: u64) -> Result<()> {
        Delegate::handler(ctx, amount)
    }

    /// The holder: stake that joined a provider joins its active stake within the window after its
    /// warm-up.
    pub fn activate_stake(ctx: Context<ActivateStake>) -> Result<()> {
        ActivateStake::handler(ctx)
    }

    /// A delegator starts unbonding part or all of its delegation.
    pub fn undelegate(ctx: Context<Undelegate>, amount: u64) -> Result<()> {
        Undelegate::handler(ctx, amount)
    }

    /// A delegator withdraws unbonded stake (and, leaving entirely, its rewards) after the period.
    pub fn withdraw_delegation(ctx: Context<WithdrawDelegation>) -> Result<()> {
        WithdrawDelegation::handler(ctx)
    }

    /// A delegator claims the rewards its shares earned.
    pub fn claim_rewards(ctx: Context<ClaimRewards>) -> Result<()> {
        ClaimRewards::handler(ctx)
    }

    /// A provider claims what its own stake earned and settlements have not yet paid it.
    pub fn claim_provider_rewards(ctx: Context<ClaimProviderRewards>) -> Result<()> {
        ClaimProviderRewards::handler(ctx)
    }

    /// A provider sets its commission (a raise waits out the network's commission delay).
    pub fn set_commission(ctx: Context<SetCommission>, commission_bps: u16) -> Result<()> {
        SetCommission::handler(ctx, commission_bps)
    }

    /// A provider updates its hardware profile.
    pub fn update_hardware(ctx: Context<ProviderProfile>, hardware: HardwareProfile) -> Result<()> {
        ProviderProfile::update_hardware(ctx, hardware)
    }

    /// A provider publishes (or clears) the URL of its results endpoint.
    pub fn set_endpoint(ctx: Context<ProviderProfile>, endpoint: String) -> Result<()> {
        ProviderProfile::set_endpoint(ctx, endpoint)
    }

    /// A provider with nothing staked and no claims closes its stake vault; its record stays.
    pub fn close_provider(ctx: Context<CloseProvider>) -> Result<()> {
        CloseProvider::handler(ctx)
    }

    /// A client posts a job and escrows its price and fee.
    pub fn create_job(ctx: Context<CreateJob>, args: CreateJobArgs) -> Result<()> {
        CreateJob::handler(ctx, args)
    }

    /// The client cancels: unstarted shards are refunded now.
    pub fn cancel_job(ctx: Context<CancelJob>) -> Result<()> {
        CancelJob::handler(ctx)
    }

    /// A provider claims one (shard, replica) slot.
    pub fn claim(ctx: Context<Claim>, shard_index: u16, replica: u8) -> Result<()> {
        Claim::handler(ctx, shard_index, replica)
    }

    /// A provider gives an uncommitted claim back before its deadline, for half a miss slash (none
    /// for a private claim whose key came less than `KEY_REFUSAL_SECONDS` ago, spending the free
    /// refusal it reserved at its claim).
    pub fn give_back_claim(ctx: Context<AssignmentOutcome>) -> Result<()> {
        AssignmentOutcome::give_back_claim(ctx)
    }

    /// The holder of a private job's slot publishes the claim key its data key is sealed to.
    pub fn publish_claim_key(ctx: Context<PublishClaimKey>, claim_key: [u8; 32]) -> Result<()> {
        PublishClaimKey::handler(ctx, claim_key)
    }

    /// A private job's client delivers the data key sealed to one claim's key.
    pub fn deliver_key(
        ctx: Context<DeliverKey>,
        claim_key: [u8; 32],
        envelope: [u8; KEY_ENVELOPE_BYTES],
    ) -> Result<()> {
        DeliverKey::handler(ctx, claim_key, envelope)
    }

    /// Anyone: fixes a spot-checked assignment's challenge once the slots after its commitment exist.
    pub fn fix_challenge(ctx: Context<FixChallenge>) -> Result<()> {
        FixChallenge::handler(ctx)
    }

    /// A provider commits to its output's Merkle root.
    pub fn commit(ctx: Context<Commit>, commitment: [u8; 32]) -> Result<()> {
        Commit::handler(ctx, commitment)
    }

    /// A provider reveals its root and salt.
    pub fn reveal(ctx: Context<Reveal>, root: [u8; 32], salt: [u8; 32]) -> Result<()> {
        Reveal::handler(ctx, root, salt)
    }

    /// A provider proves challenged samples of a spot-checked job.
    pub fn prove(ctx: Context<Prove>, proofs: Vec<SampleProof>) -> Result<()> {
        Prove::handler(ctx, proofs)
    }

    /// A provider opens the buffer it stages embedding sample `sample`'s witness in.
    pub fn open_proof_buffer(ctx: Context<OpenProofBuffer>, sample: u8) -> Result<()> {
        OpenProofBuffer::handler(ctx, sample)
    }

    /// A provider appends witness bytes to its proof buffer at `offset` (the bytes it holds).
    pub fn write_proof_buffer(
        ctx: Context<WriteProofBuffer>,
        offset: u32,
        bytes: Vec<u8>,
    ) -> Result<()> {
        WriteProofBuffer::handler(ctx, offset, bytes)
    }

    /// A provider closes its proof buffer and gets its rent back.
    pub fn close_proof_buffer(ctx: Context<CloseProofBuffer>) -> Result<()> {
        CloseProofBuffer::handler(ctx)
    }

    /// A provider proves one challenged sample of a spot-checked embedding job from its buffer.
    pub fn prove_embedding(ctx: Context<ProveEmbedding>, sample: u8) -> Result<()> {
        ProveEmbedding::handler(ctx, sample)
    }

    /// Anyone: decides a shard's outcome from its revealed roots.
    pub fn settle_shard(ctx: Context<SettleShard>) -> Result<()> {
        SettleShard::handler(ctx)
    }

    /// Anyone: pays, slashes or releases one assignment of a settled shard.
    pub fn settle_assignment(ctx: Context<AssignmentOutcome>) -> Result<()> {
        AssignmentOutcome::settle_assignment(ctx)
    }

    /// The provider, or anyone for the network's fee: opens a benchmark on a provider.
    pub fn request_benchmark(ctx: Context<RequestBenchmark>) -> Result<()> {
        RequestBenchmark::handler(ctx)
    }

    /// Anyone: draws a benchmark's seed, then (once committed) its challenge.
    pub fn draw_benchmark(ctx: Context<DrawBenchmark>) -> Result<()> {
        DrawBenchmark::handler(ctx)
    }

    /// The provider commits to its benchmark output's Merkle root before the deadline.
    pub fn commit_benchmark(ctx: Context<ProviderBenchmark>, root: [u8; 32]) -> Result<()> {
        ProviderBenchmark::commit_benchmark(ctx, root)
    }

    /// The provider proves its benchmark's challenged samples.
    pub fn prove_benchmark(
        ctx: Context<ProviderBenchmark>,
        proofs: Vec<BenchmarkProof>,
    ) -> Result<()> {
        ProviderBenchmark::prove_benchmark(ctx, proofs)
    }

    /// Anyone: records a benchmark's verdict (proven throughput, or a slash) and closes it.
    pub fn settle_benchmark(ctx: Context<SettleBenchmark>) -> Result<()> {
        SettleBenchmark::handler(ctx)
    }

    /// Anyone: slashes and closes an assignment that missed its commit or reveal.
    pub fn expire_claim(ctx: Context<AssignmentOutcome>) -> Result<()> {
        AssignmentOutcome::expire_claim(ctx)
    }

    /// Anyone: closes a finished shard.
    pub fn close_shard(ctx: Context<CloseShard>) -> Result<()> {
        CloseShard::handler(ctx)
    }

    /// Anyone: closes a finished job, fees and slashes to the fee vault, the rest to the client.
    pub fn close_job(ctx: Context<CloseJob>) -> Result<()> {
        CloseJob::handler(ctx)
    }
}
