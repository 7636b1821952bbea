//! The check against honest and cheating provers on a small seeded model: every cell of an honest
//! trace matches, tampered witnesses are refused by name, and each cheat is caught by the cells it
//! touches, in the proportion the draw gives them.
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::embedding::forward::{SequenceRun, run_sequence, run_sequence_with};
use crate::embedding::layout::TokenBatch;
use crate::embedding::model::{LinearKind, Model, Shape, seeded_model};
use crate::merkle::Hash;

use super::cheats::{ZeroAccumulators, collapsed_after_first_attention};
use super::prover::{Prover, SequenceTrace, shard_output};
use super::*;

const SMALL: Shape = Shape::TWO_LAYERS;

const JOB: [u8; 32] = [0x4a; 32];

/// A provider's committed shard: the model, the batch, each sequence's trace as it computed it, and
/// the shard's output.
struct Shard {
    batch: TokenBatch,
    traces: Vec<SequenceTrace>,
    output: Vec<u8>,
    sequences: Range<u32>,
}

impl Shard {
    /// The shard of `sequences` of `batch`, each sequence's run computed by `compute`.
    fn new(
        model: &Model,
        batch: TokenBatch,
        sequences: Range<u32>,
        compute: impl Fn(&Model, &[u32]) -> SequenceRun,
    ) -> Self {
        let (output, traces) = shard_output(model, &batch, sequences.clone(), &JOB, |ids| {
            Ok(compute(model, ids))
        })
        .unwrap();
        Self {
            batch,
            traces,
            output,
            sequences,
        }
    }

    /// The prover of this shard against the job's model `model`.
    fn prover<'a>(&'a self, model: &'a Model) -> Prover<'a> {
        Prover::new(model, &self.batch, &self.output)
    }

    fn trace(&self, sequence: u32) -> &SequenceTrace {
        &self.traces[(sequence - self.sequences.start) as usize]
    }

    /// What the job names (the roots `roots` of [`Prover::roots`]) with the challenge `challenge`.
    fn context<'a>(&self, roots: &'a [Hash; 3], challenge: &'a Hash) -> CheckContext<'a> {
        let [model, batch, root] = roots;
        CheckContext {
            job: &JOB,
            model,
            batch,
            batch_sequences: self.batch.len() as u32,
            batch_tokens: self.batch.tokens() as u32,
            dims: SMALL.hidden,
            shard_sequences: self.sequences.clone(),
            shard_root: root,
            challenge,
        }
    }
}

fn batch() -> TokenBatch {
    TokenBatch::new(&[
        vec![1, 7, 3, 2],
        vec![1, 12, 30, 5, 9, 2],
        vec![1, 4, 2],
        vec![1, 8, 21, 33, 6, 2],
    ])
}

fn honest(model: &Model, ids: &[u32]) -> SequenceRun {
    run_sequence(model, ids).unwrap()
}

/// Every (slot, token, column, input column) the draw can make for `sequence`, each with its
/// chance.
fn every_sample(shape: &Shape, sequence: u32, tokens: u32) -> Vec<(Sample, f64)> {
    let slots = Sample::slots(shape);
    let mut all = Vec::new();
    for slot in 0..slots {
        let (layer, operation) = Sample::cell(shape, slot);
        let columns = Sample::columns(shape, operation);
        let inputs = match operation {
            Operation::Linear(LinearKind::Output) => shape.ffn,
            _ => 1,
        };
        for token in 0..tokens {
            for column in 0..columns {
                for input_column in 0..inputs {
                    let chance = 1.0
                        / (slots as f64
                            * f64::from(tokens)
                            * f64::from(columns)
                            * f64::from(inputs));
                    let sample = Sample {
                        sequence,
                        token,
                        layer,
                        operation,
                        column,
                        input_column,
                    };
                    all.push((sample, chance));
                }
            }
        }
    }
    all
}

