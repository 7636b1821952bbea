//! The integer arithmetic of the embedding model, every rounding spelled out: activations are i32
//! fixed-point numbers with [`FRAC_BITS`] fraction bits, clamped to ±[`ACT_LIMIT`] wherever they are
//! stored, so that every intermediate below fits an i64 (the bounds are noted at each step).
//!
//! Rounding is always "half up": [`shift_round`] is ⌊(v + 2^(s−1)) / 2^s⌋ and [`div_round`] is
//! ⌊(2a + b) / 2b⌋, both on two's-complement integers with floor division.

/// Fraction bits of an activation: the real value of `x` is `x / 2¹²`.
pub const FRAC_BITS: u32 = 12;
/// One, as an activation.
pub const ONE: i64 = 1 << FRAC_BITS;
/// Largest stored activation magnitude (real values up to 4,096).
pub const ACT_LIMIT: i64 = (1 << 24) - 1;
/// Levels of a quantized GEMM input: rows are scaled to integers in ±`QUANT_LEVELS` (12 bits).
pub const QUANT_LEVELS: i64 = 2047;
/// Fraction bits of a weight row's multiplier (see [`linear_output`]).
pub const MULTIPLIER_SHIFT: u32 = 40;
/// The shift [`linear_output`] applies before multiplying by the row scale, to stay within 63 bits.
pub const MULTIPLIER_PRE_SHIFT: u32 = 24;
/// Fraction bits of a softmax probability.
pub const PROB_BITS: u32 = 16;
/// Fraction bits of a LayerNorm gain and of a normalized value.
pub const GAIN_BITS: u32 = 16;
/// Fraction bits of [`exp_neg`]'s result.
pub const EXP_BITS: u32 = 30;
/// log₂(e) with 16 fraction bits: ⌊2¹⁶·log₂ e⌉ = 94,548.
pub const LOG2_E: i64 = 94_548;
/// 1/√2 with 16 fraction bits: ⌊2¹⁶/√2⌉ = 46,341.
pub const INV_SQRT_2: i64 = 46_341;
/// 2^(−r) on r ∈ [0, 1) as c₀ + r(c₁ + r(c₂ + r·c₃)), coefficients with 30 fraction bits: the cubic
/// through 2^(−r) at the four Chebyshev nodes of [0, 1] (largest error 5.8·10⁻⁵).
pub const EXP2_POLY: [i64; 4] = [1_073_680_337, -742_284_624, 247_816_889, -42_395_223];
/// erf by Abramowitz and Stegun 7.1.28 (error under 3·10⁻⁷): erf(v) = 1 − (1 + a₁v + … + a₆v⁶)⁻¹⁶,
/// coefficients with 30 fraction bits.
pub const ERF_POLY: [i64; 6] = [75_723_579, 45_399_965, 9_954_153, 163_224, 296_962, 46_239];
/// Where erf is taken as 1 (erf(4) = 1 − 1.5·10⁻⁸), an activation.
pub const ERF_SATURATION: i64 = 4 << FRAC_BITS;

/// `v / 2^s` rounded half up: ⌊(v + 2^(s−1)) / 2^s⌋ (`v` itself when `s` is 0).
#[inline]
pub fn shift_round(v: i64, s: u32) -> i64 {
    if s == 0 { v } else { (v + (1 << (s - 1))) >> s }
}

/// `a / b` rounded half up for `b > 0`: ⌊(2a + b) / 2b⌋. Computed with unsigned division (a
/// negative numerator's floor is minus the ceiling of its magnitude), which the SBF target has.
#[inline]
pub fn div_round(a: i64, b: i64) -> i64 {
    let (n, d) = (2 * a + b, (2 * b).unsigned_abs());
    if n >= 0 {
        (n.unsigned_abs() / d) as i64
    } else {
        -(n.unsigned_abs().div_ceil(d) as i64)
    }
}

/// `v` clamped to ±[`ACT_LIMIT`].
#[inline]
pub fn clamp_act(v: i64) -> i32 {
    v.clamp(-ACT_LIMIT, ACT_LIMIT) as i32
}

/// Fraction bits of a row's reciprocal in [`quantize_row`].
pub const RECIPROCAL_BITS: u32 = 32;

/// The GEMM input of a row: with m = max |x| and r = [`div_round`](`QUANT_LEVELS`·2³², m), each
/// level is [`shift_round`](x·r, 32), within ±`QUANT_LEVELS`; returns m. A zero row has all levels 0.
/// Bounds: |x·r| ≤ m·r < 2⁴⁴.
#[inline]
pub fn quantize_row(row: &[i32], levels: &mut [i16]) -> i64 {
    let m = row.iter().map(|x| i64::from(*x).abs()).max().unwrap_or(0);
    let reciprocal = row_reciprocal(m);
    for (level, x) in levels.iter_mut().zip(row) {
        *level = quantize_value(*x, reciprocal);
    }
    m
}

