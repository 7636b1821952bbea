//! The embedding model's row steps around each linear layer on AVX-512: quantizing a row
//! (`fixed::quantize_row`) and requantizing its accumulators (`fixed::linear_output`), eight i64
//! lanes at a time with full 64-bit products, so the bits are core's for any input; the tests check
//! them against core. Where the processor lacks AVX-512, core's loops run.
use gpushare_core::embedding::fixed::{
    self, ACT_LIMIT, MULTIPLIER_PRE_SHIFT, MULTIPLIER_SHIFT, RECIPROCAL_BITS,
};
use gpushare_core::embedding::forward;
use gpushare_core::embedding::model::Linear;

/// Values in one vector step: eight i64 lanes.
const LANES: usize = 8;

/// Whether this processor runs the vector steps (AVX-512 F, DQ, BW and VL; detected once, then cached).
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    let supported = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl");
    #[cfg(not(target_arch = "x86_64"))]
    let supported = false;
    supported
}

/// [`fixed::quantize_row`] of `row` into `levels` (as many as both hold); returns the row's scale.
pub fn quantize_row(row: &[i32], levels: &mut [i16]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    if supported() {
        // SAFETY: the processor's features were checked above.
        return unsafe { quantize_row_avx512(row, levels) };
    }
    fixed::quantize_row(row, levels)
}

/// [`fixed::linear_output`] of every accumulator of a row of scale `m`, in place.
pub fn requantize_row(accumulators: &mut [i32], m: i64, linear: &Linear) {
    #[cfg(target_arch = "x86_64")]
    if supported() {
        // SAFETY: the processor's features were checked above.
        return unsafe { requantize_row_avx512(accumulators, m, linear) };
    }
    forward::requantize_row(accumulators, m, linear)
}

/// `(v + 2^(S−1)) >> S` on eight i64 lanes ([`fixed::shift_round`] for S > 0); for callers built
/// with AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) fn shift_round<const S: u32>(
    v: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    _mm512_srai_epi64::<S>(_mm512_add_epi64(v, _mm512_set1_epi64(1 << (S - 1))))
}

/// # Safety
/// The processor must support AVX-512 F, DQ, BW and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl")]
unsafe fn quantize_row_avx512(row: &[i32], levels: &mut [i16]) -> i64 {
    use std::arch::x86_64::*;
    // The scale is the whole row's; levels are written for as many values as both hold, as core's.
    let whole = row.len() / LANES * LANES;
    let written = row.len().min(levels.len()) / LANES * LANES;
    let (mut high, mut low) = (_mm512_set1_epi64(0), _mm512_set1_epi64(0));
    for chunk in row[..whole].chunks_exact(LANES) {
        // SAFETY: the chunk holds LANES i32s.
        let x = _mm512_cvtepi32_epi64(unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) });
        (high, low) = (_mm512_max_epi64(high, x), _mm512_min_epi64(low, x));
    }
    let tail = row[whole..].iter().map(|x| i64::from(*x));
    let m = tail
        .clone()
        .map(i64::abs)
        .chain([_mm512_reduce_max_epi64(high), -_mm512_reduce_min_epi64(low)])
        .max()
        .unwrap_or(0);
    let reciprocal = fixed::row_reciprocal(m);
    let r = _mm512_set1_epi64(reciprocal);
    for (chunk, out) in row[..written]
        .chunks_exact(LANES)
        .zip(levels[..written].chunks_exact_mut(LANES))
    {
        // SAFETY: the chunk holds LANES i32s and `out` LANES i16s.
        unsafe {
            let x = _mm512_cvtepi32_epi64(_mm256_loadu_si256(chunk.as_ptr().cast()));
            let level = shift_round::<RECIPROCAL_BITS>(_mm512_mullo_epi64(x, r));
            _mm_storeu_si128(out.as_mut_ptr().cast(), _mm512_cvtepi64_epi16(level));
        }
    }
    for (level, x) in levels[written..].iter_mut().zip(&row[written..]) {
        *level = fixed::quantize_value(*x, reciprocal);
    }
    m
}

