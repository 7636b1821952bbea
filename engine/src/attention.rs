//! The embedding model's attention on AVX-512: core's definition (`forward::attention`) with its
//! query·key logits and probability-weighted values computed eight i64 lanes at a time, and core's
//! own softmax between them. Integer sums are exact in any order, so the bits are core's; the tests
//! check them against core on random heads.
use gpushare_core::embedding::fixed::{self, ACT_LIMIT, FRAC_BITS, PROB_BITS};
use gpushare_core::embedding::forward;
use gpushare_core::embedding::model::Model;

/// i64 lanes in one 512-bit vector.
const LANES: usize = 8;

/// Whether this processor runs [`attention`]'s vector path (AVX-512 F and DQ).
fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    let supported = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq");
    #[cfg(not(target_arch = "x86_64"))]
    let supported = false;
    supported
}

/// The attention context of every token, as [`forward::attention`] defines it: on AVX-512 when the
/// processor has it and a head is a whole number of vectors wide, else by core's loop.
pub fn attention(model: &Model, query: &[i32], key: &[i32], value: &[i32]) -> Vec<i32> {
    #[cfg(target_arch = "x86_64")]
    if supported() && model.shape.head_dim().is_multiple_of(LANES) {
        // SAFETY: the processor's features were checked above.
        return unsafe { attention_avx512(model, query, key, value) };
    }
    forward::attention(model, query, key, value)
}

/// # Safety
/// The processor must support AVX-512 F and DQ; the head width is a multiple of [`LANES`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn attention_avx512(model: &Model, query: &[i32], key: &[i32], value: &[i32]) -> Vec<i32> {
    use crate::rows::shift_round;
    use std::arch::x86_64::*;
    let hidden = model.shape.hidden as usize;
    let head_dim = model.shape.head_dim();
    let tokens = query.len() / hidden;
    let padded = tokens.next_multiple_of(LANES);
    let multiplier = _mm512_set1_epi64(i64::from(model.shape.score_multiplier));
    let (low, high) = (_mm512_set1_epi64(-ACT_LIMIT), _mm512_set1_epi64(ACT_LIMIT));
    let clamp = |v: __m512i| _mm512_max_epi64(_mm512_min_epi64(v, high), low);
    let load = |values: &[i32]| {
        // SAFETY: callers pass at least LANES values; unaligned loads are allowed.
        _mm512_cvtepi32_epi64(unsafe { _mm256_loadu_si256(values.as_ptr().cast()) })
    };
    let mut context = vec![0i32; query.len()];
    // The head's keys transposed (column c's keys side by side, zero beyond the tokens).
    let mut keys_t = vec![0i32; head_dim * padded];
    let (mut logits, mut exps, mut probs) =
        (vec![0i64; padded], vec![0i64; tokens], vec![0i64; tokens]);
    let mut sums = vec![_mm512_setzero_si512(); head_dim / LANES];
    for head in 0..model.shape.heads as usize {
        let columns = head * head_dim..(head + 1) * head_dim;
        for u in 0..tokens {
            for (c, k) in key[u * hidden..][columns.clone()].iter().enumerate() {
                keys_t[c * padded + u] = *k;
            }
        }
        for t in 0..tokens {
            let q = &query[t * hidden..][columns.clone()];
            // logit_u = clamp(⌊⌊q·k_u⌉₁₂·multiplier⌉₁₆), eight keys at a time.
            for first in (0..padded).step_by(LANES) {
                let mut score = _mm512_setzero_si512();
                for (c, q) in q.iter().enumerate() {
                    let k = load(&keys_t[c * padded + first..]);
                    score = _mm512_add_epi64(
                        score,
                        _mm512_mul_epi32(k, _mm512_set1_epi64(i64::from(*q))),
                    );
                }
                let rounded = shift_round::<{ FRAC_BITS }>(score);
                let scaled = shift_round::<16>(_mm512_mullo_epi64(rounded, multiplier));
                // SAFETY: `first + LANES <= padded == logits.len()`.
                unsafe { _mm512_storeu_si512(logits[first..].as_mut_ptr().cast(), clamp(scaled)) };
            }
            fixed::softmax(&logits[..tokens], &mut exps, &mut probs);
            // Σ_u p_u·v_u over the head's columns, eight columns at a time.
            sums.fill(_mm512_setzero_si512());
            for (u, p) in probs.iter().enumerate() {
                let p = _mm512_set1_epi64(*p);
                let v = &value[u * hidden..][columns.clone()];
                for (block, sum) in sums.iter_mut().enumerate() {
                    *sum = _mm512_add_epi64(*sum, _mm512_mul_epi32(load(&v[block * LANES..]), p));
                }
            }
            let out = &mut context[t * hidden..][columns.clone()];
            for (block, sum) in sums.iter().enumerate() {
                let rounded = shift_round::<{ PROB_BITS }>(*sum);
                // SAFETY: the block's LANES values lie within the head's columns of `out`.
                unsafe {
                    _mm256_storeu_si256(
                        out[block * LANES..].as_mut_ptr().cast(),
                        _mm512_cvtepi64_epi32(clamp(rounded)),
                    )
                };
            }
        }
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpushare_core::embedding::model::{Shape, seeded_model};
    use gpushare_core::rng::SplitMix64;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Random activations up to the clamp, sequences of 1 to 40 tokens: core's bits.
        #[test]
        fn vector_attention_is_core_s(tokens in 1usize..40, seed in any::<u64>(), scale in 0u32..25) {
            let shape = Shape { vocab: 8, max_tokens: 64, layers: 1, ..Shape::MINILM_L6 };
            let model = seeded_model(shape, seed);
            let mut draw = SplitMix64::new(seed);
            let limit = 1i64 << scale;
            let mut rows = || -> Vec<i32> {
                (0..tokens * shape.hidden as usize)
                    .map(|_| ((draw.next_u64() % (2 * limit as u64 + 1)) as i64 - limit).clamp(-ACT_LIMIT, ACT_LIMIT) as i32)
                    .collect()
            };
            let (q, k, v) = (rows(), rows(), rows());
            prop_assert_eq!(attention(&model, &q, &k, &v), forward::attention(&model, &q, &k, &v));
        }
    }
}
