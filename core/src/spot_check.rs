//! Spot-check challenges: which leaves a provider must prove, derived from a slot hash that did not
//! exist when the provider committed, mixed with its assignment's address; what one leaf costs to
//! recompute on-chain; and which spot-checked jobs are refused because an honest provider could not
//! prove them in a transaction, or a provider could pass them by guessing leaves.
use crate::kernels::{GEMM_LEAF_ELEMENTS, Kernel};
use crate::sha256;

/// Most leaves one spot-check may sample.
pub const MAX_SAMPLES: u8 = 64;

/// Bytes of proof data one `prove` transaction can carry after its signature, its account keys and
/// the instructions bundled with it (the worker's batches and `create_job`'s bound both use it).
pub const PROOF_BYTES_PER_TRANSACTION: u64 = 820;

/// A spot-check must make a provider that guesses its whole output instead of computing it pass
/// with a chance of at most 2^−`MIN_GUESS_BITS` (one in a million).
pub const MIN_GUESS_BITS: u64 = 20;

/// Compute units one proof transaction may spend recomputing leaves, of the 1.4 M it may request. The
/// other 400 k are for the Merkle checks (the worker puts at most 820 bytes of proofs in a transaction,
/// about 25 path levels, each one `sol_sha256`: about 11 k units as measured, docs/verification.md) and
/// for what is not measured:
/// Anchor's account handling and the settlements the worker bundles with its last proof.
pub const LEAF_BUDGET_UNITS: u64 = 1_000_000;

/// Slot hashes mixed into a challenge: the first this many slots after the commitment's, which span
/// at least two leaders (a leader produces four consecutive slots).
pub const CHALLENGE_SLOTS: usize = 5;

/// The challenge seed: `sha256("gpushare:challenge" ‖ h₁ ‖ … ‖ h₅ ‖ assignment)` over the hashes of
/// the first [`CHALLENGE_SLOTS`] slots after the commitment's, oldest first.
pub fn challenge_seed(
    slot_hashes: &[[u8; 32]; CHALLENGE_SLOTS],
    assignment: &[u8; 32],
) -> [u8; 32] {
    let mut parts: [&[u8]; CHALLENGE_SLOTS + 2] = [b"gpushare:challenge"; CHALLENGE_SLOTS + 2];
    for (part, hash) in parts[1..=CHALLENGE_SLOTS].iter_mut().zip(slot_hashes) {
        *part = hash;
    }
    parts[CHALLENGE_SLOTS + 1] = assignment;
    sha256(&parts)
}

/// Leaf index of sample `sample` among `leaves`: the first 8 bytes of `sha256(challenge ‖ sample)`
/// modulo `leaves` (samples are drawn independently, with replacement).
pub fn sample_index(challenge: &[u8; 32], sample: u8, leaves: u64) -> u64 {
    let digest = sha256(&[challenge, &[sample]]);
    let word = u64::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]);
    word % leaves.max(1)
}

/// The margin the charges below keep over the compute units measured by running the leaf
/// recomputation as eBPF (`tools/cu-meter`, docs/verification.md), in percent: at least 150 % of the
/// measured cost, for what the measurement cannot see (SBF's code generation against upstream BPF's).
/// Each per-step charge is about 152 % of its measured step, so small changes in code generation do
/// not break the margin.
pub const CHARGE_MARGIN_PERCENT: u64 = 150;
/// Compute units charged on top of a leaf's steps: the measured fixed cost of a leaf (at most 2,253
/// units, gemm_i8's: the kernel spec it copies holds an embedding job's two roots), with the margin.
pub const LEAF_BASE_UNITS: u64 = 2_600;
/// Compute units charged per gemm_i8 multiply-add: 79 measured (one A and one B element from
/// SplitMix64, the product and the sum), with the margin.
pub const GEMM_UNITS_PER_MULTIPLY_ADD: u64 = 121;
/// Compute units charged per keyed sha256_chain step: 142 measured (the `sol_sha256` syscall over
/// 32 + 16 bytes, 111 units, and the loop), with the margin.
pub const SHA256_UNITS_PER_STEP: u64 = 216;
/// Compute units charged per Monte Carlo sample pair: 185 measured (one Philox4x32-10 block and two
/// circle tests), with the margin.
pub const MONTE_CARLO_UNITS_PER_PAIR: u64 = 284;

