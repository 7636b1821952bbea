//! Events: one for every state change, logged as Anchor events (`Program data:`).
use anchor_lang::prelude::*;

use crate::state::{HardwareProfile, KernelSpec, NetworkParams, ShardOutcome, VerificationMode};

/// Logs `event` the way `emit!` does. Off-chain (the program hosted natively as a builtin) Anchor's
/// `emit!` is a no-op, so the event goes through the syscall stubs, which the native host routes to
/// the transaction's log.
pub fn emit_event<E: anchor_lang::Event>(event: E) {
    #[cfg(target_os = "solana")]
    emit!(event);
    #[cfg(not(target_os = "solana"))]
    anchor_lang::compat::solana_sysvar::program_stubs::sol_log_data(&[&event.data()]);
}

#[event]
pub struct NetworkInitialized {
    pub network: Pubkey,
    pub authority: Pubkey,
    pub mint: Pubkey,
    pub treasury: Pubkey,
    pub params: NetworkParams,
}

#[event]
pub struct NetworkUpdated {
    pub network: Pubkey,
    pub params: NetworkParams,
}

#[event]
pub struct ProviderRegistered {
    pub provider: Pubkey,
    pub authority: Pubkey,
    pub stake: u64,
}

#[event]
pub struct StakeAdded {
    pub provider: Pubkey,
    pub amount: u64,
    pub stake: u64,
    /// When it joins the active stake (after the network's warm-up).
    pub active_from: i64,
}

/// Warmed stake joined the active stake: a delegation's, or (`delegator` none) the provider's own.
#[event]
pub struct StakeActivated {
    pub provider: Pubkey,
    pub delegator: Option<Pubkey>,
    pub amount: u64,
    pub shares: u128,
}

#[event]
pub struct UnstakeRequested {
    pub provider: Pubkey,
    pub amount: u64,
    pub unbonding: u64,
    pub unbonding_ends_at: i64,
}

#[event]
pub struct StakeWithdrawn {
    pub provider: Pubkey,
    pub amount: u64,
}

#[event]
pub struct HardwareUpdated {
    pub provider: Pubkey,
    pub hardware: HardwareProfile,
}

#[event]
pub struct EndpointUpdated {
    pub provider: Pubkey,
    pub endpoint: String,
}

#[event]
pub struct ProviderClosed {
    pub provider: Pubkey,
}

#[event]
pub struct JobCreated {
    pub job: Pubkey,
    pub client: Pubkey,
    pub job_id: u64,
    pub kernel: KernelSpec,
    pub shards: u16,
    pub replicas: u8,
    pub mode: VerificationMode,
    pub price: u64,
    pub escrow: u64,
    pub expires_at: i64,
}

#[event]
pub struct JobCancelled {
    pub job: Pubkey,
    pub refunded: u64,
}

#[event]
pub struct SlotClaimed {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    pub commit_deadline: i64,
}

#[event]
pub struct WorkCommitted {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    pub commitment: [u8; 32],
}

#[event]
pub struct RevealOpened {
    pub job: Pubkey,
    pub shard_index: u16,
    pub deadline: i64,
}

#[event]
pub struct WorkRevealed {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    pub root: [u8; 32],
}

#[event]
pub struct ShardSettled {
    pub job: Pubkey,
    pub shard_index: u16,
    pub outcome: ShardOutcome,
}

/// Slots of a shard nobody filled in time were closed (bit i = replica i); the replicas that
/// committed reveal until `reveal_deadline`.
#[event]
pub struct UnfilledReplicasClosed {
    pub job: Pubkey,
    pub shard_index: u16,
    pub closed_mask: u16,
    pub reveal_deadline: i64,
}

/// A seeded quorum shard reached no quorum: its revealed replicas prove samples until `deadline`.
#[event]
pub struct ShardDisputed {
    pub job: Pubkey,
    pub shard_index: u16,
    pub deadline: i64,
}

#[event]
pub struct ReplicaPaid {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    pub amount: u64,
    pub fee: u64,
    /// Of `amount`, what went to the reward vault, released over the vesting period to everyone
    /// staked behind the provider (the rest is the commission).
    pub to_stakers: u64,
}

