//! The quantization step, version 1: a BERT encoder's float weights (safetensors, F32, PyTorch's
//! names and [out, in] layout) into gpushare-core's integer model. Deterministic: every value is
//! computed in IEEE-754 double precision from the F32 weights by the same few operations (no fused
//! multiply-add, no library function) and rounded half away from zero, so any machine turns the
//! same package into the same weights file and the same identity.
//!
//! - an activation table value v (token and position embeddings; positions get token type 0's row
//!   added first) is round(v·2¹²), which must fit an i16;
//! - a LayerNorm gain γ is round(γ·2¹⁶), a bias β is round(β·2¹²);
//! - a linear row j with largest magnitude a: weights round(w·127/a) (all 0 when a is 0), multiplier
//!   round(a·2⁴⁰/(127·2047)) (below 2³¹), bias round(b·2¹²).
use std::path::Path;

use gpushare_core::embedding::fixed::{
    ACT_LIMIT, FRAC_BITS, GAIN_BITS, MULTIPLIER_SHIFT, QUANT_LEVELS,
};
use gpushare_core::embedding::model::{Layer, Linear, Model, Norm, Shape};
use safetensors::{Dtype, SafeTensors};

use crate::error::ModelFilesError;

/// Largest i8 weight.
const WEIGHT_LEVELS: f64 = 127.0;

/// The integer model of `shape` from the float weights in the safetensors file at `path`.
pub fn quantize_file(path: &Path, shape: Shape) -> Result<Model, ModelFilesError> {
    let bytes = std::fs::read(path).map_err(|source| ModelFilesError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    quantize(&bytes, shape)
}

/// The integer model of `shape` from safetensors bytes; the result is checked by parsing its own
/// weights file back.
pub fn quantize(safetensors: &[u8], shape: Shape) -> Result<Model, ModelFilesError> {
    let tensors = Tensors(SafeTensors::deserialize(safetensors)?);
    let (h, f) = (shape.hidden as usize, shape.ffn as usize);
    let words = tensors.get(
        "embeddings.word_embeddings.weight",
        &[shape.vocab as usize, h],
    )?;
    let positions = tensors.get("embeddings.position_embeddings.weight", &[0, h])?;
    let token_type = tensors.get("embeddings.token_type_embeddings.weight", &[0, h])?;
    let positions: Vec<f64> = positions[..shape.max_tokens as usize * h]
        .chunks_exact(h)
        .flat_map(|row| row.iter().zip(&token_type[..h]).map(|(p, t)| p + t))
        .collect();
    let layers = (0..shape.layers)
        .map(|l| {
            let prefix = format!("encoder.layer.{l}.");
            let linear = |name: &str, outputs: usize, inputs: usize| {
                tensors.linear(&format!("{prefix}{name}"), outputs, inputs)
            };
            let norm = |name: &str| tensors.norm(&format!("{prefix}{name}"), h);
            Ok(Layer {
                query: linear("attention.self.query", h, h)?,
                key: linear("attention.self.key", h, h)?,
                value: linear("attention.self.value", h, h)?,
                attention_output: linear("attention.output.dense", h, h)?,
                attention_norm: norm("attention.output.LayerNorm")?,
                intermediate: linear("intermediate.dense", f, h)?,
                output: linear("output.dense", h, f)?,
                output_norm: norm("output.LayerNorm")?,
            })
        })
        .collect::<Result<Vec<_>, ModelFilesError>>()?;
    let model = Model {
        shape,
        words: activation_table(&words)?,
        positions: activation_table(&positions)?,
        embedding_norm: tensors.norm("embeddings.LayerNorm", h)?,
        layers,
    };
    Model::from_bytes(&model.to_bytes())?;
    Ok(model)
}

/// round(v·2^bits), half away from zero, checked against `limit`.
fn fixed(what: &'static str, v: f64, bits: u32, limit: i64) -> Result<i64, ModelFilesError> {
    let scaled = (v * (1u64 << bits) as f64).round();
    if scaled.abs() > limit as f64 {
        return Err(ModelFilesError::OutOfRange { what, value: v });
    }
    Ok(scaled as i64)
}

fn activation_table(values: &[f64]) -> Result<Vec<i16>, ModelFilesError> {
    values
        .iter()
        .map(|v| fixed("embedding value", *v, FRAC_BITS, i64::from(i16::MAX)).map(|q| q as i16))
        .collect()
}

/// The safetensors file's F32 tensors, read as f64.
struct Tensors<'a>(SafeTensors<'a>);

impl Tensors<'_> {
    /// Tensor `name`, checked to be F32 of `shape` (a 0 in `shape` accepts any size there).
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f64>, ModelFilesError> {
        let view = self
            .0
            .tensor(name)
            .map_err(|_| ModelFilesError::MissingTensor(name.to_string()))?;
        let fits = view.shape().len() == shape.len()
            && view
                .shape()
                .iter()
                .zip(shape)
                .all(|(a, e)| *e == 0 || a == e);
        if view.dtype() != Dtype::F32 || !fits {
            return Err(ModelFilesError::TensorShape {
                name: name.to_string(),
                dtype: format!("{:?}", view.dtype()),
                expected: shape.to_vec(),
                actual: view.shape().to_vec(),
            });
        }
        // The data may be unaligned: read each little-endian f32 from its bytes.
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect())
    }

    fn norm(&self, prefix: &str, hidden: usize) -> Result<Norm, ModelFilesError> {
        let gain = self.get(&format!("{prefix}.weight"), &[hidden])?;
        let bias = self.get(&format!("{prefix}.bias"), &[hidden])?;
        let to_i32 = |values: Vec<f64>, what, bits| {
            values
                .into_iter()
                .map(|v| fixed(what, v, bits, ACT_LIMIT).map(|q| q as i32))
                .collect::<Result<Vec<i32>, _>>()
        };
        Ok(Norm {
            gain: to_i32(gain, "LayerNorm gain", GAIN_BITS)?,
            bias: to_i32(bias, "LayerNorm bias", FRAC_BITS)?,
        })
    }

    fn linear(
        &self,
        prefix: &str,
        outputs: usize,
        inputs: usize,
    ) -> Result<Linear, ModelFilesError> {
        let weights = self.get(&format!("{prefix}.weight"), &[outputs, inputs])?;
        let biases = self.get(&format!("{prefix}.bias"), &[outputs])?;
        let mut linear = Linear {
            inputs,
            weights: Vec::with_capacity(outputs * inputs),
            multipliers: Vec::with_capacity(outputs),
            biases: Vec::with_capacity(outputs),
        };
        let per_level = WEIGHT_LEVELS * QUANT_LEVELS as f64;
        for (row, bias) in weights.chunks_exact(inputs).zip(biases) {
            let largest = row.iter().fold(0.0f64, |a, w| a.max(w.abs()));
            linear.weights.extend(row.iter().map(|w| {
                if largest == 0.0 {
                    0
                } else {
                    (w * WEIGHT_LEVELS / largest).round() as i16
                }
            }));
            let multiplier = fixed(
                "weight scale",
                largest / per_level,
                MULTIPLIER_SHIFT,
                i64::from(i32::MAX),
            )?;
            linear.multipliers.push(multiplier);
            linear
                .biases
                .push(fixed("bias", bias, FRAC_BITS, ACT_LIMIT)?);
        }
        Ok(linear)
    }
}
