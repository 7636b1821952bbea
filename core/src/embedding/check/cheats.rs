//! Cheating provers the detection table (docs/verification.md) and the tests play, beyond running
//! the reference with other weights or on other ids: a forward pass a profit-seeking provider might
//! commit instead of the reference, laid out as an honest trace so that every opening verifies and
//! only the recomputation of a sampled cell can tell.
use alloc::vec;

use crate::embedding::forward::{LayerTrace, SequenceError, SequenceRun, run_sequence};
use crate::embedding::model::Model;

/// The forward pass with layer `skipped` left out at no cost: the model run without it, and the
/// layer's rows committed as zeros with its input for its output, so that the trace keeps every
/// layer's leaves (a trace a layer short does not even open).
pub fn skipping_layer(
    model: &Model,
    ids: &[u32],
    skipped: usize,
) -> Result<SequenceRun, SequenceError> {
    let mut shortened = model.clone();
    shortened.layers.remove(skipped);
    shortened.shape.layers -= 1;
    let mut run = run_sequence(&shortened, ids)?;
    let input = run
        .layers
        .get(skipped)
        .map_or_else(|| run.output.clone(), |next| next.input.clone());
    let zeros = |width: u32| vec![0; ids.len() * width as usize];
    let hidden = model.shape.hidden;
    run.layers.insert(
        skipped,
        LayerTrace {
            input,
            query: zeros(hidden),
            key: zeros(hidden),
            value: zeros(hidden),
            context: zeros(hidden),
            attention_sum: zeros(hidden),
            attended: zeros(hidden),
            intermediate: zeros(model.shape.ffn),
            output_sum: zeros(hidden),
        },
    );
    Ok(run)
}
