//! The host's GEMM blocks: dot products of i16 rows, exact in i32, with AVX-512 VNNI or AVX2
//! multiply-adds where the processor has them. The CPU backend's gemm_i8 and the host embedding
//! pipeline both build on them.

/// Columns of C computed against one cached block of Bᵀ.
pub const COLUMN_BLOCK: usize = 64;

/// Σ a[p]·b[p] over operands widened to i16, exact in i32 (|a·b| ≤ 2¹⁴, k ≤ 2¹⁶).
fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// The 2×4 block of C for rows `a0`, `a1` of A and rows `b` of Bᵀ, with AVX2 multiply-adds:
/// each 16-element step loads two A vectors and four Bᵀ vectors for eight `vpmaddwd`s.
///
/// # Safety
/// The processor must support AVX2, and all six slices must have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_2x4_avx2(a0: &[i16], a1: &[i16], b: [&[i16]; 4]) -> [[i32; 4]; 2] {
    use std::arch::x86_64::*;
    let k = a0.len();
    let steps = k / 16;
    let mut acc = [[_mm256_setzero_si256(); 4]; 2];
    let load = |row: &[i16], step: usize| {
        // SAFETY: step * 16 + 16 <= k == row.len(); unaligned loads are allowed.
        unsafe { _mm256_loadu_si256(row.as_ptr().add(step * 16).cast()) }
    };
    for step in 0..steps {
        let (x0, x1) = (load(a0, step), load(a1, step));
        for (t, column) in b.iter().enumerate() {
            let y = load(column, step);
            acc[0][t] = _mm256_add_epi32(acc[0][t], _mm256_madd_epi16(x0, y));
            acc[1][t] = _mm256_add_epi32(acc[1][t], _mm256_madd_epi16(x1, y));
        }
    }
    let mut out = [[0i32; 4]; 2];
    for (r, row) in [a0, a1].iter().enumerate() {
        for t in 0..4 {
            let mut lanes = [0i32; 8];
            // SAFETY: `lanes` has room for the 8 lanes of one 256-bit vector.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc[r][t]) };
            let tail = dot_i16(&row[steps * 16..], &b[t][steps * 16..]);
            out[r][t] = lanes.iter().sum::<i32>() + tail;
        }
    }
    out
}

/// R rows of A against four rows of Bᵀ with AVX-512 VNNI: each 32-element step loads the four Bᵀ
/// vectors once and issues 4·R `vpdpwssd`s (32 i16 products summed into i32 lanes each).
///
/// # Safety
/// The processor must support AVX-512F, AVX-512BW and AVX-512 VNNI, and all slices must have the
/// same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn block_rx4_vnni<const R: usize>(a: [&[i16]; R], b: [&[i16]; 4]) -> [[i32; 4]; R] {
    use std::arch::x86_64::*;
    let k = a[0].len();
    let steps = k / 32;
    let mut acc = [[_mm512_setzero_si512(); 4]; R];
    let load = |row: &[i16], step: usize| {
        // SAFETY: step * 32 + 32 <= k == row.len(); unaligned loads are allowed.
        unsafe { _mm512_loadu_si512(row.as_ptr().add(step * 32).cast()) }
    };
    for step in 0..steps {
        let ys: [__m512i; 4] = std::array::from_fn(|t| load(b[t], step));
        for (row, sums) in a.iter().zip(acc.iter_mut()) {
            let x = load(row, step);
            for (sum, y) in sums.iter_mut().zip(&ys) {
                *sum = _mm512_dpwssd_epi32(*sum, x, *y);
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|t| {
            _mm512_reduce_add_epi32(acc[r][t]) + dot_i16(&a[r][steps * 32..], &b[t][steps * 32..])
        })
    })
}

/// Rows `first..first + R` of A against the columns `columns` of Bᵀ with [`block_rx4_vnni`].
///
/// # Safety
/// As [`block_rx4_vnni`]: the processor must support AVX-512F, AVX-512BW and AVX-512 VNNI.
#[cfg(target_arch = "x86_64")]
unsafe fn rows_vnni<const R: usize>(
    a_rows: &[i16],
    bt: &[i16],
    (k, n): (usize, usize),
    first: usize,
    columns: std::ops::Range<usize>,
    out: &mut [i32],
) {
    let a: [&[i16]; R] = std::array::from_fn(|r| &a_rows[(first + r) * k..(first + r + 1) * k]);
    let mut j = columns.start;
    while j + 4 <= columns.end {
        let b = std::array::from_fn(|t| &bt[(j + t) * k..(j + t + 1) * k]);
        // SAFETY: the caller checked the processor; all slices are k long.
        let block = unsafe { block_rx4_vnni(a, b) };
        for (r, values) in block.iter().enumerate() {
            out[(first + r) * n + j..(first + r) * n + j + 4].copy_from_slice(values);
        }
        j += 4;
    }
    for j in j..columns.end {
        for (r, row) in a.iter().enumerate() {
            out[(first + r) * n + j] = dot_i16(row, &bt[j * k..(j + 1) * k]);
        }
    }
}

/// Rows (i16, k each) of A against the columns `columns` of Bᵀ, into `out` (C's rows, n each).
pub fn gemm_block(
    a_rows: &[i16],
    bt: &[i16],
    k: usize,
    n: usize,
    columns: std::ops::Range<usize>,
    out: &mut [i32],
) {
    let row_count = a_rows.len() / k.max(1);
    let mut r = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        let shape = (k, n);
        while r < row_count {
            let cols = columns.clone();
            // SAFETY: AVX-512F/BW/VNNI were detected above (VNNI implies F).
            unsafe {
                match row_count - r {
                    1 => rows_vnni::<1>(a_rows, bt, shape, r, cols, out),
                    2 => rows_vnni::<2>(a_rows, bt, shape, r, cols, out),
                    3 => rows_vnni::<3>(a_rows, bt, shape, r, cols, out),
                    _ => rows_vnni::<4>(a_rows, bt, shape, r, cols, out),
                }
            }
            r += (row_count - r).min(4);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        while r + 2 <= row_count {
            let (a0, a1) = (
                &a_rows[r * k..(r + 1) * k],
                &a_rows[(r + 1) * k..(r + 2) * k],
            );
            let mut j = columns.start;
            while j + 4 <= columns.end {
                let b = std::array::from_fn(|t| &bt[(j + t) * k..(j + t + 1) * k]);
                // SAFETY: AVX2 was detected above; all six slices are k long.
                let block = unsafe { block_2x4_avx2(a0, a1, b) };
                for (dr, values) in block.iter().enumerate() {
                    out[(r + dr) * n + j..(r + dr) * n + j + 4].copy_from_slice(values);
                }
                j += 4;
            }
            for j in j..columns.end {
                for dr in 0..2 {
                    out[(r + dr) * n + j] = dot_i16(
                        &a_rows[(r + dr) * k..(r + dr + 1) * k],
                        &bt[j * k..(j + 1) * k],
                    );
                }
            }
            r += 2;
        }
    }
    for r in r..row_count {
        for j in columns.clone() {
            out[r * n + j] = dot_i16(&a_rows[r * k..(r + 1) * k], &bt[j * k..(j + 1) * k]);
        }
    }
}
