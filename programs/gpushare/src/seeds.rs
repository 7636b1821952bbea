//! PDA seed prefixes: the one place that fixes every account address the program derives.

/// `[NETWORK, mint]` — the network's configuration.
pub const NETWORK: &[u8] = b"network";
/// `[FEE_VAULT, network]` — the token account where closed jobs leave fees and slashed stake.
pub const FEE_VAULT: &[u8] = b"fees";
/// `[PROVIDER, network, authority]` — a provider's registration, stake and counters.
pub const PROVIDER: &[u8] = b"provider";
/// `[STAKE_VAULT, provider]` — the token account holding a provider's stake.
pub const STAKE_VAULT: &[u8] = b"stake";
/// `[JOB, network, client, job_id]` — a client's job.
pub const JOB: &[u8] = b"job";
/// `[ESCROW_VAULT, job]` — the token account holding a job's escrow.
pub const ESCROW_VAULT: &[u8] = b"escrow";
/// `[SHARD, job, shard_index]` — one shard's replicas, votes and outcome.
pub const SHARD: &[u8] = b"shard";
/// `[ASSIGNMENT, shard, replica]` — one (shard, replica) slot held by one provider.
pub const ASSIGNMENT: &[u8] = b"assignment";
/// `[PROOF_BUFFER, assignment, sample]` — a staged witness of one embedding sample.
pub const PROOF_BUFFER: &[u8] = b"proof-buffer";
/// `[DELEGATION, provider, delegator]` — one wallet's stake delegated to a provider.
pub const DELEGATION: &[u8] = b"delegation";
/// `[BENCHMARK, provider]` — the provider's open benchmark.
pub const BENCHMARK: &[u8] = b"benchmark";
/// `[REWARD_VAULT, provider]` — the token account holding the rewards a provider's delegators earned.
pub const REWARD_VAULT: &[u8] = b"rewards";
