//! A provider's side of the check: the witness of one sample, built from the shard it committed —
//! the weights file's leaves, the job's batch, the shard's output and each sampled sequence's trace.
//! It writes what [`super::check_sample`] reads, in the same [`super::plan`].
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::fixed::largest_magnitude;
use crate::embedding::forward::{SequenceError, SequenceRun, attend};
use crate::embedding::layout::{OUTPUT_LEAF_BYTES, TokenBatch, output_record};
use crate::embedding::model::Model;
use crate::embedding::trace::{
    TraceLayout, TracedRow, bound_trace_root, leaf_bytes, visit_trace_leaves,
};
use crate::merkle::{Hash, MerkleError, MerkleTree};

use super::named::{Named, largest_value_token};
use super::witness::WitnessWriter;
use super::{CheckContext, Draw, Operation, Plan, Sample, cells, plan, record_leaves, row_range};

/// A sequence's trace as its provider keeps it to open: every leaf's bytes and their tree, and the
/// embedding it committed beside them.
pub struct SequenceTrace {
    pub leaves: Vec<Vec<u8>>,
    pub tree: MerkleTree,
    pub embedding: Vec<i16>,
}

impl SequenceTrace {
    /// The trace of `run` through `model`.
    pub fn new(model: &Model, run: &SequenceRun) -> Self {
        let mut leaves =
            Vec::with_capacity(TraceLayout::new(model.shape, run.tokens).leaves() as usize);
        visit_trace_leaves(model, run, |values| leaves.push(leaf_bytes(values)));
        let tree = MerkleTree::from_leaves(&leaves);
        Self {
            leaves,
            tree,
            embedding: run.embedding.clone(),
        }
    }
}

/// What a provider opens from: the weights file's leaves and tree, the job's batch and its tree,
/// and the shard's output bytes and tree.
pub struct Prover<'a> {
    model: &'a Model,
    model_leaves: Vec<Vec<u8>>,
    model_tree: MerkleTree,
    /// The model's draw, the same for every sample.
    draw: Draw,
    batch: &'a TokenBatch,
    batch_tree: MerkleTree,
    shard_output: &'a [u8],
    shard_tree: MerkleTree,
}

impl<'a> Prover<'a> {
    /// The prover of a shard of `batch` through `model` whose committed output is `shard_output`.
    pub fn new(model: &'a Model, batch: &'a TokenBatch, shard_output: &'a [u8]) -> Self {
        let model_leaves = model.leaves();
        let model_tree = MerkleTree::from_leaves(&model_leaves);
        Self {
            model,
            model_leaves,
            model_tree,
            draw: Draw::new(&model.shape),
            batch,
            batch_tree: batch.tree(),
            shard_output,
            shard_tree: MerkleTree::from_data(shard_output, OUTPUT_LEAF_BYTES),
        }
    }

    /// The roots the job and the provider's reveal name: the model's identity, the batch root and
    /// the shard root.
    pub fn roots(&self) -> [Hash; 3] {
        [
            self.model_tree.root(),
            self.batch_tree.root(),
            self.shard_tree.root(),
        ]
    }
}

/// The output of a shard of `batch`'s `sequences` in job `job`, each sequence's run computed by
/// `run` (the reference, or a cheat in tests), with every sequence's trace.
pub fn shard_output(
    model: &Model,
    batch: &TokenBatch,
    sequences: Range<u32>,
    job: &[u8; 32],
    run: impl Fn(&[u32]) -> Result<SequenceRun, SequenceError>,
) -> Result<(Vec<u8>, Vec<SequenceTrace>), SequenceError> {
    let (mut output, mut traces) = (Vec::new(), Vec::new());
    for sequence in sequences {
        let trace = SequenceTrace::new(model, &run(batch.sequence(sequence as usize))?);
        output.extend(output_record(
            &trace.embedding,
            &bound_trace_root(&trace.tree.root(), job),
        ));
        traces.push(trace);
    }
    Ok((output, traces))
}

