//! Spot-check challenges: which leaves a provider must prove, derived from a slot hash that did not
//! exist when the provider committed, mixed with its assignment's address; and what one leaf costs
//! to recompute on-chain.
use crate::kernels::{GEMM_LEAF_ELEMENTS, Kernel};
use crate::sha256;

/// Most leaves one spot-check may sample.
pub const MAX_SAMPLES: u8 = 64;

/// Compute units one proof instruction may spend recomputing its leaf (of the 1.4 M a transaction
/// may request), leaving room for the Merkle path checks and the account work.
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

/// Estimated compute units to recompute one leaf on-chain (documented in docs/verification.md):
/// gemm_i8 — 8 elements × k multiply-adds, each reading one A and one B element from SplitMix64
/// (about 30 units per multiply-add); sha256_chain — `leaf_every` sol_sha256 calls of 32 bytes (about
/// 101 units each); monte_carlo — one Philox4x32-10 block per 2 samples (about 400 units).
pub fn leaf_cost_units(kernel: &Kernel) -> u64 {
    match *kernel {
        Kernel::GemmI8 { k, .. } => GEMM_LEAF_ELEMENTS * u64::from(k) * 30,
        Kernel::Sha256Chain { leaf_every, .. } => u64::from(leaf_every) * 101,
        Kernel::MonteCarlo {
            samples_per_block, ..
        } => u64::from(samples_per_block).div_ceil(2) * 400,
    }
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
