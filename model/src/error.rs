//! The model crate's one error.
use std::path::PathBuf;

/// Why a model's files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFilesError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("safetensors: {0}")]
    SafeTensors(#[from] safetensors::SafeTensorError),
    #[error("tensor {0} is missing")]
    MissingTensor(String),
    #[error("tensor {name} is {actual:?} of {dtype}, expected {expected:?} of F32")]
    TensorShape {
        name: String,
        dtype: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("{what} {value} does not fit the integer definition")]
    OutOfRange { what: &'static str, value: f64 },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("the quantized model does not parse back: {0}")]
    Model(#[from] gpushare_core::embedding::model::ModelError),
}