/// The chance that one sample of `shard`'s sequence `sequence`, checked against the job's model
/// `reference`, finds its committed output different; every witness must verify.
fn chance_caught(shard: &Shard, reference: &Model, sequence: u32) -> f64 {
    let prover = shard.prover(reference);
    let (roots, challenge) = (prover.roots(), [0; 32]);
    let context = shard.context(&roots, &challenge);
    let tokens = shard.batch.sequence(sequence as usize).len() as u32;
    every_sample(&reference.shape, sequence, tokens)
        .into_iter()
        .map(|(sample, chance)| {
            let witness = prover
                .witness_of(&context, &sample, shard.trace(sequence))
                .unwrap();
            let verdict = check_drawn(&context, &witness, |_, _| Ok(sample)).unwrap();
            if verdict == Verdict::Differs {
                chance
            } else {
                0.0
            }
        })
        .sum()
}

#[test]
fn every_cell_of_an_honest_trace_matches() {
    let model = seeded_model(SMALL, 3);
    let shard = Shard::new(&model, batch(), 1..4, honest);
    for sequence in 1..4 {
        assert_eq!(chance_caught(&shard, &model, sequence), 0.0);
    }
}

#[test]
fn drawn_samples_of_an_honest_shard_match_and_cover_the_shard() {
    let model = seeded_model(SMALL, 3);
    let shard = Shard::new(&model, batch(), 1..4, honest);
    let prover = shard.prover(&model);
    let (roots, challenge) = (prover.roots(), crate::sha256(&[b"a challenge"]));
    let context = shard.context(&roots, &challenge);
    let mut operations = Vec::new();
    for sample in 0..64 {
        let drawn = prover.sample(&context, sample);
        assert!((1..4).contains(&drawn.sequence));
        let witness = prover
            .witness(&context, sample, shard.trace(drawn.sequence))
            .unwrap();
        assert_eq!(
            check_sample(&context, sample, &witness),
            Ok(Verdict::Matches)
        );
        operations.push(drawn.operation);
    }
    assert!(operations.contains(&Operation::Embed));
    assert!(operations.contains(&Operation::Attention));
}

#[test]
fn a_witness_that_does_not_verify_is_refused_by_name() {
    let model = seeded_model(SMALL, 3);
    let shard = Shard::new(&model, batch(), 0..4, honest);
    let prover = shard.prover(&model);
    let (roots, challenge) = (prover.roots(), crate::sha256(&[b"refusals"]));
    let context = shard.context(&roots, &challenge);
    let drawn = prover.sample(&context, 0);
    let witness = prover
        .witness(&context, 0, shard.trace(drawn.sequence))
        .unwrap();
    // Any flipped byte past the header's length word: a leaf, a proof hash or a length.
    for at in (8..witness.len()).step_by(97) {
        let mut tampered = witness.clone();
        tampered[at] ^= 1;
        assert!(
            check_sample(&context, 0, &tampered).is_err(),
            "byte {at} flipped"
        );
    }
    assert_eq!(
        check_sample(&context, 0, &witness[..witness.len() - 1]),
        Err(CheckError::Malformed)
    );
    let mut longer = witness.clone();
    longer.push(0);
    assert_eq!(
        check_sample(&context, 0, &longer),
        Err(CheckError::Malformed)
    );
    // Another sample's witness, another job's roots.
    let other = (1..64)
        .find(|s| prover.sample(&context, *s) != drawn)
        .unwrap();
    assert!(check_sample(&context, other, &witness).is_err());
    let elsewhere = CheckContext {
        job: &[0x4b; 32],
        ..context.clone()
    };
    assert_eq!(
        check_sample(&elsewhere, 0, &witness),
        Err(CheckError::InvalidProof)
    );
    let wider = CheckContext {
        dims: 48,
        ..context
    };
    assert_eq!(
        check_sample(&wider, 0, &witness),
        Err(CheckError::WidthMismatch)
    );
}

/// Detection by s samples from a per-sample chance.
fn caught_by(chance: f64, samples: i32) -> f64 {
    1.0 - (1.0 - chance).powi(samples)
}

/// The chance one sample catches `cheat` on sequence 1, of the shard computed with it.
fn chance_against(model: &Model, cheat: &ZeroAccumulators) -> f64 {
    let shard = Shard::new(model, batch(), 0..4, |model, ids| {
        run_sequence_with(cheat, model, ids).unwrap()
    });
    chance_caught(&shard, model, 1)
}

