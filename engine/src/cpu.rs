//! The CPU backend: multi-threaded (rayon), cache-blocked, vectorizable kernels, bit-identical to the
//! reference definitions.
use std::ops::Range;

use gpushare_core::kernels::{monte_carlo_block, sha256_chain_advance};
use rayon::prelude::*;

use crate::backend::{Backend, ChainKey, check_chain_shape, check_gemm_shape};
use crate::error::EngineError;

/// Rows of C one task computes.
const ROW_BLOCK: usize = 16;
/// Columns of C computed against one cached block of Bᵀ.
const COLUMN_BLOCK: usize = 64;

/// The CPU backend, on rayon's global thread pool.
#[derive(Clone, Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        Self
    }
}

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

/// Rows `rows` (i16, k each) of A against the columns `columns` of Bᵀ, into `out` (C's rows, n each).
fn gemm_block(
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

/// Bᵀ (n×k) from B (k×n), widened to i16, so that every dot product reads two contiguous rows.
fn transpose_widen(b: &[i8], k: usize, n: usize) -> Vec<i16> {
    let mut bt = vec![0i16; k * n];
    bt.par_chunks_mut(k.max(1))
        .enumerate()
        .for_each(|(j, column)| {
            for (p, slot) in column.iter_mut().enumerate() {
                *slot = i16::from(b[p * n + j]);
            }
        });
    bt
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn gemm_i8(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, EngineError> {
        check_gemm_shape(a, b, m, n, k)?;
        let mut c = vec![0i32; m * n];
        if m == 0 || n == 0 {
            return Ok(c);
        }
        let bt = transpose_widen(b, k, n);
        c.par_chunks_mut(ROW_BLOCK * n)
            .enumerate()
            .for_each(|(block, rows)| {
                let first_row = block * ROW_BLOCK;
                let row_count = rows.len() / n;
                let a_rows: Vec<i16> = a[first_row * k..(first_row + row_count) * k]
                    .iter()
                    .map(|v| i16::from(*v))
                    .collect();
                for j0 in (0..n).step_by(COLUMN_BLOCK) {
                    gemm_block(&a_rows, &bt, k, n, j0..(j0 + COLUMN_BLOCK).min(n), rows);
                }
            });
        Ok(c)
    }

    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        key: &ChainKey,
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, EngineError> {
        check_chain_shape(steps, leaf_every)?;
        Ok(starts
            .par_iter()
            .map(|start| {
                let mut state = *start;
                (0..steps / leaf_every)
                    .map(|_| {
                        state = sha256_chain_advance(state, key, leaf_every);
                        state
                    })
                    .collect()
            })
            .collect())
    }

    fn monte_carlo(
        &self,
        key: [u32; 2],
        blocks: Range<u32>,
        samples: u32,
    ) -> Result<Vec<u32>, EngineError> {
        Ok(blocks
            .into_par_iter()
            .map(|block| monte_carlo_block(key, block, samples))
            .collect())
    }
}
