//! The CPU backend: multi-threaded (rayon), cache-blocked, vectorizable kernels, bit-identical to the
//! reference definitions.
use std::ops::Range;

use gpushare_core::kernels::{monte_carlo_block, sha256_chain_advance};
use rayon::prelude::*;

use crate::backend::{Backend, ChainKey, check_chain_shape, check_gemm_shape};
use crate::blocks::{COLUMN_BLOCK, gemm_block};
use crate::error::EngineError;

/// Rows of C one task computes.
const ROW_BLOCK: usize = 16;

/// The CPU backend, on rayon's global thread pool.
#[derive(Clone, Debug, Default)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        Self
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
