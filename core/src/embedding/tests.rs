//! The embedding model's arithmetic against real-valued math, its file format, and its layouts.
use alloc::vec;
use alloc::vec::Vec;

use super::fixed::*;
use super::forward::pool_mean;
use super::forward::{SequenceError, check_sequence, run_sequence};
use super::layout::{TokenBatch, output_embeddings, sequence_output, shard_sequences};
use super::model::{Model, ModelError, Shape, seeded_model};
use super::trace::{TraceLayout, TracedRow, trace_leaf_hashes};
use crate::kernels::KernelError;
use crate::merkle::{Hash, leaf_hash};

/// A model small enough for unit tests: 2 layers, hidden 64 (2 heads of 32), FFN 128.
const TINY: Shape = Shape {
    hidden: 64,
    heads: 2,
    ffn: 128,
    layers: 2,
    vocab: 50,
    max_tokens: 16,
    score_multiplier: 11_585,
};

fn real(x: i64, bits: u32) -> f64 {
    x as f64 / (1u64 << bits) as f64
}

#[test]
fn rounding_is_half_up_for_both_signs() {
    assert_eq!(shift_round(5, 1), 3);
    assert_eq!(shift_round(-5, 1), -2);
    assert_eq!(shift_round(-6, 1), -3);
    assert_eq!(shift_round(7, 0), 7);
    assert_eq!(div_round(5, 2), 3);
    assert_eq!(div_round(-5, 2), -2);
    assert_eq!(div_round(-7, 3), -2);
    assert_eq!(div_round(7, 3), 2);
}

proptest::proptest! {
    /// The unsigned-division form is the floor definition ⌊(2a + b) / 2b⌋ for every b > 0.
    #[test]
    fn div_round_is_the_floor_of_the_rounded_quotient(a in -(1i64 << 61)..(1i64 << 61), b in 1i64..(1 << 40)) {
        proptest::prop_assert_eq!(div_round(a, b), (2 * a + b).div_euclid(2 * b));
    }
}

#[test]
fn exp_neg_follows_the_exponential() {
    for d in (-(20 * ONE)..=0).step_by(97) {
        let want = real(d, FRAC_BITS).exp();
        let got = real(exp_neg(d), EXP_BITS);
        assert!(
            (got - want).abs() < 2e-4 * want + 2e-9,
            "e^{d}: {got} vs {want}"
        );
    }
    assert_eq!(exp_neg(-ACT_LIMIT * 2), 0);
}

#[test]
fn erf_and_gelu_follow_the_real_functions() {
    for x in (-(6 * ONE)..=6 * ONE).step_by(13) {
        let v = real(x, FRAC_BITS);
        let erf_want = libm_erf(v.abs() / core::f64::consts::SQRT_2);
        let gelu_want = v * 0.5 * (1.0 + v.signum() * erf_want);
        let got = real(i64::from(gelu(x as i32)), FRAC_BITS);
        assert!(
            (got - gelu_want).abs() < 3e-4,
            "gelu({v}): {got} vs {gelu_want}"
        );
    }
}

/// erf by its Taylor series (converges for the |x| ≤ 4.3 used here).
fn libm_erf(x: f64) -> f64 {
    let (mut term, mut sum, mut n) = (x, x, 0.0);
    while term.abs() > 1e-17 {
        n += 1.0;
        term *= -x * x / n;
        sum += term / (2.0 * n + 1.0);
    }
    sum * 2.0 / core::f64::consts::PI.sqrt()
}

