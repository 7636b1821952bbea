//! The embedding models this provider serves: weights files named in the configuration, each
//! parsed and named by its identity (the Merkle root a job's kernel names) when the worker starts.
//! The daemon claims an embedding job only when it holds the job's model.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use gpushare_core::embedding::model::Model;

use crate::error::WorkerError;

/// The loaded models, by identity.
#[derive(Clone, Debug, Default)]
pub struct Models {
    by_identity: HashMap<[u8; 32], Arc<Model>>,
}

impl Models {
    /// Reads and checks each weights file.
    pub fn load(paths: &[PathBuf]) -> Result<Self, WorkerError> {
        let mut by_identity = HashMap::new();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|source| WorkerError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let model = Model::from_bytes(&bytes)
                .map_err(|e| WorkerError::Config(format!("model {}: {e}", path.display())))?;
            let identity = model.identity();
            tracing::info!(path = %path.display(), identity = %hex::encode(identity), "model loaded");
            by_identity.insert(identity, Arc::new(model));
        }
        Ok(Self { by_identity })
    }

    /// The model named `identity`, if this worker holds it.
    pub fn get(&self, identity: &[u8; 32]) -> Option<Arc<Model>> {
        self.by_identity.get(identity).cloned()
    }
}