/// The index of the value that sets [`quantize_row`]'s scale: the first of largest magnitude (0 for
/// an empty row).
#[inline]
pub fn largest_magnitude(row: &[i32]) -> usize {
    let mut at = 0;
    for (i, x) in row.iter().enumerate() {
        if x.unsigned_abs() > row[at].unsigned_abs() {
            at = i;
        }
    }
    at
}

/// [`quantize_row`]'s r for a row of largest magnitude `m`: [`div_round`](`QUANT_LEVELS`·2³², m), 0
/// for a zero row.
#[inline]
pub fn row_reciprocal(m: i64) -> i64 {
    if m == 0 {
        0
    } else {
        div_round(QUANT_LEVELS << RECIPROCAL_BITS, m)
    }
}

/// [`quantize_row`]'s level of `x` with the row's reciprocal: [`shift_round`](x·r, 32).
#[inline]
pub fn quantize_value(x: i32, reciprocal: i64) -> i16 {
    shift_round(i64::from(x) * reciprocal, RECIPROCAL_BITS) as i16
}

/// Σ levels·weights: exact in i32 (|level| ≤ 2047, |weight| ≤ 128, at most 8,192 terms: < 2³¹).
/// The weights are a model's i16 row or a weights file's i8 bytes, read in place.
#[inline]
pub fn dot<W: Into<i32>>(levels: &[i16], weights: impl IntoIterator<Item = W>) -> i32 {
    levels
        .iter()
        .zip(weights)
        .map(|(l, w)| i32::from(*l) * w.into())
        .sum()
}

/// One output of a linear layer from the accumulator `acc` of a quantized row with scale `m`: the
/// row's multiplier `multiplier` (< 2³¹) is the weights' scale over `QUANT_LEVELS` with
/// [`MULTIPLIER_SHIFT`] fraction bits, `bias` is an activation:
/// `clamp(bias + shift_round(shift_round(acc·multiplier, 24)·m, 16))`.
/// Bounds: |acc·multiplier| < 2⁶², the first shift leaves < 2³⁸, times m (< 2²⁴) < 2⁶².
#[inline]
pub fn linear_output(acc: i32, m: i64, multiplier: i64, bias: i64) -> i32 {
    let scaled = shift_round(i64::from(acc) * multiplier, MULTIPLIER_PRE_SHIFT);
    clamp_act(bias + shift_round(scaled * m, MULTIPLIER_SHIFT - MULTIPLIER_PRE_SHIFT))
}

/// e^d for an activation `d ≤ 0`, with [`EXP_BITS`] fraction bits: d·log₂e = −(n + r) with integer
/// n and r ∈ [0, 1) (28 fraction bits), then 2^(−r) by [`EXP2_POLY`] (Horner, each product rounded
/// by [`shift_round`] 28), shifted right by n ([`shift_round`]); 0 when n > 30.
#[inline]
pub fn exp_neg(d: i64) -> i64 {
    const R_BITS: u32 = FRAC_BITS + 16;
    // |d| ≤ 2²⁶ (a difference of two clamped logits): t < 2⁴³.
    let t = -d.min(0) * LOG2_E;
    let n = t >> R_BITS;
    if n > 30 {
        return 0;
    }
    let r = t & ((1 << R_BITS) - 1);
    let poly = EXP2_POLY[..3]
        .iter()
        .rev()
        .fold(EXP2_POLY[3], |acc, c| c + shift_round(acc * r, R_BITS));
    shift_round(poly, n as u32)
}

/// Softmax of `logits` (activations) into `probs` with [`PROB_BITS`] fraction bits: e_u =
/// [`exp_neg`](z_u − max z), p_u = ⌈e_u·2¹⁶ / Σe⌉. Rounded up, so that a key keeps a nonzero
/// probability exactly while its exponential is nonzero: rounded to nearest, it lost it at a logit
/// gap of 11.8, which a made-up row could reach to make a head's attention one key's
/// (docs/verification.md, "One token steering every query"). The probabilities sum to less than
/// 2¹⁶ + T.
#[inline]
pub fn softmax(logits: &[i64], exps: &mut [i64], probs: &mut [i64]) {
    let top = logits.iter().copied().max().unwrap_or(0);
    for (e, z) in exps.iter_mut().zip(logits) {
        *e = exp_neg(z - top);
    }
    // The largest logit gives e ≈ 2³⁰, so the sum is positive; at most 2⁹ terms of 2³⁰. Every e
    // is at least 0, so the division is of non-negative numbers.
    let sum = exps.iter().sum::<i64>().max(1).unsigned_abs();
    for (p, e) in probs.iter_mut().zip(exps.iter()) {
        *p = (e.unsigned_abs() << PROB_BITS).div_ceil(sum) as i64;
    }
}