/// Compute units charged to recompute one leaf on-chain (docs/verification.md): a fixed cost plus,
/// for gemm_i8, 8 elements × k multiply-adds; for sha256_chain, `leaf_every` keyed steps; for
/// monte_carlo, one Philox block per 2 samples. Each at its measured cost with the margin, so an
/// honest provider's proof always fits.
/// An embedding leaf is not recomputed leaf by leaf (its check samples a layer's slice instead), so
/// its cost is unbounded here.
pub fn leaf_cost_units(kernel: &Kernel) -> u64 {
    LEAF_BASE_UNITS.saturating_add(match *kernel {
        Kernel::GemmI8 { k, .. } => GEMM_LEAF_ELEMENTS * u64::from(k) * GEMM_UNITS_PER_MULTIPLY_ADD,
        Kernel::Sha256Chain { leaf_every, .. } => u64::from(leaf_every) * SHA256_UNITS_PER_STEP,
        Kernel::MonteCarlo {
            samples_per_block, ..
        } => u64::from(samples_per_block).div_ceil(2) * MONTE_CARLO_UNITS_PER_PAIR,
        Kernel::Embedding { .. } => u64::MAX,
    })
}

/// Whether one leaf of `kernel` can be recomputed within one proof instruction's budget.
pub fn leaf_fits_budget(kernel: &Kernel) -> bool {
    leaf_cost_units(kernel) <= LEAF_BUDGET_UNITS
}

/// Why a spot-checked job is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpotCheckRefusal {
    /// One sample's proof of the largest shard is over [`PROOF_BYTES_PER_TRANSACTION`].
    ProofTooLarge { bytes: u64 },
    /// Guessed leaves would pass the samples with a chance above 2^−[`MIN_GUESS_BITS`].
    LeavesGuessable { bits: u64 },
    /// The kernel cannot be split into that many shards.
    InvalidShape,
}

/// Bytes of one sample's proof (borsh, as the `prove` instruction takes it) in a shard of `leaves`
/// leaves: the sample index, the leaf with its audit path of at most ⌈log₂ leaves⌉ hashes, and for
/// sha256_chain the previous leaf with its own path.
pub fn sample_proof_bytes(kernel: &Kernel, leaves: u64) -> u64 {
    let depth = u64::from(leaves.max(1).next_power_of_two().trailing_zeros());
    // A `Vec` is a 4-byte length and its items; an `Option` one byte and its value.
    let witness = 4 + kernel.leaf_bytes() as u64 + 4 + 32 * depth;
    let previous = match kernel {
        Kernel::Sha256Chain { .. } => witness,
        Kernel::GemmI8 { .. } | Kernel::MonteCarlo { .. } | Kernel::Embedding { .. } => 0,
    };
    1 + witness + 1 + previous
}

/// Fixed-point scale of the guessing chances below: 2^62 is a chance of one (products of two stay
/// inside a u128).
const CHANCE_SCALE_BITS: u32 = 62;
const CHANCE_ONE: u128 = 1 << CHANCE_SCALE_BITS;

