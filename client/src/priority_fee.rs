//! The priority fee a transaction offers per compute unit: a fixed price (0: none), or a percentile of
//! what transactions writing the same accounts paid over the last 150 slots
//! (`getRecentPrioritizationFees`), capped, and raised with each signing round a transaction needs. The fee is the price times the compute-unit limit, which
//! [`crate::compute_budget`] keeps close to what the transaction really consumes.
use std::fmt;
use std::str::FromStr;

/// Percentile of recent fees `recent` offers unless told otherwise.
pub const DEFAULT_PERCENTILE: u8 = 75;
/// Most micro-lamports per compute unit `recent` offers unless told otherwise: 50,000 puts a
/// 1.2 M-unit proof at 60,000 lamports.
pub const DEFAULT_MAX_MICRO_LAMPORTS: u64 = 50_000;

/// How a transaction's compute-unit price is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityFee {
    /// This many micro-lamports per compute unit (0: no price instruction).
    Fixed(u64),
    /// The `percentile`-th of the recent per-slot prioritization fees for the accounts the
    /// transaction writes, at most `max_micro_lamports`.
    Recent {
        percentile: u8,
        max_micro_lamports: u64,
    },
}

impl Default for PriorityFee {
    fn default() -> Self {
        PriorityFee::Fixed(0)
    }
}

/// Why a priority fee setting could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "priority fee {0:?}: expected micro-lamports per compute unit, `recent`, `recent:<percentile>` or `recent:<percentile>:<max micro-lamports>`"
)]
pub struct PriorityFeeError(String);

impl FromStr for PriorityFee {
    type Err = PriorityFeeError;

    /// `1000` (fixed), `recent`, `recent:90`, `recent:90:20000`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || PriorityFeeError(text.to_owned());
        let mut parts = text.split(':');
        match parts.next() {
            Some("recent") => {
                let percentile = match parts.next() {
                    Some(p) => p.parse().ok().filter(|p| *p <= 100).ok_or_else(invalid)?,
                    None => DEFAULT_PERCENTILE,
                };
                let max_micro_lamports = match parts.next() {
                    Some(max) => max.parse().map_err(|_| invalid())?,
                    None => DEFAULT_MAX_MICRO_LAMPORTS,
                };
                if parts.next().is_some() {
                    return Err(invalid());
                }
                Ok(PriorityFee::Recent {
                    percentile,
                    max_micro_lamports,
                })
            }
            Some(fixed) => fixed.parse().map(PriorityFee::Fixed).map_err(|_| invalid()),
            None => Err(invalid()),
        }
    }
}

impl fmt::Display for PriorityFee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriorityFee::Fixed(price) => write!(f, "{price}"),
            PriorityFee::Recent {
                percentile,
                max_micro_lamports,
            } => write!(f, "recent:{percentile}:{max_micro_lamports}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for PriorityFee {
    /// A number (fixed) or a string as [`FromStr`] reads it, as config files write either.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Fixed(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Fixed(price) => Ok(PriorityFee::Fixed(price)),
            Written::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The price a `recent` policy starts escalating from when recent fees were zero, micro-lamports.
pub const ESCALATION_FLOOR_MICRO_LAMPORTS: u64 = 1_000;

impl PriorityFee {
    /// The price to offer in signing round `round` (1 for the first) of a transaction first priced
    /// `first`. A fixed price stays. A `recent` price doubles with every round after the first, from at
    /// least [`ESCALATION_FLOOR_MICRO_LAMPORTS`], up to its cap: a transaction re-signed because its
    /// blockhash expired unconfirmed did not pay enough to land.
    pub fn price_for_round(&self, first: u64, round: u32) -> u64 {
        match *self {
            PriorityFee::Fixed(price) => price,
            PriorityFee::Recent {
                max_micro_lamports, ..
            } if round > 1 => {
                let doublings = (round - 1).min(63);
                first
                    .max(ESCALATION_FLOOR_MICRO_LAMPORTS)
                    .saturating_mul(1u64 << doublings)
                    .min(max_micro_lamports)
            }
            PriorityFee::Recent { .. } => first,
        }
    }
}

/// The `percentile`-th (nearest rank) of `recent` per-slot fees, at most `max`; 0 without any.
pub fn percentile_of(recent: &mut [u64], percentile: u8, max: u64) -> u64 {
    if recent.is_empty() {
        return 0;
    }
    recent.sort_unstable();
    let rank = (recent.len() * usize::from(percentile.min(100))).div_ceil(100);
    recent[rank.saturating_sub(1)].min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_written_and_print_back() {
        assert_eq!("0".parse(), Ok(PriorityFee::Fixed(0)));
        assert_eq!("1500".parse(), Ok(PriorityFee::Fixed(1_500)));
        let recent = PriorityFee::Recent {
            percentile: DEFAULT_PERCENTILE,
            max_micro_lamports: DEFAULT_MAX_MICRO_LAMPORTS,
        };
        assert_eq!("recent".parse(), Ok(recent));
        let custom = PriorityFee::Recent {
            percentile: 90,
            max_micro_lamports: 20_000,
        };
        assert_eq!("recent:90:20000".parse(), Ok(custom));
        assert_eq!(custom.to_string().parse(), Ok(custom));
        for bad in [
            "",
            "fast",
            "recent:101",
            "recent:50:x",
            "recent:50:1:2",
            "-1",
        ] {
            assert!(bad.parse::<PriorityFee>().is_err(), "{bad}");
        }
        let from_file: PriorityFee = serde_json::from_str("1200").expect("a number");
        assert_eq!(from_file, PriorityFee::Fixed(1_200));
        let from_file: PriorityFee = serde_json::from_str("\"recent:90:20000\"").expect("text");
        assert_eq!(from_file, custom);
    }

    #[test]
    fn a_recent_price_doubles_each_signing_round_up_to_its_cap_and_a_fixed_one_stays() {
        let recent = PriorityFee::Recent {
            percentile: 75,
            max_micro_lamports: 20_000,
        };
        let rounds: Vec<u64> = (1..=7)
            .map(|round| recent.price_for_round(3_000, round))
            .collect();
        assert_eq!(
            rounds,
            [3_000, 6_000, 12_000, 20_000, 20_000, 20_000, 20_000]
        );
        assert_eq!(recent.price_for_round(0, 1), 0);
        assert_eq!(
            recent.price_for_round(0, 2),
            2 * ESCALATION_FLOOR_MICRO_LAMPORTS
        );
        assert_eq!(recent.price_for_round(5, 99), 20_000);
        assert_eq!(PriorityFee::Fixed(700).price_for_round(700, 5), 700);
    }

    #[test]
    fn the_percentile_is_the_nearest_rank_of_recent_fees_under_the_cap() {
        let mut fees = vec![0, 0, 10, 5_000, 40, 100_000, 7, 0];
        assert_eq!(percentile_of(&mut fees.clone(), 50, 50_000), 7);
        assert_eq!(percentile_of(&mut fees.clone(), 75, 50_000), 40);
        assert_eq!(percentile_of(&mut fees, 100, 50_000), 50_000);
        assert_eq!(percentile_of(&mut [], 75, 50_000), 0);
    }
}
