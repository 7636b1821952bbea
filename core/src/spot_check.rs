//! Spot-check challenges: which leaves a provider must prove, derived from a slot hash that did not
//! exist when the provider committed, mixed with its assignment's address; and what one leaf costs
//! to recompute on-chain.
use crate::kernels::{GEMM_LEAF_ELEMENTS, Kernel};
use crate::sha256;

/// Most leaves one spot-check may sample.
pub const MAX_SAMPLES: u8 = 64;

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
/// Compute units charged on top of a leaf's steps: the measured fixed cost of a leaf (at most 1,613
/// units, gemm_i8's), with the margin.
pub const LEAF_BASE_UNITS: u64 = 2_500;
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
pub fn leaf_cost_units(kernel: &Kernel) -> u64 {
    LEAF_BASE_UNITS
        + match *kernel {
            Kernel::GemmI8 { k, .. } => {
                GEMM_LEAF_ELEMENTS * u64::from(k) * GEMM_UNITS_PER_MULTIPLY_ADD
            }
            Kernel::Sha256Chain { leaf_every, .. } => u64::from(leaf_every) * SHA256_UNITS_PER_STEP,
            Kernel::MonteCarlo {
                samples_per_block, ..
            } => u64::from(samples_per_block).div_ceil(2) * MONTE_CARLO_UNITS_PER_PAIR,
        }
}

/// Whether one leaf of `kernel` can be recomputed within one proof instruction's budget.
pub fn leaf_fits_budget(kernel: &Kernel) -> bool {
    leaf_cost_units(kernel) <= LEAF_BUDGET_UNITS
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
    /// leaf_every = 4,618, monte_carlo 7,024 samples per block.
    #[test]
    fn leaf_charges_keep_proofs_inside_one_transaction() {
        let gemm = |k| Kernel::GemmI8 { m: 8, n: 8, k };
        assert!(leaf_fits_budget(&gemm(1_030)) && !leaf_fits_budget(&gemm(1_031)));
        let chain = |leaf_every| Kernel::Sha256Chain {
            steps: leaf_every,
            leaf_every,
        };
        assert!(leaf_fits_budget(&chain(4_618)) && !leaf_fits_budget(&chain(4_619)));
        let monte_carlo = |samples_per_block| Kernel::MonteCarlo {
            blocks: 1,
            samples_per_block,
        };
        assert!(leaf_fits_budget(&monte_carlo(7_024)) && !leaf_fits_budget(&monte_carlo(7_025)));
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
