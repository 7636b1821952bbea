//! Weight panels for the host's embedding GEMMs: a linear layer's weight rows repacked once, 16
//! output columns to a panel with each column's weights in (i16, i16) pairs along K, so that one
//! AVX-512 VNNI `vpdpwssd` multiplies a broadcast pair of a token's levels by one pair of 16 columns
//! and adds into those columns' 16 i32 sums. No horizontal sums, no transposes: a block of tokens ×
//! 64 columns keeps its sums in registers for the whole of K. The same exact i32 sums as
//! [`crate::blocks`] (integer adds in any order), faster for the embedding's few-token rows.
use std::borrow::Cow;

use gpushare_core::embedding::model::Linear;

/// Output columns in one panel: one 512-bit vector of i32 sums.
const PANEL_COLUMNS: usize = 16;
/// Panels one block computes side by side.
const BLOCK_PANELS: usize = 4;
/// Tokens one block computes side by side (their sums stay in 6 × 4 = 24 of the 32 registers).
const BLOCK_TOKENS: usize = 6;

/// A linear layer's weights as panels: for panel q, pair p and column c of the panel, the i16
/// weights (W[16q + c][2p], W[16q + c][2p + 1]), zero beyond the layer's columns and inputs; the
/// panel count is a whole number of blocks.
#[derive(Clone, Debug)]
pub struct WeightPanels {
    values: Vec<i16>,
    inputs: usize,
    pairs: usize,
    panels: usize,
    outputs: usize,
}

impl WeightPanels {
    /// Repacks `linear`'s weight rows.
    pub fn new(linear: &Linear) -> Self {
        let (inputs, outputs) = (linear.inputs, linear.outputs());
        let pairs = inputs.div_ceil(2);
        let panels = outputs
            .div_ceil(PANEL_COLUMNS)
            .next_multiple_of(BLOCK_PANELS);
        let mut values = vec![0i16; panels * pairs * 2 * PANEL_COLUMNS];
        for (j, row) in linear.weights.chunks_exact(inputs).enumerate() {
            let (panel, column) = (j / PANEL_COLUMNS, j % PANEL_COLUMNS);
            for (i, weight) in row.iter().enumerate() {
                let pair = i / 2;
                values[((panel * pairs + pair) * PANEL_COLUMNS + column) * 2 + i % 2] = *weight;
            }
        }
        Self {
            values,
            inputs,
            pairs,
            panels,
            outputs,
        }
    }