#[test]
fn quantized_rows_stay_within_the_levels() {
    let row: Vec<i32> = (0..300).map(|i| (i * 7919 % 20001) - 10000).collect();
    let mut levels = vec![0i16; row.len()];
    let m = quantize_row(&row, &mut levels);
    assert_eq!(m, 10000);
    assert!(levels.iter().all(|l| i64::from(*l).abs() <= QUANT_LEVELS));
    assert!(levels.contains(&(QUANT_LEVELS as i16)) || levels.contains(&(-QUANT_LEVELS as i16)));
    for (x, l) in row.iter().zip(&levels) {
        let want = f64::from(*x) * QUANT_LEVELS as f64 / m as f64;
        assert!((f64::from(*l) - want).abs() <= 0.5 + 1e-9);
    }
    let mut zero = vec![1i16; 4];
    assert_eq!(quantize_row(&[0; 4], &mut zero), 0);
    assert_eq!(zero, [0; 4]);
}

#[test]
fn layer_norm_matches_the_real_one() {
    let row: Vec<i32> = (0..64).map(|i| ((i * 37) % 29 - 14) * 900 + 5000).collect();
    let gain: Vec<i32> = (0..64).map(|i| 65_536 + i * 300).collect();
    let bias: Vec<i32> = (0..64).map(|i| i * 20 - 600).collect();
    let mut out = vec![0; 64];
    layer_norm(&row, &gain, &bias, &mut out);
    let xs: Vec<f64> = row.iter().map(|x| real(i64::from(*x), FRAC_BITS)).collect();
    let mean = xs.iter().sum::<f64>() / 64.0;
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 64.0).sqrt();
    for i in 0..64 {
        let want = (xs[i] - mean) / std * real(i64::from(gain[i]), GAIN_BITS)
            + real(i64::from(bias[i]), FRAC_BITS);
        let got = real(i64::from(out[i]), FRAC_BITS);
        assert!((got - want).abs() < 1e-3, "{i}: {got} vs {want}");
    }
}

#[test]
fn softmax_probabilities_sum_to_one() {
    let logits: Vec<i64> = (0..40).map(|i| (i * 611 % 9000) - 4500).collect();
    let (mut exps, mut probs) = (vec![0; 40], vec![0; 40]);
    softmax(&logits, &mut exps, &mut probs);
    let total: i64 = probs.iter().sum();
    assert!((total - (1 << PROB_BITS)).abs() <= 20, "{total}");
    let denominator: f64 = logits.iter().map(|z| real(*z, FRAC_BITS).exp()).sum();
    for (z, p) in logits.iter().zip(&probs) {
        let want = real(*z, FRAC_BITS).exp() / denominator;
        assert!((real(*p, PROB_BITS) - want).abs() < 1e-4);
    }
}

#[test]
fn a_context_is_never_larger_than_its_largest_value_allows() {
    // Random logits and values up to the clamp, and equal logits, whose rounded probabilities
    // sum past 2¹⁶ (three thirds round up): `context_bound` holds for every one.
    let mut draw = crate::rng::SplitMix64::new(28);
    let mut cases: Vec<(Vec<i64>, Vec<i32>)> = vec![(vec![0; 3], vec![1 << 20; 3])];
    for tokens in [1usize, 2, 3, 7, 16, 64] {
        for _ in 0..200 {
            let spread = 1 + draw.next_u64() % (1 << 18);
            let logits = (0..tokens)
                .map(|_| (draw.next_u64() % spread) as i64 - (spread / 2) as i64)
                .collect();
            let largest = 1 + draw.next_u64() % ACT_LIMIT as u64;
            let values = (0..tokens)
                .map(|_| (draw.next_u64() % (2 * largest + 1)) as i32 - largest as i32)
                .collect();
            cases.push((logits, values));
        }
    }
    for (logits, values) in cases {
        let mut context = [0i32; 1];
        super::forward::mix(&logits, &values, &mut context);
        let largest = values
            .iter()
            .map(|v| u64::from(v.unsigned_abs()))
            .max()
            .unwrap_or(0);
        let bound = super::forward::context_bound(largest, values.len());
        assert!(
            u64::from(context[0].unsigned_abs()) <= bound,
            "{logits:?} {values:?}: {} past {bound}",
            context[0]
        );
    }
}

