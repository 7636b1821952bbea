//! Hard limits of the protocol: bounds no network configuration may cross.

/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;
/// The protocol fee can never exceed 20 %.
pub const MAX_FEE_BPS: u16 = 2_000;
/// Upper bound of `NetworkParams::max_shards`.
pub const MAX_SHARDS_LIMIT: u16 = 4_096;
/// Upper bound of `NetworkParams::max_replicas` (replicas a job may ask for).
pub const MAX_REPLICAS_LIMIT: u8 = 8;
/// Replica slots one shard can track: one per replica a job may ask for.
pub const MAX_SLOTS_PER_SHARD: usize = 8;
const _: () = assert!(MAX_SLOTS_PER_SHARD == MAX_REPLICAS_LIMIT as usize);
/// Shortest claim timeout and reveal window, in seconds.
pub const MIN_WINDOW_SECONDS: i64 = 10;
/// Longest claim timeout, reveal window and unbonding period, in seconds (30 days).
pub const MAX_WINDOW_SECONDS: i64 = 30 * 24 * 3600;
/// Longest a benchmark may be sized to take, in milliseconds (ten minutes).
pub const MAX_BENCHMARK_MILLIS: u32 = 600_000;
/// Longest a job may stay open, in seconds (90 days).
pub const MAX_JOB_LIFETIME_SECONDS: i64 = 90 * 24 * 3600;
/// Longest data-input URI, in bytes.
pub const MAX_DATA_URI_LEN: usize = 200;
/// Largest GEMM dimension (m, n or k). k ≤ 2^16 keeps every i32 dot product exact.
pub const MAX_GEMM_DIM: u32 = 1 << 16;
/// Most SHA-256 steps in one shard's chain.
pub const MAX_SHA256_CHAIN_STEPS: u32 = 1 << 30;
/// Most Monte Carlo samples in one block.
pub const MAX_MONTE_CARLO_SAMPLES_PER_BLOCK: u32 = 1 << 24;
/// Length of a GPU model name in the hardware profile.
pub const GPU_MODEL_LEN: usize = 32;
/// Longest results endpoint URL a provider may publish, bytes.
pub const MAX_ENDPOINT_LEN: usize = 128;
/// Seconds after its warm-up ends during which warmed stake may join the active stake; later it must
/// warm again (or be taken back). So its holder cannot keep warmed stake waiting for a payout worth
/// joining: when it joins is fixed a whole warm-up ahead, to within this window.
pub const ACTIVATION_WINDOW_SECONDS: i64 = 600;
/// Domain separator of work commitments: `sha256(COMMIT_DOMAIN ‖ root ‖ provider ‖ salt)`.
pub const COMMIT_DOMAIN: &[u8] = b"gpushare:commit:v1";
/// The incinerator: lamports sent here are burned. A failed benchmark's fee goes here, so
/// a challenge always costs its challenger and failing never pays the provider.
pub const INCINERATOR: anchor_lang::prelude::Pubkey =
    anchor_lang::pubkey!("1nc1nerator11111111111111111111111111111111");
/// The SlotHashes sysvar, whose entries seed spot-check challenges.
pub const SLOT_HASHES_SYSVAR: anchor_lang::prelude::Pubkey =
    anchor_lang::pubkey!("SysvarS1otHashes111111111111111111111111111");
/// Scale of a stake pool's reward accumulator: rewards per share are kept in units of 10⁻¹⁸ token.
pub const REWARD_SCALE: u128 = 1_000_000_000_000_000_000;