/// The chance of guessing one leaf, at most (scaled by 2^62, rounded up): the chance of the
/// likeliest value of a leaf. `shards` sets the smallest leaf. A gemm_i8 leaf of `e` elements from a
/// dot product of length k: a sum of independent terms is never likelier than one of them, a
/// nonzero A element times a uniform B element takes each value at most once in 256, and the whole
/// A row is zero with chance 2^−8k, so the leaf's likeliest value has chance at most
/// 2^−8·min(k, e) + 2^−8·min(k, e) ≤ 2^−7·min(k, e). A Monte Carlo leaf is a binomial count of N
/// samples, whose likeliest value has chance at most 1/√N. A SHA-256 state is one in 2^256.
fn leaf_guess_chance(kernel: &Kernel, shards: u32) -> Result<u128, SpotCheckRefusal> {
    let invalid = |_| SpotCheckRefusal::InvalidShape;
    Ok(match *kernel {
        Kernel::GemmI8 { k, .. } => {
            let elements_in_last_leaf = |shard| {
                kernel.shard_output_bytes(shards, shard).map(|bytes| {
                    let elements = bytes / 4;
                    match elements % GEMM_LEAF_ELEMENTS {
                        0 => GEMM_LEAF_ELEMENTS,
                        rest => rest,
                    }
                })
            };
            let smallest = elements_in_last_leaf(0)
                .map_err(invalid)?
                .min(elements_in_last_leaf(shards.saturating_sub(1)).map_err(invalid)?);
            let bits = 7 * smallest.min(u64::from(k));
            CHANCE_ONE >> bits.min(u64::from(CHANCE_SCALE_BITS))
        }
        Kernel::Sha256Chain { .. } => 1,
        Kernel::MonteCarlo {
            samples_per_block, ..
        } => CHANCE_ONE.div_ceil(u128::from(samples_per_block.max(1).isqrt())),
        // Not recomputable leaf by leaf: counted as guessable, so leaf sampling is refused.
        Kernel::Embedding { .. } => CHANCE_ONE,
    })
}

/// The chance, at most (scaled by 2^62), that `samples` samples drawn with replacement from
/// `leaves` leaves all pass when every leaf is guessed with chance `leaf_chance`: sample i lands on
/// a leaf already drawn with chance at most i / leaves (then it passes as that one did), else on a
/// fresh leaf, guessed with chance `leaf_chance`.
fn pass_chance(leaf_chance: u128, leaves: u64, samples: u8) -> u128 {
    (0..u128::from(samples)).fold(CHANCE_ONE, |chance, drawn| {
        let repeat = (drawn * CHANCE_ONE).div_ceil(u128::from(leaves.max(1)));
        let step = (repeat + leaf_chance).min(CHANCE_ONE);
        (chance * step).div_ceil(CHANCE_ONE)
    })
}

/// Whole bits of `chance` (scaled by 2^62): n where the chance is at most 2^−n.
fn chance_bits(chance: u128) -> u64 {
    let log2_ceil = u128::BITS - chance.saturating_sub(1).leading_zeros();
    u64::from(CHANCE_SCALE_BITS.saturating_sub(log2_ceil))
}