#[test]
fn a_key_keeps_a_probability_while_its_exponential_is_nonzero() {
    // Rounding to nearest zeroed a key 11.8 below the top (2¹³ of 2³⁰): a row made to win by that
    // much made a head one key's. Rounded up, only the exponential's own zero does, past a gap of
    // 31·ln 2 ≈ 21.5.
    let cutoff = (0..64 << FRAC_BITS)
        .find(|gap| super::fixed::exp_neg(-gap) == 0)
        .unwrap();
    assert_eq!(real(cutoff, FRAC_BITS).round(), 21.0);
    for tokens in [2usize, 64] {
        for gap in (0..cutoff + 64).step_by(97).chain([cutoff - 1, cutoff]) {
            let mut logits = vec![0i64; tokens];
            logits[1] = -gap;
            let (mut exps, mut probs) = (vec![0; tokens], vec![0; tokens]);
            softmax(&logits, &mut exps, &mut probs);
            assert_eq!(probs[1] > 0, gap < cutoff, "gap {gap} at {tokens} tokens");
        }
    }
}

#[test]
fn a_weights_file_round_trips_and_names_its_model() {
    let model = seeded_model(TINY, 7);
    let bytes = model.to_bytes();
    assert_eq!(bytes.len() as u64, TINY.file_bytes());
    assert_eq!(Model::from_bytes(&bytes).as_ref(), Ok(&model));
    let mut other = model.clone();
    other.layers[1].output.weights[5] ^= 1;
    assert_ne!(other.identity(), model.identity());
    assert_eq!(
        Model::from_bytes(&bytes[..bytes.len() - 1]),
        Err(ModelError::Size {
            expected: TINY.file_bytes(),
            actual: TINY.file_bytes() - 1
        })
    );
    let mut wrong = bytes.clone();
    wrong[15] = b'2';
    assert_eq!(Model::from_bytes(&wrong), Err(ModelError::Magic));
    let mut wide = bytes;
    wide[16..20].copy_from_slice(&4096u32.to_le_bytes());
    assert_eq!(Model::from_bytes(&wide), Err(ModelError::Shape));
}

#[test]
fn sequences_are_checked_against_the_model() {
    let model = seeded_model(TINY, 1);
    assert_eq!(check_sequence(&model, &[]), Err(SequenceError::Empty));
    assert_eq!(
        check_sequence(&model, &[3, 50]),
        Err(SequenceError::UnknownToken(50))
    );
    assert_eq!(
        check_sequence(&model, &[1; 17]),
        Err(SequenceError::TooLong {
            tokens: 17,
            max: 16
        })
    );
    assert!(check_sequence(&model, &[1; 16]).is_ok());
}

#[test]
fn a_sequence_run_is_deterministic_and_normalized() {
    let model = seeded_model(TINY, 3);
    let run = run_sequence(&model, &[1, 7, 9, 2]).expect("valid sequence");
    assert_eq!(run_sequence(&model, &[1, 7, 9, 2]), Ok(run.clone()));
    let norm: f64 = run
        .embedding
        .iter()
        .map(|v| (f64::from(*v) / 32767.0).powi(2))
        .sum();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    let changed = run_sequence(&model, &[1, 7, 9, 3]).expect("valid sequence");
    assert_ne!(changed.embedding, run.embedding);
    let output = sequence_output(&model, &run, &[1; 32]);
    assert_eq!(output.len(), 2 * 64 + 32);
    assert_ne!(
        output,
        sequence_output(&model, &run, &[2; 32]),
        "bound to its job"
    );
    let two = [output.clone(), sequence_output(&model, &changed, &[1; 32])].concat();
    assert_eq!(
        output_embeddings(&two, 64),
        vec![run.embedding.clone(), changed.embedding.clone()]
    );
}

