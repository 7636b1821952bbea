//! Hardware benchmarks: the seeded gemm_i8 work a benchmark asks of a provider, how it is
//! sized from the throughput the provider claims, how its output is committed, and the throughput a
//! passed challenge proves (in mega-operations per second).
//!
//! The work is `units` independent gemm_i8 products of `unit_rows` × 1024 × 1024, unit `u` seeded
//! by [`unit_seed`]. Every unit has a power-of-two number of leaves, so the RFC 6962 tree over all
//! leaves of all units (in order) is the tree over the units' roots: a provider keeps only those
//! roots while it computes, and a sample's audit path is its path in its unit followed by the unit
//! root's path among the units. k = 1024 keeps one leaf within one proof instruction's budget.
use crate::kernels::{GEMM_LEAF_ELEMENTS, Kernel};
use crate::sha256;

/// Columns of every unit's C and B.
pub const UNIT_N: u32 = 1024;
/// Inner dimension of every unit (the most a spot-checked leaf may have).
pub const UNIT_K: u32 = 1024;
/// Fewest rows of A (and C) a unit has.
pub const MIN_UNIT_ROWS: u32 = 8;
/// Most rows a unit has: 4 MiB of output, 2³¹ operations.
pub const MAX_UNIT_ROWS: u32 = 1024;
/// Most units a benchmark has: 2⁵¹ operations in all, a 37-level audit path.
pub const MAX_UNITS: u32 = 1 << 20;
/// Leaves sampled from a committed benchmark.
pub const SAMPLES: u8 = 16;
/// Nominal slot time the proven throughput is computed with.
pub const SLOT_MILLIS: u64 = 400;
/// How many times the claimed throughput's time the deadline allows, before its grace.
pub const DEADLINE_FACTOR: u64 = 4;
/// Slots added to every deadline for transactions to land (one minute).
pub const GRACE_SLOTS: u64 = 150;
/// Slots after the commitment deadline for proving the samples (two minutes).
pub const PROOF_SLOTS: u64 = 300;

/// The size of one benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchmarkSize {
    pub units: u32,
    pub unit_rows: u32,
}

/// Operations of a unit with `rows` rows.
fn unit_ops(rows: u32) -> u64 {
    2 * u64::from(rows) * u64::from(UNIT_N) * u64::from(UNIT_K)
}

impl BenchmarkSize {
    /// The benchmark that `gops` giga-operations per second finish in about `millis` milliseconds,
    /// split into a multiple of `devices` units so that every device gets the same work (within
    /// the caps).
    pub fn for_throughput(gops: u64, millis: u32, devices: u8) -> Self {
        let devices = u32::from(devices.max(1));
        let target = u128::from(gops) * 1_000_000 * u128::from(millis);
        let per_device = target.div_ceil(u128::from(devices));
        if per_device >= u128::from(unit_ops(MAX_UNIT_ROWS)) {
            let most = MAX_UNITS - MAX_UNITS % devices;
            let units = target
                .div_ceil(u128::from(unit_ops(MAX_UNIT_ROWS)))
                .next_multiple_of(u128::from(devices));
            return Self {
                units: u32::try_from(units).map_or(most, |units| units.min(most)),
                unit_rows: MAX_UNIT_ROWS,
            };
        }
        // Below one full unit per device: the power of two of rows that covers the target.
        let rows = per_device.div_ceil(u128::from(unit_ops(1))) as u32;
        Self {
            units: devices,
            unit_rows: rows.next_power_of_two().clamp(MIN_UNIT_ROWS, MAX_UNIT_ROWS),
        }
    }

    /// Whether the sizes are ones [`BenchmarkSize::for_throughput`] can produce.
    pub fn is_valid(&self) -> bool {
        (1..=MAX_UNITS).contains(&self.units)
            && self.unit_rows.is_power_of_two()
            && (MIN_UNIT_ROWS..=MAX_UNIT_ROWS).contains(&self.unit_rows)
    }

    /// The kernel of one unit (one shard).
    pub fn unit_kernel(&self) -> Kernel {
        Kernel::GemmI8 {
            m: self.unit_rows,
            n: UNIT_N,
            k: UNIT_K,
        }
    }

    /// Leaves of one unit (a power of two).
    pub fn unit_leaves(&self) -> u64 {
        u64::from(self.unit_rows) * u64::from(UNIT_N) / GEMM_LEAF_ELEMENTS
    }