#[test]
fn a_hollowed_layer_is_caught_by_its_five_cells() {
    let model = seeded_model(SMALL, 3);
    for layer in 0..2 {
        let chance = chance_against(&model, &ZeroAccumulators::hollow_layer(layer));
        // Its q, k, v and FFN-first cells, and its FFN-second cell, which checks one output of the
        // first, of the draw's 38 slots.
        let cells = 5.0 / Sample::slots(&SMALL) as f64;
        assert!(chance > 0.95 * cells, "layer {layer}: {chance}");
        assert!(caught_by(chance, 16) > 0.85);
    }
}

#[test]
fn an_ffn_first_layer_left_uncomputed_everywhere_is_caught_by_both_ffn_cells() {
    // Its outputs would make the second layer's input one row of biases: the second layer's cell
    // checks one output of the first so that it catches this too.
    let model = seeded_model(SMALL, 3);
    let cheat = ZeroAccumulators {
        layers: 0..2,
        kinds: vec![LinearKind::Intermediate],
    };
    let chance = chance_against(&model, &cheat);
    let cells = 4.0 / Sample::slots(&SMALL) as f64;
    assert!(chance > 0.95 * cells, "{chance} against {cells}");
}

#[test]
fn a_collapse_after_one_cheap_cell_is_caught_only_by_that_cell() {
    // The open weakness of docs/verification.md: one forward pass for the sequence, priced at one
    // cell's share of the draw.
    let model = seeded_model(SMALL, 3);
    let shard = Shard::new(&model, batch(), 0..4, |model, ids| {
        collapsed_after_first_attention(model, ids).unwrap()
    });
    let chance = chance_caught(&shard, &model, 1);
    let tokens = 6.0;
    let one_cell = (tokens - 1.0) / tokens / Sample::slots(&SMALL) as f64;
    assert!(
        (chance - one_cell).abs() < 0.2 * one_cell,
        "{chance} against {one_cell}"
    );
}

#[test]
fn other_weights_are_caught_by_almost_every_cell() {
    let model = seeded_model(SMALL, 3);
    let other = seeded_model(SMALL, 4);
    let shard = Shard::new(&model, batch(), 0..4, move |_, ids| honest(&other, ids));
    let chance = chance_caught(&shard, &model, 2);
    // Every cell but those that read no weights: each layer's attention, and pooling.
    let slots = Sample::slots(&SMALL) as f64;
    let cells = (slots - f64::from(SMALL.layers) - 1.0) / slots;
    assert!(chance > 0.99 * cells, "{chance} against {cells}");
}

#[test]
fn one_layer_with_wrong_weights_is_caught_by_its_cells() {
    let model = seeded_model(SMALL, 3);
    let mut wrong = model.clone();
    wrong.layers[1] = seeded_model(SMALL, 5).layers[1].clone();
    let shard = Shard::new(&model, batch(), 0..4, move |_, ids| honest(&wrong, ids));
    let chance = chance_caught(&shard, &model, 0);
    // Every cell of layer 1 that reads a weight or a norm: eight of its nine.
    let cells = 8.0 / Sample::slots(&SMALL) as f64;
    assert!(chance > 0.95 * cells, "{chance}");
}

#[test]
fn another_texts_activations_are_caught_by_the_token_embedding() {
    let model = seeded_model(SMALL, 3);
    // Sequences 1 and 3 have six tokens each: the cheater embeds sequence 1 once and reuses it.
    let copied = run_sequence(&model, batch().sequence(1)).unwrap();
    let shard = Shard::new(&model, batch(), 0..4, |model, ids| {
        if ids.len() == copied.tokens {
            copied.clone()
        } else {
            honest(model, ids)
        }
    });
    assert_eq!(chance_caught(&shard, &model, 1), 0.0);
    let chance = chance_caught(&shard, &model, 3);
    // The token-embedding cell's half of the draw, at the tokens whose ids differ (4 of 6: [CLS] and
    // [SEP] are the same).
    let expected = Sample::embed_slots(&SMALL) as f64 / Sample::slots(&SMALL) as f64 * 4.0 / 6.0;
    assert!(chance > 0.99 * expected, "{chance} against {expected}");
}