/// Every leaf the layout names holds the values it says, and the names cover every leaf once.
#[test]
fn the_trace_layout_places_every_leaf() {
    let model = seeded_model(TINY, 3);
    let ids = [1, 7, 9, 2, 4];
    let run = run_sequence(&model, &ids).expect("valid sequence");
    let layout = TraceLayout::new(model.shape, ids.len());
    let leaves = trace_leaf_hashes(&model, &run);
    assert_eq!(leaves.len() as u64, layout.leaves());
    assert_eq!(layout.leaves(), 2 * 5 * (7 + 1 + 2 * 2) + 1 + 2 * 5);
    let hash = |values: &[i32]| -> Hash {
        leaf_hash(
            &values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
    };
    let (h, d) = (64, 32);
    let at = |index: u64| leaves[index as usize];
    let mut named = Vec::new();
    for (l, layer) in run.layers.iter().enumerate() {
        let l = l as u32;
        for t in 0..ids.len() {
            for kind in TracedRow::ALL {
                let width = kind.width(&model.shape);
                for (piece, values) in kind.rows(layer)[t * width..(t + 1) * width]
                    .chunks(h)
                    .enumerate()
                {
                    let index = layout.row_leaf(l, t as u64, kind, piece as u64);
                    assert_eq!(at(index), hash(values), "{kind:?} {t} {piece}");
                    named.push(index);
                }
            }
            for head in 0..2u32 {
                let columns = t * h + head as usize * d..t * h + (head as usize + 1) * d;
                let key = layout.key_piece(l, head, t as u64);
                let value = layout.value_piece(l, head, t as u64);
                assert_eq!(at(key), hash(&layer.key[columns.clone()]));
                assert_eq!(at(value), hash(&layer.value[columns]));
                named.extend([key, value]);
            }
        }
    }
    assert_eq!(at(layout.mean_leaf()), hash(&pool_mean(h, &run.output)));
    named.push(layout.mean_leaf());
    for group in 0..2u32 {
        for t in 0..ids.len() {
            let index = layout.output_piece(group, t as u64);
            let start = t * h + group as usize * d;
            assert_eq!(at(index), hash(&run.output[start..start + d]));
            named.push(index);
        }
    }
    named.sort_unstable();
    assert_eq!(named, (0..layout.leaves()).collect::<Vec<u64>>());
}

#[test]
fn token_batches_round_trip_and_refuse_malformed_bytes() {
    let batch = TokenBatch::new(&[vec![101, 7, 102], vec![101, 102]]);
    let bytes = batch.to_bytes();
    assert_eq!(TokenBatch::from_bytes(&bytes, 2, 5), Ok(batch));
    let size = |actual: usize| KernelError::InputSize {
        expected: 4 * 8,
        actual: actual as u64,
    };
    assert_eq!(TokenBatch::from_bytes(&bytes[..28], 2, 5), Err(size(28)));
    assert_eq!(TokenBatch::from_bytes(&bytes, 3, 4), Err(size(32)));
    let mut lying = bytes.clone();
    lying[4] = 4;
    assert_eq!(TokenBatch::from_bytes(&lying, 2, 5), Err(size(32)));
}

#[test]
fn a_batch_the_model_cannot_run_is_refused_as_a_whole() {
    let model = seeded_model(TINY, 2);
    let fine = TokenBatch::new(&[vec![1, 2, 3], vec![4]]);
    assert_eq!(fine.check(&model), Ok(()));
    let unknown = TokenBatch::new(&[vec![1, 2], vec![3, 50]]);
    assert_eq!(unknown.check(&model), Err(SequenceError::UnknownToken(50)));
    let empty = TokenBatch::new(&[vec![1], vec![]]);
    assert_eq!(empty.check(&model), Err(SequenceError::Empty));
}

#[test]
fn shards_split_the_sequences() {
    let ranges: Vec<_> = (0..3).map(|s| shard_sequences(10, 3, s)).collect();
    assert_eq!(ranges, [0..3, 3..6, 6..10]);
}
