//! The embedding models this provider serves: weights files named in the configuration, each
//! parsed and named by its identity (the Merkle root a job's kernel names) when the worker starts.
//! The daemon claims an embedding job only when it holds the job's model.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use gpushare::state::{KernelSpec, VerificationMode};
use gpushare_core::embedding::check::job_checkable;
use gpushare_core::embedding::layout::TokenBatch;
use gpushare_core::embedding::model::Model;

use crate::error::WorkerError;
use crate::input_policy::InputError;

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

    /// The given models, each named by its identity.
    pub fn from_models(models: impl IntoIterator<Item = Model>) -> Self {
        Self {
            by_identity: models
                .into_iter()
                .map(|model| (model.identity(), Arc::new(model)))
                .collect(),
        }
    }

    /// The model named `identity`, if this worker holds it.
    pub fn get(&self, identity: &[u8; 32]) -> Option<Arc<Model>> {
        self.by_identity.get(identity).cloned()
    }

    /// Checks a downloaded input against what `kernel` will make of it, before anything is claimed:
    /// an embedding job's token batch must parse, have the batch root the job names, and every
    /// sequence fit the model (and, spot-checked, what [`job_checkable`] asks), so that a
    /// client cannot turn a batch the model cannot run or the program cannot check into providers'
    /// missed claims (any bytes of the right size are gemm_i8 operands).
    pub fn check_data(
        &self,
        kernel: &KernelSpec,
        mode: VerificationMode,
        data: &[u8],
    ) -> Result<(), InputError> {
        let KernelSpec::Embedding {
            model,
            batch: root,
            dims,
            sequences,
            tokens,
        } = *kernel
        else {
            return Ok(());
        };
        let model = self.get(&model).ok_or_else(|| {
            InputError::Malformed(format!("model {} is not served here", hex::encode(model)))
        })?;
        if model.shape.hidden != dims {
            return Err(InputError::Malformed(format!(
                "the job asks for {dims} dimensions of a {}-wide model",
                model.shape.hidden
            )));
        }
        let malformed = |e: &dyn std::fmt::Display| InputError::Malformed(e.to_string());
        let batch = TokenBatch::from_bytes(data, sequences, tokens).map_err(|e| malformed(&e))?;
        batch.check(&model).map_err(|e| malformed(&e))?;
        if batch.tree().root() != root {
            return Err(InputError::Malformed(
                "the token batch's tree does not have the job's batch root".into(),
            ));
        }
        if let VerificationMode::SpotCheck { samples } = mode {
            job_checkable(&model.shape, batch.longest(), samples).map_err(|e| malformed(&e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gpushare_core::embedding::model::{Shape, seeded_model};

    use super::*;

    #[test]
    fn a_token_batch_the_model_cannot_run_is_refused_before_claiming() {
        let shape = Shape {
            vocab: 100,
            max_tokens: 8,
            layers: 1,
            ..Shape::MINILM_L6
        };
        let model = seeded_model(shape, 1);
        let identity = model.identity();
        let models = Models::from_models([model]);
        let honest = TokenBatch::new(&[vec![1, 2], vec![3]]);
        let kernel = |sequences, tokens| KernelSpec::Embedding {
            model: identity,
            batch: honest.tree().root(),
            dims: 384,
            sequences,
            tokens,
        };
        let batch = |sequences: Vec<Vec<u32>>| TokenBatch::new(&sequences).to_bytes();
        let quorum = VerificationMode::Quorum { q: 2 };
        assert!(
            models
                .check_data(&kernel(2, 3), quorum, &honest.to_bytes())
                .is_ok()
        );
        let refused = |kernel: KernelSpec, bytes: Vec<u8>| {
            matches!(
                models.check_data(&kernel, quorum, &bytes),
                Err(InputError::Malformed(_))
            )
        };
        // Ids other than the batch root names.
        assert!(refused(kernel(2, 3), batch(vec![vec![1, 2], vec![4]])));
        // A token outside the vocabulary, a sequence over the model's length, an empty one, and
        // lengths that do not add up to the job's token count.
        assert!(refused(kernel(2, 3), batch(vec![vec![1, 2], vec![100]])));
        assert!(refused(kernel(1, 9), batch(vec![vec![1; 9]])));
        assert!(refused(kernel(2, 2), batch(vec![vec![1, 2], vec![]])));
        let mut lying = batch(vec![vec![1, 2], vec![3]]);
        lying[4] = 3;
        assert!(refused(kernel(2, 3), lying));
        // The model's width misnamed, and a model this worker does not serve.
        let narrow = KernelSpec::Embedding {
            model: identity,
            batch: [0; 32],
            dims: 383,
            sequences: 1,
            tokens: 1,
        };
        assert!(refused(narrow, batch(vec![vec![1]])));
        let other = KernelSpec::Embedding {
            model: [9; 32],
            batch: [0; 32],
            dims: 384,
            sequences: 1,
            tokens: 1,
        };
        assert!(refused(other, batch(vec![vec![1]])));
    }

    #[test]
    fn a_spot_check_the_program_could_not_afford_is_refused_before_claiming() {
        let small = Shape {
            vocab: 100,
            max_tokens: 80,
            layers: 1,
            ..Shape::MINILM_L6
        };
        let wide = Shape {
            hidden: 512,
            heads: 8,
            ..small
        };
        let (small, wide) = (seeded_model(small, 1), seeded_model(wide, 1));
        let kernel = |model: &Model, batch: &TokenBatch| KernelSpec::Embedding {
            model: model.identity(),
            batch: batch.tree().root(),
            dims: model.shape.hidden,
            sequences: batch.len() as u32,
            tokens: batch.tokens() as u32,
        };
        let check = |model: &Model, mode, ids: Vec<u32>| {
            let batch = TokenBatch::new(&[ids]);
            Models::from_models([model.clone()]).check_data(
                &kernel(model, &batch),
                mode,
                &batch.to_bytes(),
            )
        };
        let spot_check = VerificationMode::SpotCheck { samples: 64 };
        let quorum = VerificationMode::Quorum { q: 2 };
        assert!(check(&small, spot_check, vec![1; 64]).is_ok());
        // A sequence longer than the check's attention can read, and a model wider than measured.
        assert!(check(&small, spot_check, vec![1; 65]).is_err());
        assert!(check(&small, quorum, vec![1; 65]).is_ok());
        assert!(check(&wide, spot_check, vec![1; 8]).is_err());
        assert!(check(&wide, quorum, vec![1; 8]).is_ok());
        // Fewer samples than the draw is weighed for.
        let fewer = VerificationMode::SpotCheck { samples: 16 };
        assert!(check(&small, fewer, vec![1; 8]).is_err());
    }
}