#[event]
pub struct ProviderSlashed {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    pub amount: u64,
    /// True for a fraudulent result, false for a missed commit or reveal.
    pub fraud: bool,
}

#[event]
pub struct ReplicaReleased {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
}

#[event]
pub struct ShardClosed {
    pub job: Pubkey,
    pub shard_index: u16,
}

#[event]
pub struct JobClosed {
    pub job: Pubkey,
    pub paid_out: u64,
    /// Fees left in the network's fee vault.
    pub to_treasury: u64,
    /// Slashed stake the job held, burned.
    pub burned: u64,
    pub to_client: u64,
}

#[event]
pub struct ClaimExpired {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    /// Whether the slot can be claimed again.
    pub reopened: bool,
}

#[event]
pub struct SampleProven {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub sample: u8,
}

#[event]
pub struct ReplicaProven {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
}

#[event]
pub struct SpotCheckFailed {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub sample: u8,
}

#[event]
pub struct NetworkUpdateQueued {
    pub network: Pubkey,
    pub params: NetworkParams,
    pub effective_at: i64,
}

#[event]
pub struct TreasuryChanged {
    pub network: Pubkey,
    pub treasury: Pubkey,
}

#[event]
pub struct FeesCollected {
    pub network: Pubkey,
    pub treasury: Pubkey,
    pub amount: u64,
}

#[event]
pub struct ChallengeFixed {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub challenge: [u8; 32],
}

#[event]
pub struct ClaimGivenBack {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    pub slashed: u64,
}

#[event]
pub struct Delegated {
    pub provider: Pubkey,
    pub delegator: Pubkey,
    pub amount: u64,
    pub shares: u128,
    /// All active stake behind the provider after it.
    pub stake: u64,
    /// When it joins the active stake (after the network's warm-up; `shares` are minted then).
    pub active_from: i64,
}

#[event]
pub struct Undelegated {
    pub provider: Pubkey,
    pub delegator: Pubkey,
    pub amount: u64,
    pub unbonding_ends_at: i64,
}

#[event]
pub struct DelegationWithdrawn {
    pub provider: Pubkey,
    pub delegator: Pubkey,
    pub amount: u64,
    /// Whether the delegation account closed (nothing left in it).
    pub closed: bool,
}

#[event]
pub struct RewardsClaimed {
    pub provider: Pubkey,
    /// The delegator, or the provider's wallet for what its own stake earned.
    pub holder: Pubkey,
    pub amount: u64,
}

#[event]
pub struct CommissionChanged {
    pub provider: Pubkey,
    pub commission_bps: u16,
    /// When it takes effect (now for a cut, after the network's commission delay for a raise).
    pub effective_at: i64,
}

#[event]
pub struct BenchmarkRequested {
    pub provider: Pubkey,
    pub requester: Pubkey,
    pub units: u32,
    pub unit_rows: u32,
    pub commit_deadline: u64,
}

#[event]
pub struct BenchmarkDrawn {
    pub provider: Pubkey,
    /// False for the seed (the work can start), true for the challenge (the proofs can start).
    pub challenge: bool,
    pub value: [u8; 32],
}

#[event]
pub struct BenchmarkCommitted {
    pub provider: Pubkey,
    pub root: [u8; 32],
    pub slot: u64,
}

#[event]
pub struct BenchmarkSampleFailed {
    pub provider: Pubkey,
    pub sample: u8,
}

#[event]
pub struct BenchmarkSettled {
    pub provider: Pubkey,
    pub passed: bool,
    /// The proven throughput, mega-operations per second (0 on failure).
    pub mops: u64,
    /// Stake slashed on failure.
    pub slashed: u64,
}

#[event]
pub struct ClaimKeyPublished {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    pub claim_key: [u8; 32],
}

#[event]
pub struct KeyDelivered {
    pub job: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    pub provider: Pubkey,
    /// The claim's commit deadline, which now runs from the delivery.
    pub commit_deadline: i64,
}