/// Refuses a spot-check of `samples` samples on `kernel` cut into `shards` shards when one sample's
/// proof of the largest shard does not fit a transaction (its honest provider would be slashed for
/// a proof it cannot send), or when a provider guessing every leaf of the smallest shard (where
/// samples repeat most) passes with a chance above 2^−[`MIN_GUESS_BITS`].
pub fn check_spot_check(kernel: &Kernel, shards: u32, samples: u8) -> Result<(), SpotCheckRefusal> {
    let leaves = |shard| {
        kernel
            .shard_leaves(shards, shard)
            .map_err(|_| SpotCheckRefusal::InvalidShape)
    };
    let (first, last) = (leaves(0)?, leaves(shards.saturating_sub(1))?);
    let bytes = sample_proof_bytes(kernel, first.max(last));
    if bytes > PROOF_BYTES_PER_TRANSACTION {
        return Err(SpotCheckRefusal::ProofTooLarge { bytes });
    }
    let chance = pass_chance(leaf_guess_chance(kernel, shards)?, first.min(last), samples);
    let bits = chance_bits(chance);
    if bits < MIN_GUESS_BITS {
        return Err(SpotCheckRefusal::LeavesGuessable { bits });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_in_range_and_depend_on_both_inputs() {
        let a = challenge_seed(&[[1; 32]; CHALLENGE_SLOTS], &[2; 32]);
        let b = challenge_seed(&[[1; 32]; CHALLENGE_SLOTS], &[3; 32]);
        let c = challenge_seed(&[[1, 1, 1, 1, 4].map(|v| [v; 32])][0], &[2; 32]);
        assert!(a != b && a != c);
        for sample in 0..MAX_SAMPLES {
            assert!(sample_index(&a, sample, 37) < 37);
        }
    }

    /// The largest leaves that fit, at the measured charges: gemm_i8 k = 1,030, sha256_chain
    /// leaf_every = 4,617, monte_carlo 7,022 samples per block.
    #[test]
    fn leaf_charges_keep_proofs_inside_one_transaction() {
        let gemm = |k| Kernel::GemmI8 { m: 8, n: 8, k };
        assert!(leaf_fits_budget(&gemm(1_030)) && !leaf_fits_budget(&gemm(1_031)));
        let chain = |leaf_every| Kernel::Sha256Chain {
            steps: leaf_every,
            leaf_every,
        };
        assert!(leaf_fits_budget(&chain(4_617)) && !leaf_fits_budget(&chain(4_618)));
        let monte_carlo = |samples_per_block| Kernel::MonteCarlo {
            blocks: 1,
            samples_per_block,
        };
        assert!(leaf_fits_budget(&monte_carlo(7_022)) && !leaf_fits_budget(&monte_carlo(7_023)));
    }

    /// The proof-size bound is the size of the proof the worker really sends, and the largest
    /// sha256_chain shard a spot-check accepts is the deepest whose chained proof fits.
    #[test]
    fn proof_bytes_are_the_serialized_proof_and_bound_sha256_chain_depth() {
        let chain = |leaves: u32| Kernel::Sha256Chain {
            steps: leaves * 4,
            leaf_every: 4,
        };
        // 1 + (4 + 32 + 4 + 32·d) twice + 1: d = 10 fits 820 bytes, d = 11 does not.
        assert_eq!(
            sample_proof_bytes(&chain(1 << 10), 1 << 10),
            1 + 360 + 1 + 360
        );
        assert!(check_spot_check(&chain(1 << 10), 1, 8).is_ok());
        assert_eq!(
            check_spot_check(&chain(1 << 16), 1, 8),
            Err(SpotCheckRefusal::ProofTooLarge {
                bytes: 1 + 552 + 1 + 552
            })
        );
    }

    /// A Monte Carlo leaf of one sample is 1 with chance π/4: guessing passes any number of samples
    /// too often. A thousand samples per block need a few samples, more where a shard has few leaves
    /// (samples drawn with replacement repeat); gemm_i8 leaves of a long dot product and
    /// sha256_chain leaves are unguessable at any count.
    #[test]
    fn guessable_leaves_are_refused() {
        let monte_carlo = |samples_per_block| Kernel::MonteCarlo {
            blocks: 64,
            samples_per_block,
        };
        assert_eq!(
            check_spot_check(&monte_carlo(1), 1, 64),
            Err(SpotCheckRefusal::LeavesGuessable { bits: 0 })
        );
        // 1/32 a leaf; among 64 leaves, five samples (repeats counted) reach 2^−20, four do not.
        assert!(check_spot_check(&monte_carlo(1_024), 1, 5).is_ok());
        assert_eq!(
            check_spot_check(&monte_carlo(1_024), 1, 4),
            Err(SpotCheckRefusal::LeavesGuessable { bits: 17 })
        );
        // Four leaves a shard: samples repeat so often that 64 of them are not enough.
        assert!(check_spot_check(&monte_carlo(1_024), 16, 64).is_err());
        // One leaf in the shard: every sample lands on it, and one leaf of 5 bits is not enough.
        let one_block = Kernel::MonteCarlo {
            blocks: 1,
            samples_per_block: 1_024,
        };
        assert_eq!(
            check_spot_check(&one_block, 1, 64),
            Err(SpotCheckRefusal::LeavesGuessable { bits: 5 })
        );
        let gemm = |k| Kernel::GemmI8 { m: 64, n: 64, k };
        assert_eq!(
            check_spot_check(&gemm(1), 1, 2),
            Err(SpotCheckRefusal::LeavesGuessable { bits: 13 })
        );
        assert!(check_spot_check(&gemm(3), 1, 1).is_ok());
        let chain = Kernel::Sha256Chain {
            steps: 64,
            leaf_every: 4,
        };
        assert!(check_spot_check(&chain, 4, 1).is_ok());
    }

    /// The bound on a Monte Carlo leaf's likeliest count, 1/√N, holds for the real hit probability
    /// π/4 at every block size up to 10,000 samples; and the pass chance with repeats matches an
    /// exact count over every draw of a small case.
    #[test]
    fn a_binomial_counts_likeliest_value_is_at_most_one_over_root_n() {
        let p = core::f64::consts::PI / 4.0;
        for n in 1..=10_000u32 {
            let mode = ((f64::from(n) + 1.0) * p).floor();
            let ln_choose =
                |n: f64, k: f64| ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0);
            let nf = f64::from(n);
            let pmf = (ln_choose(nf, mode) + mode * p.ln() + (nf - mode) * (1.0 - p).ln()).exp();
            assert!(pmf <= 1.0 / nf.sqrt(), "n = {n}: {pmf}");
        }
    }

    /// Three samples over four leaves, each guessed with chance 1/4: the exact chance, by counting
    /// every draw (distinct leaves d pass with chance 4^−d), is within the bound.
    #[test]
    fn the_pass_chance_bounds_the_exact_chance_with_repeats() {
        let mut exact = 0.0;
        for draw in 0..64u32 {
            let picks = [draw % 4, draw / 4 % 4, draw / 16];
            let mut distinct = picks.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            exact += 0.25f64.powi(distinct.len() as i32) / 64.0;
        }
        let bound = pass_chance(CHANCE_ONE / 4, 4, 3) as f64 / CHANCE_ONE as f64;
        assert!(exact <= bound && bound < 2.0 * exact, "{exact} vs {bound}");
    }

    /// ln Γ(x) for x ≥ 1 by Stirling's series (error far below the margins tested).
    fn ln_gamma(x: f64) -> f64 {
        if x < 8.0 {
            return ln_gamma(x + 1.0) - x.ln();
        }
        let inv = 1.0 / x;
        (x - 0.5) * x.ln() - x + 0.5 * (2.0 * core::f64::consts::PI).ln() + inv / 12.0
            - inv.powi(3) / 360.0
            + inv.powi(5) / 1260.0
    }

    /// Over many challenges, a worker that faked a fraction f of its leaves is caught (some sample
    /// lands on a faked leaf) at the rate 1 − (1 − f)^s.
    #[test]
    fn the_detection_rate_matches_one_minus_one_minus_f_to_the_s() {
        let leaves = 1_000u64;
        for (faked, samples) in [(10u64, 8u8), (50, 16), (100, 4), (200, 10)] {
            let trials = 4_000;
            let caught = (0..trials)
                .filter(|trial: &u32| {
                    let slot_hash = sha256(&[&trial.to_le_bytes()]);
                    let challenge = challenge_seed(&[slot_hash; CHALLENGE_SLOTS], &[7; 32]);
                    (0..samples).any(|s| sample_index(&challenge, s, leaves) < faked)
                })
                .count();
            let measured = caught as f64 / f64::from(trials);
            let f = faked as f64 / leaves as f64;
            let expected = 1.0 - (1.0 - f).powi(i32::from(samples));
            // Four standard deviations of a binomial proportion over `trials` trials.
            let tolerance = 4.0 * (expected * (1.0 - expected) / f64::from(trials)).sqrt();
            assert!(
                (measured - expected).abs() <= tolerance,
                "f={f} s={samples}: measured {measured}, expected {expected}"
            );
        }
    }
}
