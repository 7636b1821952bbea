//! The model's own tokenizer (its `tokenizer.json`: BERT normalization, lower case, WordPiece, [CLS]
//! and [SEP]), without the file's fixed padding and with truncation at the model's sequence limit,
//! as sentence-transformers runs it.
use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};

use crate::error::ModelFilesError;

/// Texts to token ids for one model.
pub struct TextTokenizer {
    tokenizer: Tokenizer,
}

impl TextTokenizer {
    /// The tokenizer in `tokenizer.json`, truncating to `max_tokens` (special tokens included).
    pub fn from_file(path: &Path, max_tokens: u32) -> Result<Self, ModelFilesError> {
        let mut tokenizer =
            Tokenizer::from_file(path).map_err(|e| ModelFilesError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens as usize,
                ..TruncationParams::default()
            }))
            .map_err(|e| ModelFilesError::Tokenizer(e.to_string()))?;
        Ok(Self { tokenizer })
    }

    /// Each text's token ids, [CLS] and [SEP] included.
    pub fn ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, ModelFilesError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelFilesError::Tokenizer(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }
}
