//! The CPU backend: multi-threaded (rayon), cache-blocked, vectorizable kernels, bit-identical to the
//! reference definitions.
use std::ops::Range;

use gpushare_core::kernels::{monte_carlo_block, sha256_chain_advance};
use rayon::prelude::*;

use crate::backend::{Backend, check_gemm_shape};
use crate::error::WorkerError;

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

/// Σ a[p]·b[p] over i8 operands, exact in i32; written so that the compiler vectorizes it.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// Bᵀ (n×k) from B (k×n), so that every dot product reads two contiguous rows.
fn transpose(b: &[i8], k: usize, n: usize) -> Vec<i8> {
    let mut bt = vec![0i8; k * n];
    bt.par_chunks_mut(k.max(1))
        .enumerate()
        .for_each(|(j, column)| {
            for (p, slot) in column.iter_mut().enumerate() {
                *slot = b[p * n + j];
            }
        });
    bt
}

/// The textbook triple loop, kept as the baseline the benchmark compares against.
pub fn gemm_i8_naive(a: &[i8], b: &[i8], m: usize, n: usize, k: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for p in 0..k {
                acc += i32::from(a[i * k + p]) * i32::from(b[p * n + j]);
            }
            c[i * n + j] = acc;
        }
    }
    c
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
    ) -> Result<Vec<i32>, WorkerError> {
        check_gemm_shape(a, b, m, n, k)?;
        let mut c = vec![0i32; m * n];
        if m == 0 || n == 0 {
            return Ok(c);
        }
        let bt = transpose(b, k, n);
        c.par_chunks_mut(ROW_BLOCK * n)
            .enumerate()
            .for_each(|(block, rows)| {
                let first_row = block * ROW_BLOCK;
                for j0 in (0..n).step_by(COLUMN_BLOCK) {
                    let columns = j0..(j0 + COLUMN_BLOCK).min(n);
                    for (r, out) in rows.chunks_mut(n).enumerate() {
                        let a_row = &a[(first_row + r) * k..(first_row + r + 1) * k];
                        for j in columns.clone() {
                            out[j] = dot_i8(a_row, &bt[j * k..(j + 1) * k]);
                        }
                    }
                }
            });
        Ok(c)
    }

    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, WorkerError> {
        if leaf_every == 0 || !steps.is_multiple_of(leaf_every) {
            return Err(WorkerError::Shape(format!(
                "{steps} steps are not a multiple of {leaf_every}"
            )));
        }
        Ok(starts
            .par_iter()
            .map(|start| {
                let mut state = *start;
                (0..steps / leaf_every)
                    .map(|_| {
                        state = sha256_chain_advance(state, leaf_every);
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
    ) -> Result<Vec<u32>, WorkerError> {
        Ok(blocks
            .into_par_iter()
            .map(|block| monte_carlo_block(key, block, samples))
            .collect())
    }
}
