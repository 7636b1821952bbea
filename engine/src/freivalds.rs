//! Freivalds' check of a GEMM result over the prime field 2⁶¹ − 1: C = A·B is accepted when
//! A·(B·r) = C·r for random vectors r. A wrong C passes one round with probability at most 1/p
//! (p = 2⁶¹ − 1), so one round suffices; the check costs O(mk + kn + mn) against the GEMM's O(mnk).
use rand::Rng;
use rayon::prelude::*;

/// The field's prime, 2⁶¹ − 1.
pub const P: u64 = (1 << 61) - 1;

fn reduce(x: u128) -> u64 {
    // x mod (2^61 − 1) by folding: 2^61 ≡ 1.
    let folded = (x & u128::from(P)) + (x >> 61);
    let folded = (folded & u128::from(P)) + (folded >> 61);
    let mut r = folded as u64;
    if r >= P {
        r -= P;
    }
    r
}

/// A value with |value| < P as a field element (no division: one conditional add).
fn to_field(value: i64) -> u64 {
    if value < 0 {
        (value + P as i64) as u64
    } else {
        value as u64
    }
}

/// Σ row[t]·vector[t] mod P.
fn dot_mod(row: impl Iterator<Item = i64>, vector: &[u64]) -> u64 {
    let mut acc = 0u128;
    for (t, value) in row.enumerate() {
        acc += u128::from(to_field(value)) * u128::from(vector[t]);
        if t % 32 == 31 {
            acc = u128::from(reduce(acc));
        }
    }
    reduce(acc)
}

/// Freivalds' vectors for the random vector `r` (n entries below P): B·r, A·(B·r) and C·r, mod P
/// (A m×k, B k×n, C m×n, all row-major; shape `(m, n, k)`). C = A·B implies A·(B·r) = C·r.
pub struct Products {
    pub br: Vec<u64>,
    pub abr: Vec<u64>,
    pub cr: Vec<u64>,
}

/// The products for `r`; the GPU's kernels must reproduce them exactly.
pub fn products(
    a: &[i8],
    b: &[i8],
    c: &[i32],
    (m, n, k): (usize, usize, usize),
    r: &[u64],
) -> Products {
    let br: Vec<u64> = (0..k)
        .into_par_iter()
        .map(|p| dot_mod(b[p * n..(p + 1) * n].iter().map(|v| i64::from(*v)), r))
        .collect();
    let abr = (0..m)
        .into_par_iter()
        .map(|i| dot_mod(a[i * k..(i + 1) * k].iter().map(|v| i64::from(*v)), &br))
        .collect();
    let cr = (0..m)
        .into_par_iter()
        .map(|i| dot_mod(c[i * n..(i + 1) * n].iter().map(|v| i64::from(*v)), r))
        .collect();
    Products { br, abr, cr }
}

/// A random vector of `n` field elements.
pub fn random_vector(n: usize, rng: &mut impl Rng) -> Vec<u64> {
    (0..n).map(|_| rng.random_range(0..P)).collect()
}

/// Whether C = A·B (A m×k, B k×n, C m×n, all row-major; shape `(m, n, k)`) passes `rounds` rounds with random vectors.
pub fn check(
    a: &[i8],
    b: &[i8],
    c: &[i32],
    (m, n, k): (usize, usize, usize),
    rounds: u32,
    rng: &mut impl Rng,
) -> bool {
    if a.len() != m * k || b.len() != k * n || c.len() != m * n {
        return false;
    }
    (0..rounds).all(|_| {
        let products = products(a, b, c, (m, n, k), &random_vector(n, rng));
        products.abr == products.cr
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::gemm_i8_naive;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn operands(m: usize, n: usize, k: usize, rng: &mut StdRng) -> (Vec<i8>, Vec<i8>) {
        let a = (0..m * k).map(|_| rng.random::<i8>()).collect();
        let b = (0..k * n).map(|_| rng.random::<i8>()).collect();
        (a, b)
    }

    #[test]
    fn accepts_a_correct_product_and_catches_a_single_bit_error() {
        let mut rng = StdRng::seed_from_u64(1);
        let (m, n, k) = (37, 23, 61);
        let (a, b) = operands(m, n, k, &mut rng);
        let mut c = gemm_i8_naive(&a, &b, m, n, k);
        assert!(check(&a, &b, &c, (m, n, k), 1, &mut rng));
        c[m * n / 2] ^= 1;
        assert!(!check(&a, &b, &c, (m, n, k), 1, &mut rng));
    }

    /// Modulo 2³² an error of 2³¹ slips through half the rounds; over 2⁶¹ − 1 it cannot.
    #[test]
    fn catches_an_error_of_two_to_the_31() {
        let mut rng = StdRng::seed_from_u64(2);
        let (m, n, k) = (16, 16, 16);
        let (a, b) = operands(m, n, k, &mut rng);
        let mut c = gemm_i8_naive(&a, &b, m, n, k);
        c[5] = c[5].wrapping_add(i32::MIN);
        for _ in 0..64 {
            assert!(!check(&a, &b, &c, (m, n, k), 1, &mut rng));
        }
    }

    #[test]
    fn mismatched_shapes_are_refused() {
        let mut rng = StdRng::seed_from_u64(3);
        assert!(!check(&[1, 2], &[3], &[3], (1, 1, 1), 1, &mut rng));
    }

    #[test]
    fn reduction_is_exact() {
        for x in [
            0u128,
            1,
            u128::from(P),
            u128::from(P) + 5,
            u128::from(P) * u128::from(P) - 1,
            u128::MAX >> 6,
        ] {
            assert_eq!(u128::from(reduce(x)), x % u128::from(P));
        }
    }
}