    /// Leaves of the whole benchmark.
    pub fn leaves(&self) -> u64 {
        u64::from(self.units) * self.unit_leaves()
    }

    /// Operations (two per multiply-add) of the whole benchmark.
    pub fn ops(&self) -> u64 {
        u64::from(self.units) * unit_ops(self.unit_rows)
    }

    /// The unit holding leaf `index` of the whole benchmark, and the leaf's index in that unit.
    pub fn locate(&self, index: u64) -> (u32, u64) {
        let per_unit = self.unit_leaves();
        ((index / per_unit) as u32, index % per_unit)
    }

    /// Slots from the seed to the commitment deadline: [`DEADLINE_FACTOR`] times what `gops`
    /// needs, plus [`GRACE_SLOTS`].
    pub fn commit_slots(&self, gops: u64) -> u64 {
        let millis = u128::from(self.ops()) * u128::from(DEADLINE_FACTOR)
            / (u128::from(gops.max(1)) * 1_000_000);
        let slots = millis.div_ceil(u128::from(SLOT_MILLIS));
        u64::try_from(slots)
            .unwrap_or(u64::MAX)
            .saturating_add(GRACE_SLOTS)
    }
}

/// The seed of unit `unit` of the benchmark seeded by `seed`: `sha256("gpushare:benchmark-unit" ‖
/// seed ‖ unit as u32 LE)`.
pub fn unit_seed(seed: &[u8; 32], unit: u32) -> [u8; 32] {
    sha256(&[b"gpushare:benchmark-unit", seed, &unit.to_le_bytes()])
}

/// Mega-operations per second of `ops` done in `slots` slots of [`SLOT_MILLIS`] (at least one
/// slot). Mega, not giga: a small benchmark done in a few slots still measures above zero.
pub fn proven_mops(ops: u64, slots: u64) -> u64 {
    let micros = u128::from(slots.max(1)) * u128::from(SLOT_MILLIS) * 1_000;
    (u128::from(ops) / micros) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_claim_and_stay_within_the_caps() {
        // 1 GOPS for 1 s: 10⁹ operations, 477 rows of 2²¹ each, rounded up to 512.
        let small = BenchmarkSize::for_throughput(1, 1_000, 1);
        assert_eq!(
            small,
            BenchmarkSize {
                units: 1,
                unit_rows: 512
            }
        );
        let tiny = BenchmarkSize::for_throughput(1, 1, 2);
        assert_eq!(
            tiny,
            BenchmarkSize {
                units: 2,
                unit_rows: MIN_UNIT_ROWS
            }
        );
        // 10 TOPS for 30 s over 4 devices: 139,699 full units, rounded up to 139,700.
        let big = BenchmarkSize::for_throughput(10_000, 30_000, 4);
        assert_eq!(
            big,
            BenchmarkSize {
                units: 139_700,
                unit_rows: MAX_UNIT_ROWS
            }
        );
        assert!(big.ops() >= 10_000 * 1_000_000_000 * 30);
        let capped = BenchmarkSize::for_throughput(u64::MAX, u32::MAX, 3);
        assert_eq!(capped.units, MAX_UNITS - MAX_UNITS % 3);
        for size in [small, tiny, big, capped] {
            assert!(size.is_valid());
            assert!(size.unit_leaves().is_power_of_two());
            assert!(crate::spot_check::leaf_fits_budget(&size.unit_kernel()));
        }
    }

    #[test]
    fn leaves_locate_in_their_unit() {
        let size = BenchmarkSize {
            units: 3,
            unit_rows: 8,
        };
        assert_eq!(size.unit_leaves(), 1024);
        assert_eq!(size.locate(0), (0, 0));
        assert_eq!(size.locate(1024 * 2 + 5), (2, 5));
    }

    #[test]
    fn throughput_is_operations_over_nominal_slot_time() {
        // 4e11 operations in 10 slots (4 s): 100 GOPS = 100,000 MOPS.
        assert_eq!(proven_mops(400_000_000_000, 10), 100_000);
        assert_eq!(proven_mops(400_000_000, 0), 1_000);
        let size = BenchmarkSize::for_throughput(100, 20_000, 1);
        // About 20 s at the claim, 4 × that = 80 s = 200 slots, plus the grace.
        assert!((GRACE_SLOTS + 200..GRACE_SLOTS + 215).contains(&size.commit_slots(100)));
    }
}
