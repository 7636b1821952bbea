//! Embedding spot-check proofs: for a challenged slot of a spot-checked embedding job, each unproven
//! sample's witness (`gpushare_core::embedding::check`), built from the shard this worker committed
//! and checked here, with the program's own function, before anything is sent: a provider never
//! sends a proof the program would refuse or find wrong.
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use gpushare_core::embedding::check::prover::{Prover, SequenceTrace};
use gpushare_core::embedding::check::{CheckContext, Verdict, check_sample};
use gpushare_core::embedding::layout::TokenBatch;
use gpushare_core::embedding::model::Model;
use gpushare_engine::embed::HostSteps;

use crate::error::WorkerError;

/// One sample's witness, to stage in its proof buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedSample {
    pub sample: u8,
    pub witness: Vec<u8>,
}

/// What the witnesses are built from: the job's model, the model the shard was computed with (the
/// same one, unless a fault was injected), the job's batch and the committed output.
pub struct EmbeddingShard<'a> {
    pub model: &'a Model,
    pub computed_with: &'a Model,
    pub batch: &'a TokenBatch,
    pub output: &'a [u8],
}

impl EmbeddingShard<'_> {
    /// The witnesses of `samples`, each checked as the program will check it. A sample whose
    /// witness does not verify or recomputes to another value is an error: this worker's
    /// commitment is not what it would compute, and it proves nothing.
    pub fn witnesses(
        &self,
        context: &CheckContext,
        samples: impl IntoIterator<Item = u8>,
    ) -> Result<Vec<StagedSample>, WorkerError> {
        let prover = Prover::new(self.model, self.batch, self.output);
        let steps = HostSteps::new(self.computed_with);
        let mut traces: HashMap<u32, SequenceTrace> = HashMap::new();
        let mut staged = Vec::new();
        for sample in samples {
            let drawn = prover.sample(context, sample);
            let trace = match traces.entry(drawn.sequence) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    let ids = self.batch.sequence(drawn.sequence as usize);
                    let run = steps
                        .run_sequence(self.computed_with, ids)
                        .map_err(|e| WorkerError::SelfCheck(e.to_string()))?;
                    entry.insert(SequenceTrace::new(self.computed_with, &run))
                }
            };
            let witness = prover
                .witness_of(context, &drawn, trace)
                .map_err(|e| WorkerError::SelfCheck(format!("sample {sample}: {e:?}")))?;
            match check_sample(context, sample, &witness) {
                Ok(Verdict::Matches) => staged.push(StagedSample { sample, witness }),
                Ok(Verdict::Differs) => {
                    return Err(WorkerError::SelfCheck(format!(
                        "sample {sample}: the committed output differs from the reference"
                    )));
                }
                Err(refusal) => {
                    return Err(WorkerError::SelfCheck(format!(
                        "sample {sample}: the witness does not verify: {refusal}"
                    )));
                }
            }
        }
        Ok(staged)
    }
}