/// # Safety
/// The processor must support AVX-512 F, DQ, BW and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl")]
unsafe fn requantize_row_avx512(accumulators: &mut [i32], m: i64, linear: &Linear) {
    use std::arch::x86_64::*;
    let n = accumulators
        .len()
        .min(linear.multipliers.len())
        .min(linear.biases.len());
    let whole = n / LANES * LANES;
    let scale = _mm512_set1_epi64(m);
    let (low, high) = (_mm512_set1_epi64(-ACT_LIMIT), _mm512_set1_epi64(ACT_LIMIT));
    for start in (0..whole).step_by(LANES) {
        // SAFETY: start + LANES <= n, within all three slices.
        unsafe {
            let acc =
                _mm512_cvtepi32_epi64(_mm256_loadu_si256(accumulators[start..].as_ptr().cast()));
            let multiplier = _mm512_loadu_si512(linear.multipliers[start..].as_ptr().cast());
            let bias = _mm512_loadu_si512(linear.biases[start..].as_ptr().cast());
            let scaled = shift_round::<MULTIPLIER_PRE_SHIFT>(_mm512_mullo_epi64(acc, multiplier));
            let product = _mm512_mullo_epi64(scaled, scale);
            let y = _mm512_add_epi64(
                bias,
                shift_round::<{ MULTIPLIER_SHIFT - MULTIPLIER_PRE_SHIFT }>(product),
            );
            let clamped = _mm512_max_epi64(_mm512_min_epi64(y, high), low);
            _mm256_storeu_si256(
                accumulators[start..].as_mut_ptr().cast(),
                _mm512_cvtepi64_epi32(clamped),
            );
        }
    }
    for ((y, multiplier), bias) in accumulators[whole..n]
        .iter_mut()
        .zip(&linear.multipliers[whole..n])
        .zip(&linear.biases[whole..n])
    {
        *y = fixed::linear_output(*y, m, *multiplier, *bias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpushare_core::rng::SplitMix64;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Rows of every width (tails included), activations up to the clamp and zero rows: core's levels and scale.
        #[test]
        fn vector_quantizing_is_core_s(width in 1usize..60, seed in any::<u64>(), scale in 0u32..25) {
            let mut draw = SplitMix64::new(seed);
            let limit = (1i64 << scale).min(ACT_LIMIT);
            let row: Vec<i32> = (0..width).map(|_| ((draw.next_u64() % (2 * limit as u64 + 1)) as i64 - limit) as i32).collect();
            let (mut ours, mut theirs) = (vec![0i16; width], vec![0i16; width]);
            prop_assert_eq!(quantize_row(&row, &mut ours), fixed::quantize_row(&row, &mut theirs));
            prop_assert_eq!(ours, theirs);
        }

        /// Accumulators of any size against multipliers and biases of the model's ranges: core's outputs.
        #[test]
        fn vector_requantizing_is_core_s(width in 1usize..60, seed in any::<u64>(), m in 0i64..(1 << 24)) {
            let mut draw = SplitMix64::new(seed);
            let linear = Linear {
                inputs: 1,
                weights: vec![0; width],
                multipliers: (0..width).map(|_| (draw.next_u64() % (1 << 31)) as i64).collect(),
                biases: (0..width).map(|_| (draw.next_u64() % (1 << 25)) as i64 - (1 << 24)).collect(),
            };
            let accumulators: Vec<i32> = (0..width).map(|_| (draw.next_u64() % (1 << 26)) as i32 - (1 << 25)).collect();
            let mut ours = accumulators.clone();
            requantize_row(&mut ours, m, &linear);
            let theirs: Vec<i32> = accumulators.iter().enumerate()
                .map(|(j, acc)| fixed::linear_output(*acc, m, linear.multipliers[j], linear.biases[j]))
                .collect();
            prop_assert_eq!(ours, theirs);
        }
    }
}
