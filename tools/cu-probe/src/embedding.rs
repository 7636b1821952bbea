//! The computations of the embedding checks (issue 28), as the meter runs them: one
//! [`EmbeddingCase`] encoded into the input region, computed by [`EmbeddingCase::run`] with
//! gpushare-core. Built into an eBPF probe of its own (feature `embedding-checks`), so that its code
//! never changes how the leaf and inclusion paths are compiled and measured.
use alloc::vec::Vec;

use gpushare_core::embedding::fixed;
use gpushare_core::embedding::forward::attend;

use crate::case::{OUTCOME_OFFSET, Outcome, Reader};

/// One computation an embedding check performs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmbeddingCase {
    /// One query piece over a sequence's key and value pieces of one head (`forward::attend`).
    Attention {
        multiplier: i64,
        query: Vec<i32>,
        keys: Vec<i32>,
        values: Vec<i32>,
    },
    /// LayerNorm of one row (`fixed::layer_norm`).
    LayerNorm {
        row: Vec<i32>,
        gain: Vec<i32>,
        bias: Vec<i32>,
    },
    /// One output of the FFN's second linear layer: GELU of the intermediate row, quantized, one
    /// weight row's dot product, requantized (`fixed`'s functions).
    FfnOutput {
        intermediate: Vec<i32>,
        weights: Vec<i16>,
        multiplier: i64,
        bias: i64,
    },
}

/// Appends `values` as a u64 LE count, then each value LE.
fn put<const N: usize, T: Copy>(out: &mut Vec<u8>, values: &[T], bytes: impl Fn(T) -> [u8; N]) {
    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
    values
        .iter()
        .for_each(|v| out.extend_from_slice(&bytes(*v)));
}

/// A u64 LE count, then that many values of N bytes (at most what the region holds), read into a
/// vector sized up front.
fn values<const N: usize, T: Clone + Default>(
    read: &mut Reader,
    value: impl Fn([u8; N]) -> T,
) -> Option<Vec<T>> {
    let count = usize::try_from(u64::from_le_bytes(read.take()?))
        .ok()
        .filter(|n| *n <= OUTCOME_OFFSET / N)?;
    let mut out = alloc::vec![T::default(); count];
    for slot in &mut out {
        *slot = value(read.take()?);
    }
    Some(out)
}

/// i32 values as their LE bytes.
fn le_bytes(values: &[i32]) -> Vec<u8> {
    let mut out = alloc::vec![0u8; 4 * values.len()];
    for (bytes, v) in out.chunks_exact_mut(4).zip(values) {
        bytes.copy_from_slice(&v.to_le_bytes());
    }
    out
}

impl EmbeddingCase {
    /// The case as the entry point reads it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            EmbeddingCase::Attention {
                multiplier,
                query,
                keys,
                values,
            } => {
                out.push(0);
                out.extend_from_slice(&multiplier.to_le_bytes());
                for rows in [query, keys, values] {
                    put(&mut out, rows, i32::to_le_bytes);
                }
            }
            EmbeddingCase::LayerNorm { row, gain, bias } => {
                out.push(1);
                for values in [row, gain, bias] {
                    put(&mut out, values, i32::to_le_bytes);
                }
            }
            EmbeddingCase::FfnOutput {
                intermediate,
                weights,
                multiplier,
                bias,
            } => {
                out.push(2);
                out.extend_from_slice(&multiplier.to_le_bytes());
                out.extend_from_slice(&bias.to_le_bytes());
                put(&mut out, intermediate, i32::to_le_bytes);
                put(&mut out, weights, i16::to_le_bytes);
            }
        }
        out
    }

    /// Reads a case back, or None for bytes no [`EmbeddingCase::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<EmbeddingCase> {
        let mut read = Reader(bytes);
        let [tag] = read.take()?;
        let i32s = |read: &mut Reader| values(read, i32::from_le_bytes);
        match tag {
            0 => {
                let multiplier = i64::from_le_bytes(read.take()?);
                let (query, keys, values) = (i32s(&mut read)?, i32s(&mut read)?, i32s(&mut read)?);
                Some(EmbeddingCase::Attention {
                    multiplier,
                    query,
                    keys,
                    values,
                })
            }
            1 => {
                let (row, gain, bias) = (i32s(&mut read)?, i32s(&mut read)?, i32s(&mut read)?);
                Some(EmbeddingCase::LayerNorm { row, gain, bias })
            }
            2 => {
                let (multiplier, bias) = (
                    i64::from_le_bytes(read.take()?),
                    i64::from_le_bytes(read.take()?),
                );
                let intermediate = i32s(&mut read)?;
                let weights = values(&mut read, i16::from_le_bytes)?;
                Some(EmbeddingCase::FfnOutput {
                    intermediate,
                    weights,
                    multiplier,
                    bias,
                })
            }
            _ => None,
        }
    }

    /// Computes the case with gpushare-core; the outcome is the values' LE bytes.
    pub fn run(&self) -> Outcome {
        Ok(match self {
            EmbeddingCase::Attention {
                multiplier,
                query,
                keys,
                values,
            } => {
                let mut context = alloc::vec![0i32; query.len()];
                attend(query, keys, values, *multiplier, &mut context);
                le_bytes(&context)
            }
            EmbeddingCase::LayerNorm { row, gain, bias } => {
                let mut out = alloc::vec![0i32; row.len()];
                fixed::layer_norm(row, gain, bias, &mut out);
                le_bytes(&out)
            }
            EmbeddingCase::FfnOutput {
                intermediate,
                weights,
                multiplier,
                bias,
            } => {
                let mut activated = alloc::vec![0i32; intermediate.len()];
                for (y, x) in activated.iter_mut().zip(intermediate) {
                    *y = fixed::gelu(*x);
                }
                let mut levels = alloc::vec![0i16; activated.len()];
                let m = fixed::quantize_row(&activated, &mut levels);
                let acc = fixed::dot(&levels, weights);
                le_bytes(&[fixed::linear_output(acc, m, *multiplier, *bias)])
            }
        })
    }
}
