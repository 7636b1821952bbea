//! Every refusal the program can give, each under its own name.
use anchor_lang::prelude::*;

/// Named errors of the gpushare program.
#[error_code]
pub enum GpuShareError {
    #[msg("protocol fee above the allowed maximum")]
    FeeTooHigh,
    #[msg(
        "slash share must be between 0 and 10000 bps, and a fraud slash at least a missed-claim slash"
    )]
    InvalidSlashShare,
    #[msg("minimum stake and stake per claim must be non-zero")]
    InvalidStakeParams,
    #[msg("time window outside the allowed bounds")]
    InvalidWindow,
    #[msg("shard or replica cap outside the allowed bounds")]
    InvalidCaps,
    #[msg("signer is not the network authority")]
    NotNetworkAuthority,
    #[msg("token account does not belong to the network's mint")]
    WrongMint,
    #[msg("token account is not the network's treasury")]
    WrongTreasury,
    #[msg("token account is not owned by the expected wallet")]
    WrongTokenOwner,
    #[msg("amount must be non-zero")]
    ZeroAmount,
    #[msg("stake below the network minimum")]
    StakeBelowMinimum,
    #[msg("signer is not the provider's authority")]
    NotProviderAuthority,
    #[msg("provider is unbonding stake and cannot claim")]
    ProviderUnbonding,
    #[msg("provider holds its maximum number of concurrent claims for its stake")]
    ClaimCapReached,
    #[msg("unstaking would leave less than the stake required by open claims")]
    StakeLockedByClaims,
    #[msg("requested more than the staked amount")]
    InsufficientStake,
    #[msg("nothing is unbonding")]
    NothingUnbonding,
    #[msg("the unbonding period has not ended")]
    UnbondingNotOver,
    #[msg("provider still holds stake or open claims")]
    ProviderNotEmpty,
    #[msg("kernel size parameters are zero, too large or inconsistent")]
    InvalidKernelSpec,
    #[msg("input kind not supported by this kernel, or data URI empty or too long")]
    InvalidInput,
    #[msg("shard count is zero, above the network cap, or above the kernel's divisible units")]
    InvalidShardCount,
    #[msg("replica count is zero or above the network cap")]
    InvalidReplicaCount,
    #[msg(
        "quorum must be at least 2, a strict majority of replicas, and at most the replica count"
    )]
    InvalidQuorum,
    #[msg("price must be non-zero")]
    InvalidPrice,
    #[msg("job expiry outside the allowed bounds")]
    InvalidExpiry,
    #[msg("arithmetic overflow")]
    MathOverflow,
    #[msg("signer is not the job's client")]
    NotJobClient,
    #[msg("job is cancelled")]
    JobCancelled,
    #[msg("job has expired")]
    JobExpired,
    #[msg("shard index outside the job")]
    InvalidShardIndex,
    #[msg("replica index not open on this shard")]
    InvalidReplicaIndex,
    #[msg("this slot is already claimed")]
    SlotTaken,
    #[msg("provider already holds another replica of this shard")]
    AlreadyHoldsReplica,
    #[msg("shard is not accepting claims")]
    ShardNotClaimable,
    #[msg("shard already ran and closed")]
    ShardClosed,
    #[msg("assignment already committed")]
    AlreadyCommitted,
    #[msg("claim deadline has passed")]
    CommitTooLate,
    #[msg("shard is not in its reveal phase")]
    RevealNotOpen,
    #[msg("reveal window has closed")]
    RevealTooLate,
    #[msg("assignment is not committed")]
    NotCommitted,
    #[msg("assignment already revealed")]
    AlreadyRevealed,
    #[msg("revealed root and salt do not match the commitment")]
    CommitmentMismatch,
    #[msg("shard cannot be settled yet")]
    SettleTooEarly,
    #[msg("shard is already settled")]
    ShardAlreadySettled,
    #[msg("assignment cannot be settled until its shard is settled or the job expires")]
    AssignmentNotSettleable,
    #[msg("assignment has not missed its deadline")]
    NotMissed,
    #[msg("shard still has live assignments or is unsettled")]
    ShardStillOpen,
    #[msg("job still has open work")]
    JobStillOpen,
    #[msg("account does not belong to this job")]
    WrongJob,
    #[msg("account does not belong to this provider")]
    WrongProvider,
    #[msg("account does not belong to this network")]
    WrongNetwork,
    #[msg("rent receiver is not the account's payer")]
    WrongRentReceiver,
    #[msg("spot-check samples must be between 1 and 64")]
    InvalidSampleCount,
    #[msg("spot-checked jobs need a seeded input")]
    SpotCheckNeedsSeed,
    #[msg("one sample's proof of this job would not fit a transaction")]
    ProofTooLarge,
    #[msg("this spot-check could be passed by guessing leaves instead of computing them")]
    LeavesGuessable,
    #[msg("recomputing one leaf would not fit one instruction's compute budget")]
    LeafTooExpensive,
    #[msg("the slot hash for this commitment's challenge does not exist yet")]
    ChallengeNotReady,
    #[msg("the slot hash for this commitment's challenge has left the SlotHashes sysvar")]
    ChallengeUnavailable,
    #[msg("account is not the SlotHashes sysvar")]
    WrongSlotHashes,
    #[msg("only the stake's holder may activate it")]
    NotStakeHolder,
    #[msg("no stake is warming")]
    NothingWarming,
    #[msg("the stake's warm-up is not over")]
    StillWarming,
    #[msg(
        "the stake's activation window is over: it warms again when more is staked, or comes back"
    )]
    ActivationLapsed,
    #[msg("the incinerator account must be the incinerator")]
    WrongIncinerator,
    #[msg("a job whose ties cannot be settled by evidence needs more replicas than its quorum")]
    QuorumWithoutSpare,
    #[msg("this job is not spot-checked and its shard is not disputed")]
    NotSpotCheck,
    #[msg("the assignment has not revealed its root")]
    NotRevealed,
    #[msg("the assignment has no challenge yet: reveal first")]
    NotChallenged,
    #[msg("sample index outside the challenge")]
    InvalidSample,
    #[msg("this sample is already proven")]
    DuplicateProof,
    #[msg("Merkle path does not lead to the revealed root")]
    InvalidMerkleProof,
    #[msg("a sha256_chain proof after the first leaf needs the previous leaf and its path")]
    MissingPrevious,
    #[msg("the proof window has closed")]
    ProofTooLate,
    #[msg("the mint has a Token-2022 extension that can take, hold back or freeze escrowed tokens")]
    UnsupportedMintExtension,
    #[msg(
        "an endpoint is an http:// or https:// URL of at most 128 printable ASCII bytes, or empty"
    )]
    InvalidEndpoint,
    #[msg("the claim's commit deadline and reveal window would end after the job expires")]
    ClaimCannotFinish,
    #[msg("only the mint's mint authority may create its network")]
    NotMintAuthority,
    #[msg("the mint has a freeze authority, which could freeze escrow and stake vaults")]
    FreezableMint,
    #[msg("no parameter update is queued")]
    NoPendingUpdate,
    #[msg("the queued parameter update is not in force yet")]
    UpdateNotDue,
    #[msg("a shard's output would exceed the per-shard limit")]
    ShardOutputTooLarge,
    #[msg("only the claim's holder may give it back")]
    NotHolder,
    #[msg("the assignment's challenge is already fixed")]
    AlreadyChallenged,
    #[msg("the shard no longer takes commitments")]
    CommitClosed,
    #[msg("a delegation, or what is left of it, must be at least the network's minimum")]
    DelegationBelowMinimum,
    #[msg("the commission is above the network's maximum")]
    CommissionTooHigh,
    #[msg("only the delegation's wallet may do this")]
    NotDelegator,
    #[msg("a provider stakes on itself with add_stake, not by delegating")]
    SelfDelegation,
    #[msg("no rewards to claim")]
    NothingToClaim,
    #[msg("the provider still has delegations")]
    ProviderHasDelegations,
    #[msg("the provider already has a benchmark open")]
    BenchmarkOpen,
    #[msg("the provider claims no throughput to challenge")]
    NoThroughputClaimed,
    #[msg("only a proven throughput no third party has challenged yet may be challenged by one")]
    NothingToChallenge,
    #[msg("the challenge has nothing to draw now (drawn already, or not committed yet)")]
    NothingToDraw,
    #[msg("the challenge's seed is not drawn yet")]
    BenchmarkNotStarted,
    #[msg("the challenge's commitment is already made")]
    BenchmarkCommitted,
    #[msg("the challenge's deadline has passed")]
    BenchmarkDeadlinePassed,
    #[msg("the sample's unit root must be proven before its leaf")]
    UnitNotProven,
    #[msg("the challenge has no verdict yet")]
    BenchmarkNotOver,
    #[msg("the provider's proven throughput is below the job's minimum")]
    HardwareNotProven,
    #[msg("the provider's throughput proof is older than the job or network allows")]
    HardwareProofStale,
    #[msg("a proof buffer write may end at most 10 KiB past the buffer's bytes, and 64 KiB in all")]
    ProofBufferOffset,
    #[msg("only an embedding job's samples are proven from a proof buffer")]
    NotEmbeddingJob,
    #[msg("the staged witness is malformed or not in the sample's order")]
    MalformedWitness,
    #[msg("the model's header or a weights leaf is not a valid model's")]
    InvalidModelLeaf,
    #[msg("a spot-check needs the job's width to be the model's and a multiple of 16")]
    EmbeddingWidthNotCheckable,
    #[msg("the sampled sequence is empty, outside the vocabulary or longer than a check allows")]
    SequenceNotCheckable,
    #[msg("a spot-checked embedding job needs a data input, 64 samples and a width of 16s")]
    EmbeddingSpotCheckRefused,
    #[msg("the witness opens another sequence than the shard's one that holds the sampled token")]
    NotTheSampledSequence,
    #[msg("the model is larger than a spot-check is measured at, or its draw is not priced")]
    ModelNotCheckable,
    #[msg("only a job with a data input can be private")]
    PrivateJobNeedsData,
    #[msg("the job is not private: it has no key exchange")]
    NotPrivateJob,
    #[msg("this claim's key is already published")]
    ClaimKeyAlreadyPublished,
    #[msg("the holder has not published its claim key yet")]
    NoClaimKey,
    #[msg("this claim's key envelope is already delivered")]
    KeyAlreadyDelivered,
    #[msg("a private claim commits only once its client delivered its key")]
    KeyNotDelivered,
    #[msg("the key envelope was sealed to another claim key than this claim's")]
    WrongClaimKey,
    #[msg("a claim key is published with its claim, in the same transaction")]
    ClaimKeyTooLate,
    #[msg("a private job is verified by quorum: a spot-check would open its input on chain")]
    PrivateJobNeedsQuorum,
}