#[test]
fn a_long_sequence_is_drawn_as_often_as_the_work_in_it() {
    // One 12-token sequence among six of two tokens: half the shard's work, so half the draws
    // (drawn by sequence, it would be one in seven, and skipping it would rarely be caught).
    let model = seeded_model(SMALL, 3);
    let mut sequences = vec![vec![1; 12]];
    sequences.extend((0..6).map(|_| vec![1, 2]));
    let shard = Shard::new(&model, TokenBatch::new(&sequences), 0..7, |model, ids| {
        honest(model, ids)
    });
    let prover = shard.prover(&model);
    let roots = prover.roots();
    let draws = 4_000;
    let long = (0..draws / 64)
        .flat_map(|round: u32| {
            let challenge = crate::sha256(&[&round.to_le_bytes()]);
            let context = shard.context(&roots, &challenge);
            (0..64)
                .map(|sample| prover.sample(&context, sample).sequence)
                .collect::<Vec<_>>()
        })
        .filter(|sequence| *sequence == 0)
        .count();
    let share = long as f64 / f64::from(draws / 64 * 64);
    assert!((share - 0.5).abs() < 0.04, "{share}");
}

#[test]
fn a_sequence_longer_than_the_check_allows_is_refused() {
    let model = seeded_model(
        Shape {
            max_tokens: 80,
            ..SMALL
        },
        3,
    );
    let long = TokenBatch::new(&[vec![1; MAX_CHECKED_TOKENS as usize + 1]]);
    let shard = Shard::new(&model, long, 0..1, honest);
    let prover = shard.prover(&model);
    let (roots, challenge) = (prover.roots(), [1; 32]);
    let context = shard.context(&roots, &challenge);
    let witness = prover.witness(&context, 0, shard.trace(0)).unwrap();
    assert_eq!(
        check_sample(&context, 0, &witness),
        Err(CheckError::InvalidSequence)
    );
}

#[test]
fn the_weights_layout_names_every_leaf() {
    let model = seeded_model(SMALL, 3);
    let leaves = model.leaves();
    let shape = model.shape;
    assert_eq!(shape.model_leaves(), leaves.len() as u64);
    let linear = |layer: u32, kind, j: usize| {
        let row = model.layers[layer as usize].linear(kind);
        let mut leaf: Vec<u8> = row.row(j).iter().map(|w| *w as i8 as u8).collect();
        leaf.extend_from_slice(&(row.multipliers[j] as u32).to_le_bytes());
        leaf.extend_from_slice(&(row.biases[j] as i32).to_le_bytes());
        leaf
    };
    for layer in 0..shape.layers {
        for kind in crate::embedding::model::LinearKind::ALL {
            for j in [0, shape.linear_outputs(kind) - 1] {
                let at = shape.linear_leaf(layer, kind, j as u64) as usize;
                assert_eq!(leaves[at], linear(layer, kind, j));
            }
        }
        let norm = |at: u64, norm: &crate::embedding::model::Norm| {
            let bytes: Vec<u8> = norm
                .gain
                .iter()
                .chain(&norm.bias)
                .flat_map(|v| v.to_le_bytes())
                .collect();
            assert_eq!(leaves[at as usize], bytes);
        };
        let weights = &model.layers[layer as usize];
        norm(
            shape.norm_leaf(NormLeaf::Attention(layer)),
            &weights.attention_norm,
        );
        norm(
            shape.norm_leaf(NormLeaf::Output(layer)),
            &weights.output_norm,
        );
    }
    norm_matches_embedding(&model, &leaves);
    assert_eq!(
        leaves[shape.word_leaf(5) as usize],
        model.words[5 * 32..6 * 32]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    );
    assert_eq!(
        leaves[shape.position_leaf(3) as usize],
        model.positions[3 * 32..4 * 32]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    );
}

fn norm_matches_embedding(model: &Model, leaves: &[Vec<u8>]) {
    let bytes: Vec<u8> = model
        .embedding_norm
        .gain
        .iter()
        .chain(&model.embedding_norm.bias)
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(
        leaves[model.shape.norm_leaf(NormLeaf::Embedding) as usize],
        bytes
    );
}