    /// Whether this processor runs the panels (AVX-512 F, BW and VNNI).
    pub fn supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        let supported = std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let supported = false;
        supported
    }

    /// The accumulators of `levels` (rows of the layer's inputs) against the panels:
    /// `out[t·outputs + j]` = Σᵢ levels[t][i]·W[j][i]. `None` where the processor lacks the
    /// instructions ([`WeightPanels::supported`]).
    pub fn accumulate(&self, levels: &[i16]) -> Option<Vec<i32>> {
        #[cfg(target_arch = "x86_64")]
        if Self::supported() {
            // Rows padded to whole pairs, so each token's pair p is one i32 read.
            let tokens = levels.len() / self.inputs.max(1);
            let padded: Cow<[i16]> = if self.inputs == 2 * self.pairs {
                Cow::Borrowed(levels)
            } else {
                levels
                    .chunks_exact(self.inputs)
                    .flat_map(|row| row.iter().copied().chain([0]))
                    .collect()
            };
            let mut out = vec![0i32; tokens * self.outputs];
            let mut first = 0;
            while first < tokens {
                let count = (tokens - first).min(BLOCK_TOKENS);
                // SAFETY: the processor's features were checked above; the rows and panels are
                // sized as the block reads them.
                unsafe {
                    match count {
                        1 => self.token_block::<1>(&padded, first, &mut out),
                        2 => self.token_block::<2>(&padded, first, &mut out),
                        3 => self.token_block::<3>(&padded, first, &mut out),
                        4 => self.token_block::<4>(&padded, first, &mut out),
                        5 => self.token_block::<5>(&padded, first, &mut out),
                        _ => self.token_block::<6>(&padded, first, &mut out),
                    }
                }
                first += count;
            }
            return Some(out);
        }
        let _ = levels;
        None
    }

    /// Tokens `first..first + R` (rows of `2·pairs` levels) against every panel, into `out`.
    ///
    /// # Safety
    /// The processor must support AVX-512 F, BW and VNNI; `rows` holds at least `first + R` rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn token_block<const R: usize>(&self, rows: &[i16], first: usize, out: &mut [i32]) {
        use std::arch::x86_64::*;
        let pairs = self.pairs;
        let row_words: [*const i32; R] =
            std::array::from_fn(|r| rows[(first + r) * 2 * pairs..].as_ptr().cast::<i32>());
        for group in (0..self.panels).step_by(BLOCK_PANELS) {
            let panel_base: [*const i16; BLOCK_PANELS] = std::array::from_fn(|q| {
                self.values[(group + q) * pairs * 2 * PANEL_COLUMNS..].as_ptr()
            });
            let mut sums = [[_mm512_setzero_si512(); BLOCK_PANELS]; R];
            for pair in 0..pairs {
                // SAFETY: pair < pairs, so each panel read of 32 i16 lies within its panel.
                let weights: [__m512i; BLOCK_PANELS] = std::array::from_fn(|q| unsafe {
                    _mm512_loadu_si512(panel_base[q].add(pair * 2 * PANEL_COLUMNS).cast())
                });
                for (row, row_sums) in row_words.iter().zip(sums.iter_mut()) {
                    // SAFETY: pair < pairs: the i32 read is the row's pair `pair`.
                    let levels = _mm512_set1_epi32(unsafe { row.add(pair).read_unaligned() });
                    for (sum, weight) in row_sums.iter_mut().zip(&weights) {
                        *sum = _mm512_dpwssd_epi32(*sum, levels, *weight);
                    }
                }
            }
            for (r, row_sums) in sums.iter().enumerate() {
                let row_out = &mut out[(first + r) * self.outputs..(first + r + 1) * self.outputs];
                for (q, sum) in row_sums.iter().enumerate() {
                    let column = (group + q) * PANEL_COLUMNS;
                    if column >= self.outputs {
                        break;
                    }
                    let width = (self.outputs - column).min(PANEL_COLUMNS);
                    let mask: __mmask16 = if width == PANEL_COLUMNS {
                        !0
                    } else {
                        (1 << width) - 1
                    };
                    // SAFETY: the mask writes `width` i32s from `column`, within the row.
                    unsafe {
                        _mm512_mask_storeu_epi32(row_out[column..].as_mut_ptr().cast(), mask, *sum)
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpushare_core::embedding::fixed::dot;
    use gpushare_core::rng::SplitMix64;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every shape, odd inputs and partial panels among them, gives the textbook sums.
        #[test]
        fn panels_give_the_textbook_accumulators(inputs in 1usize..90, outputs in 1usize..150, tokens in 1usize..15, seed in any::<u64>()) {
            let mut draw = SplitMix64::new(seed);
            let weights: Vec<i16> = (0..inputs * outputs).map(|_| (draw.next_u64() % 255) as i16 - 127).collect();
            let levels: Vec<i16> = (0..inputs * tokens).map(|_| (draw.next_u64() % 4095) as i16 - 2047).collect();
            let linear = Linear { inputs, weights, multipliers: vec![0; outputs], biases: vec![0; outputs] };
            let Some(sums) = WeightPanels::new(&linear).accumulate(&levels) else {
                // No AVX-512 VNNI here: nothing to check.
                return Ok(());
            };
            for t in 0..tokens {
                for j in 0..outputs {
                    prop_assert_eq!(sums[t * outputs + j], dot(&levels[t * inputs..(t + 1) * inputs], linear.row(j).iter().copied()));
                }
            }
        }
    }
}