impl Prover<'_> {
    /// The shard's tokens, job-wide: from its first sequence's first token to the next shard's.
    fn shard_tokens(&self, context: &CheckContext) -> Range<u64> {
        let first = |sequence: u32| u64::from(self.batch.first_token(sequence as usize));
        first(context.shard_sequences.start)..first(context.shard_sequences.end)
    }

    /// The sample's draw: its token from the challenge among the shard's, its sequence the one
    /// holding it.
    pub fn sample(&self, context: &CheckContext, sample: u8) -> Sample {
        let token = Sample::token_index(context.challenge, sample, &self.shard_tokens(context));
        let sequence = self.batch.sequence_holding(token);
        let within = token - u64::from(self.batch.first_token(sequence));
        Sample::draw(
            context.challenge,
            sample,
            &self.draw,
            sequence as u32,
            within as u32,
        )
    }

    /// The witness of sample `sample`, whose sequence's trace is `trace`.
    pub fn witness(
        &self,
        context: &CheckContext,
        sample: u8,
        trace: &SequenceTrace,
    ) -> Result<Vec<u8>, MerkleError> {
        self.witness_of(context, &self.sample(context, sample), trace)
    }

    /// The witness of the check `drawn`, whose sequence's trace is `trace`.
    pub fn witness_of(
        &self,
        context: &CheckContext,
        drawn: &Sample,
        trace: &SequenceTrace,
    ) -> Result<Vec<u8>, MerkleError> {
        let shape = self.model.shape;
        let ids = self.batch.sequence(drawn.sequence as usize);
        let mut writer = WitnessWriter::default();
        writer.opening(&self.model_tree, 0..1, &[&self.model_leaves[0]])?;
        let batch_leaf = |writer: &mut WitnessWriter, sequence: u32| {
            let at = u64::from(sequence);
            let leaf = self.batch.sequence_leaf(sequence as usize);
            writer.opening(&self.batch_tree, at..at + 1, &[&leaf])
        };
        batch_leaf(&mut writer, context.shard_sequences.start)?;
        if context.shard_sequences.end < context.batch_sequences {
            batch_leaf(&mut writer, context.shard_sequences.end)?;
        }
        writer.word(drawn.sequence);
        batch_leaf(&mut writer, drawn.sequence)?;
        let record = record_leaves(
            context.dims,
            u64::from(drawn.sequence - context.shard_sequences.start),
        );
        let opened = if drawn.operation == Operation::Pool {
            record
        } else {
            record.end - 1..record.end
        };
        let output_leaves: Vec<&[u8]> = self.shard_output.chunks(OUTPUT_LEAF_BYTES).collect();
        writer.opening(
            &self.shard_tree,
            opened.clone(),
            &output_leaves[opened.start as usize..opened.end as usize],
        )?;
        writer.hash(&trace.tree.root());
        let layout = TraceLayout::new(shape, ids.len());
        let plan = plan(&shape, &layout, drawn, ids);
        for range in plan.trace.iter().cloned() {
            writer.opening_of(&trace.tree, range, &trace.leaves)?;
        }
        for range in plan.model.iter().cloned() {
            writer.opening_of(&self.model_tree, range, &self.model_leaves)?;
        }
        if let Some(named) = Named::of(drawn) {
            let index = self.named_index(&named, &layout, drawn, &plan, trace);
            writer.word(index);
            for range in named.trace(&layout, drawn, index) {
                writer.opening_of(&trace.tree, range, &trace.leaves)?;
            }
            for range in named.model(&shape, drawn, index, ids) {
                writer.opening_of(&self.model_tree, range, &self.model_leaves)?;
            }
        }
        Ok(writer.into_bytes())
    }

    /// The index `drawn`'s witness names ([`Named`]), from the committed trace `trace`, whose leaves
    /// `plan` opens.
    fn named_index(
        &self,
        named: &Named,
        layout: &TraceLayout,
        drawn: &Sample,
        plan: &Plan,
        trace: &SequenceTrace,
    ) -> u32 {
        let values = |range: &Range<u64>| -> Vec<i32> {
            trace.leaves[range.start as usize..range.end as usize]
                .iter()
                .flat_map(|leaf| cells::i32s(leaf))
                .collect()
        };
        match named {
            Named::Steering(steering) => {
                let row = row_range(layout, drawn.layer, u64::from(drawn.token), steering.row);
                steering.column_of(values(&row)) as u32
            }
            Named::FavouriteKey => {
                // The plan opens the query row, the head's keys and values (`cells::plan`).
                let head_dim = self.model.shape.head_dim();
                let query = values(&plan.trace[0]);
                let head = &query[drawn.column as usize * head_dim..][..head_dim];
                let mut context = vec![0i32; head_dim];
                attend(
                    head,
                    &values(&plan.trace[1]),
                    &values(&plan.trace[2]),
                    i64::from(self.model.shape.score_multiplier),
                    &mut context,
                ) as u32
            }
            Named::LargestValue => {
                let (token, head_dim) = (u64::from(drawn.token), self.model.shape.head_dim());
                let context = values(&row_range(layout, drawn.layer, token, TracedRow::Context));
                let column = largest_magnitude(&context);
                let pieces = values(&layout.value_pieces(drawn.layer, (column / head_dim) as u32));
                let largest = largest_value_token(&pieces, head_dim, column % head_dim);
                (largest * context.len() + column) as u32
            }
        }
    }
}
