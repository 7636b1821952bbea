//! The embedding model as a client or provider gets it: the float weights of a sentence-transformers
//! package turned into gpushare-core's integer weights file ([`quantize`]), and texts turned into the
//! token ids a job carries ([`tokenize`]).
//!
//! - [`card`]: a model card's prose lines, the real text the demo and the measurements embed;
//! - [`error`]: what can go wrong reading a model's files;
//! - [`quantize`]: float safetensors → [`gpushare_core::embedding::model::Model`], deterministically;
//! - [`tokenize`]: the model's WordPiece tokenizer with the model's sequence limit.
pub mod card;
pub mod error;
pub mod quantize;
pub mod tokenize;