/// LayerNorm of `row` (activations, at most 2,048) with `gain` (16 fraction bits) and `bias`
/// (activations): μ = [`div_round`](Σx, n); d = x − μ; σ = ⌊√([`div_round`](Σd², n)·2⁸)⌋ (16
/// fraction bits); r = [`div_round`](2⁴⁴, σ); normalized = [`shift_round`](d·r, 24) (16 fraction
/// bits); y = clamp([`shift_round`](normalized·gain, 20) + bias); y = bias where σ is 0.
/// Bounds: |d| < 2²⁵, Σd² < 2⁶¹, |d| ≤ σ·√n/2⁴ so |d·r| < 2⁵⁰, |normalized·gain| < 2⁵⁸.
#[inline]
pub fn layer_norm(row: &[i32], gain: &[i32], bias: &[i32], out: &mut [i32]) {
    let norm = RowNorm::of(row);
    for (((y, x), g), b) in out.iter_mut().zip(row).zip(gain).zip(bias) {
        *y = norm.apply(*x, *g, *b);
    }
}

/// [`layer_norm`]'s statistics of one row: its mean and reciprocal deviation, so that each output
/// can be computed on its own ([`RowNorm::apply`]) from a gain and bias read where they lie.
#[derive(Clone, Copy, Debug)]
pub struct RowNorm {
    mean: i64,
    reciprocal: i64,
}

impl RowNorm {
    /// The statistics of `row`.
    #[inline]
    pub fn of(row: &[i32]) -> Self {
        let n = row.len() as i64;
        let mean = div_round(row.iter().map(|x| i64::from(*x)).sum(), n);
        let squares: i64 = row.iter().map(|x| (i64::from(*x) - mean).pow(2)).sum();
        let sigma = (div_round(squares, n) as u64 * 256).isqrt() as i64;
        let reciprocal = if sigma == 0 {
            0
        } else {
            div_round(1 << 44, sigma)
        };
        Self { mean, reciprocal }
    }

    /// The output of the row's value `x` with gain `gain` and bias `bias`.
    #[inline]
    pub fn apply(&self, x: i32, gain: i32, bias: i32) -> i32 {
        let normalized = shift_round((i64::from(x) - self.mean) * self.reciprocal, 24);
        clamp_act(shift_round(normalized * i64::from(gain), 20) + i64::from(bias))
    }
}

/// erf(v) for an activation v ≥ 0, with 30 fraction bits: v' = min(v, [`ERF_SATURATION`]);
/// p = 2³⁰ + v'(a₁ + v'(a₂ + … + v'·a₆)) by Horner, each product [`shift_round`] 12; q =
/// [`div_round`](2⁶⁰, p); q squared four times (each [`shift_round`] 30); erf = 2³⁰ − q. Bounds: p <
/// 2³², each Horner product < 2⁴⁶, q ≤ 2³⁰.
#[inline]
pub fn erf(v: i64) -> i64 {
    const ONE_30: i64 = 1 << 30;
    let v = v.clamp(0, ERF_SATURATION);
    let p = ERF_POLY[..5]
        .iter()
        .rev()
        .fold(ERF_POLY[5], |acc, a| a + shift_round(acc * v, FRAC_BITS));
    let p = ONE_30 + shift_round(p * v, FRAC_BITS);
    let mut q = div_round(ONE_30 << 30, p);
    for _ in 0..4 {
        q = shift_round(q * q, 30);
    }
    ONE_30 - q
}

/// GELU, x·½(1 + erf(x/√2)): v = [`shift_round`](|x|·[`INV_SQRT_2`], 16); e = ±[`erf`](v) (the sign
/// of x); gelu = clamp([`shift_round`](x·(2³⁰ + e), 31)). Bounds: |x·(2³⁰ + e)| < 2⁵⁵.
#[inline]
pub fn gelu(x: i32) -> i32 {
    gelu_with(x, erf)
}

/// [`gelu`] with `erf` computing [`erf`] (a backend may look it up: its argument is an integer in
/// [0, [`ERF_SATURATION`]] once clamped as [`erf`] clamps it).
#[inline]
pub fn gelu_with(x: i32, erf: impl Fn(i64) -> i64) -> i32 {
    let x = i64::from(x);
    let e = erf(shift_round(x.abs() * INV_SQRT_2, 16));
    let signed = if x < 0 { -e } else { e };
    clamp_act(shift_round(x * ((1 << 30) + signed), 31))
}
