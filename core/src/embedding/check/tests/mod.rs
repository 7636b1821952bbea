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

use super::cheats::{Tamper, TamperedAccumulators, collapsed_after_first_attention};
use super::prover::{Prover, SequenceTrace, shard_output};
use super::*;

mod column_lies;

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

/// The share of the draw that the cells `pick` chooses take.
fn share(shape: &Shape, pick: impl Fn(&draw::Cell) -> bool) -> f64 {
    let draw = Draw::new(shape);
    let picked: u64 = draw
        .weighted()
        .filter(|(cell, _)| pick(cell))
        .map(|(_, weight)| weight)
        .sum();
    picked as f64 / draw.total as f64
}

/// Every (cell, token, column) the draw can make for `sequence`, each with its chance.
fn every_sample(shape: &Shape, sequence: u32, tokens: u32) -> Vec<(Sample, f64)> {
    let draw = Draw::new(shape);
    let total = draw.total as f64;
    let mut all = Vec::new();
    for (draw::Cell { layer, operation }, weight) in draw.weighted() {
        let columns = Sample::columns(shape, operation);
        for token in 0..tokens {
            for column in 0..columns {
                let chance = weight as f64 / (total * f64::from(tokens) * f64::from(columns));
                let sample = Sample {
                    sequence,
                    token,
                    layer,
                    operation,
                    column,
                };
                all.push((sample, chance));
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
fn chance_against(model: &Model, cheat: &TamperedAccumulators) -> f64 {
    let shard = Shard::new(model, batch(), 0..4, |model, ids| {
        run_sequence_with(cheat, model, ids).unwrap()
    });
    chance_caught(&shard, model, 1)
}

#[test]
fn a_hollowed_layer_is_caught_by_its_five_cells() {
    let model = seeded_model(SMALL, 3);
    for layer in 0..2 {
        let chance = chance_against(&model, &TamperedAccumulators::hollow_layer(layer));
        // Its q, k, v and FFN-first cells, and its FFN-second cell, which checks one output of the
        // first.
        let cells = share(&SMALL, |cell| {
            cell.layer == layer as u32
                && matches!(
                    cell.operation,
                    Operation::Linear(
                        LinearKind::Query
                            | LinearKind::Key
                            | LinearKind::Value
                            | LinearKind::Intermediate
                            | LinearKind::Output
                    )
                )
        });
        assert!(chance > 0.95 * cells, "layer {layer}: {chance}");
        assert!(caught_by(chance, 64) > 0.95);
    }
}

#[test]
fn an_ffn_first_layer_left_uncomputed_everywhere_is_caught_by_both_ffn_cells() {
    // Its outputs would make the second layer's input one row of biases: the second layer's cell
    // checks one output of the first so that it catches this too.
    let model = seeded_model(SMALL, 3);
    let cheat = TamperedAccumulators::ffn_first(0..2, Tamper::Zero);
    let chance = chance_against(&model, &cheat);
    let cells = share(&SMALL, |cell| {
        matches!(
            cell.operation,
            Operation::Linear(LinearKind::Intermediate | LinearKind::Output)
        )
    });
    assert!(chance > 0.95 * cells, "{chance} against {cells}");
}

#[test]
fn a_collapse_after_one_cheap_cell_is_caught_with_at_least_the_share_it_saves() {
    // One forward pass for the sequence after layer 0's attention sum: only layer 0's attention
    // LayerNorm at the other tokens can tell, and the draw weighs it by the work after it.
    let model = seeded_model(SMALL, 3);
    let shard = Shard::new(&model, batch(), 0..4, |model, ids| {
        collapsed_after_first_attention(model, ids).unwrap()
    });
    let chance = chance_caught(&shard, &model, 1);
    let tokens = 6.0;
    let one_cell = (tokens - 1.0) / tokens
        * share(&SMALL, |cell| {
            cell.layer == 0 && cell.operation == Operation::AttentionNorm
        });
    assert!(
        (chance - one_cell).abs() < 0.05 * one_cell,
        "{chance} against {one_cell}"
    );
    // What it saves at the other tokens: layer 0's FFN and all of layer 1, attention included.
    let (hidden, ffn) = (f64::from(SMALL.hidden), f64::from(SMALL.ffn));
    let layer = small_layer_work(tokens);
    let saved = (tokens - 1.0) / tokens * (2.0 * hidden * ffn + layer) / (2.0 * layer);
    assert_loses(chance, saved, "the collapse");
}

/// Multiply-adds one token costs in a layer of the two-layer model, in a sequence of `tokens`:
/// q, k, v and the attention output, the FFN's two layers, the attention.
fn small_layer_work(tokens: f64) -> f64 {
    let (hidden, ffn) = (f64::from(SMALL.hidden), f64::from(SMALL.ffn));
    4.0 * hidden * hidden + 2.0 * hidden * ffn + 2.0 * hidden * tokens
}

/// The deterrence rule for one cheat `what`: caught in the job's samples, `chance` a sample, with
/// at least the share `saved` of the work it spares.
fn assert_loses(chance: f64, saved: f64, what: impl core::fmt::Debug) {
    assert!(
        caught_by(chance, i32::from(EMBEDDING_SAMPLES)) >= saved,
        "{what:?}: {chance} a sample against {saved} saved"
    );
}

/// The share of its work a provider spares on a shard of sequences of `tokens` by lying, at every
/// token, at the cells `lied` marks (in [`draw::cells`]' order): the lied cells' work, and the work
/// of every cell whose inputs the lies made one row for every token, all but one token's of a shard
/// of 4,096 (the row need not be any token's, so one row may serve the whole shard). Counted apart from the draw's own model, from what each cell reads: a query, key
/// or value made one row makes the context one row (one query, uniform scores, or one value); an
/// output's dense layer reads only its branch, its residual sum the residual stream too.
fn share_spared(shape: &Shape, lied: &[bool], tokens: f64, steered: u32) -> f64 {
    let (hidden, ffn) = (f64::from(shape.hidden), f64::from(shape.ffn));
    let (mut total, mut spared) = (0.0, 0.0);
    // A cell lied at spares its work; one whose inputs are one row for every token computes once.
    let mut account = |cost: f64, lie: bool, once: bool| {
        total += cost;
        if lie {
            spared += cost;
        } else if once {
            spared += cost * (1.0 - 1.0 / 4096.0);
        }
    };
    // Whether the residual stream's row is one row for every token.
    let mut stream = lied[0];
    account(hidden, stream, false);
    for layer in 0..shape.layers as usize {
        let lie = |op: usize| lied[1 + 9 * layer + op];
        for op in 0..3 {
            account(hidden * hidden, lie(op), stream);
        }
        let context = lie(3) || steered >> layer & 1 == 1 || (0..3).any(|op| lie(op) || stream);
        account(2.0 * hidden * tokens, lie(3), context);
        account(hidden * hidden, lie(4), context);
        account(hidden, lie(4), context && stream);
        let sum = lie(4) || (context && stream);
        account(hidden, lie(5), sum);
        let attended = lie(5) || sum;
        account(hidden * ffn, lie(6), attended);
        let intermediate = lie(6) || attended;
        account(hidden * ffn + ffn, lie(7), intermediate);
        account(hidden, lie(7), intermediate && attended);
        let output = lie(7) || (intermediate && attended);
        account(hidden, lie(8), output);
        stream = lie(8) || output;
    }
    account(hidden, lied[lied.len() - 1], false);
    spared / total
}

/// Checks the deterrence rule for every set of lies `sets` makes, each with every set of layers
/// among `steered` whose attention one token's made-up input row steers (a bit a layer): caught in
/// 64 samples with at least the share of the work it spares, at any sequence length. A steering
/// row is drawn at the cell that checks it (the token embedding for layer 0, else the previous
/// layer's output LayerNorm), at one token of the sequence's.
fn every_lie_set_loses(
    shape: &Shape,
    sets: impl Iterator<Item = Vec<bool>>,
    steered: core::ops::Range<u32>,
) {
    let draw = Draw::new(shape);
    assert!(draw.priced(), "{shape:?}");
    let share = |weight: u64| weight as f64 / draw.total as f64;
    let host = |layer: u32| match layer {
        0 => share(draw.weight(0, Operation::Embed)),
        _ => share(draw.weight(layer - 1, Operation::OutputNorm)),
    };
    for lied in sets {
        let rows: f64 = draw
            .weighted()
            .zip(&lied)
            .filter(|(_, lie)| **lie)
            .map(|((_, weight), _)| share(weight))
            .sum();
        for steering in steered.clone() {
            for tokens in [1.0, 16.0, 64.0] {
                let chance: f64 = rows
                    + (0..shape.layers)
                        .filter(|layer| steering >> layer & 1 == 1)
                        .map(|layer| host(layer) / tokens)
                        .sum::<f64>();
                let caught = caught_by(chance.min(1.0), i32::from(EMBEDDING_SAMPLES));
                let spared = share_spared(shape, &lied, tokens, steering);
                assert!(
                    caught >= spared,
                    "{shape:?}, lies at {lied:?}, steering {steering:b}, {tokens} tokens: caught {caught} < spared {spared}"
                );
            }
        }
    }
}

/// The subset `bits` of the cells `among`, of `cells` cells.
fn lie_set(cells: usize, among: core::ops::Range<usize>, bits: u64) -> Vec<bool> {
    let mut lied = vec![false; cells];
    for (k, at) in among.enumerate() {
        lied[at] = bits >> k & 1 == 1;
    }
    lied
}

#[test]
fn every_set_of_lies_on_a_small_model_is_caught_with_at_least_the_share_it_spares() {
    // Every subset of the two-layer model's 20 cells: collapses, lies before them that make the
    // attention or the FFN free, and every mixture, each with every set of steered layers.
    let cells = draw::cells(&SMALL).count();
    every_lie_set_loses(
        &SMALL,
        (0..1u64 << cells).map(|bits| lie_set(cells, 0..cells, bits)),
        0..1 << SMALL.layers,
    );
}

#[test]
fn every_set_of_lies_in_minilms_first_two_layers_is_caught_with_at_least_the_share_it_spares() {
    // Where lies spare the most: every subset of layers 0 and 1, the token embedding honest, with
    // the attention of any of layers 0 to 2 steered; then random sets over the whole model, with
    // any layers steered.
    let shape = Shape::MINILM_L6;
    let cells = draw::cells(&shape).count();
    let early = (0..1u64 << 18).map(|bits| lie_set(cells, 1..19, bits));
    every_lie_set_loses(&shape, early, 0..1 << 3);
    let mut random = crate::rng::SplitMix64::new(28);
    let anywhere = (0..20_000).map(move |_| {
        let sparse = random.next_u64() & random.next_u64() & random.next_u64();
        lie_set(cells, 1..cells, sparse)
    });
    every_lie_set_loses(&shape, anywhere, 0..1 << shape.layers);
}

#[test]
fn a_draw_word_picks_each_cell_over_exactly_its_weight() {
    // The cell of a word is the one whose run of the weights' sum holds it: the first and last word
    // of each run, and the sum itself wrapping to the first cell.
    let draw = Draw::new(&Shape::MINILM_L6);
    let mut start = 0u64;
    for (cell, weight) in draw.weighted() {
        assert!(weight > 0, "{cell:?}");
        assert_eq!(draw.cell(start), cell);
        assert_eq!(draw.cell(start + weight - 1), cell);
        start += weight;
    }
    assert_eq!(start, draw.total);
    assert_eq!(draw.cell(draw.total).operation, Operation::Embed);
    assert_eq!(draw.cell(u64::MAX), draw.cell(u64::MAX % draw.total));
}

#[test]
fn every_model_no_larger_than_the_measured_one_at_least_160_wide_with_a_fourfold_ffn_is_priced() {
    // The steering rows' weights grow with the attention's share of a layer, which is largest in
    // narrow models and those with a narrow FFN.
    for layers in 1..=MEASURED_SHAPE.layers {
        for hidden in (160..=MEASURED_SHAPE.hidden).step_by(16) {
            for ffn in (4 * hidden..=MEASURED_SHAPE.ffn)
                .step_by(7)
                .chain([MEASURED_SHAPE.ffn])
            {
                let shape = Shape {
                    hidden,
                    ffn,
                    layers,
                    heads: 1,
                    ..MEASURED_SHAPE
                };
                assert!(Draw::new(&shape).priced(), "{shape:?}");
            }
        }
    }
    // A narrow model with MiniLM's FFN would open 96 FFN leaves a row where MiniLM opens 4: not
    // measured, so not checkable, though priced.
    let narrow = Shape {
        hidden: 16,
        heads: 1,
        layers: 4,
        ..MEASURED_SHAPE
    };
    assert!(Draw::new(&narrow).priced() && !shape_checkable(&narrow));
    // Narrow deep models, and deeper ones, price their early cells above the scale: not checkable.
    for unpriced in [
        Shape {
            hidden: 16,
            ffn: 1536,
            heads: 1,
            ..MEASURED_SHAPE
        },
        Shape {
            layers: 24,
            ..MEASURED_SHAPE
        },
    ] {
        assert!(!Draw::new(&unpriced).priced(), "{unpriced:?}");
        assert!(!shape_checkable(&unpriced));
    }
}

/// Whether lies at one token's cells `lied` (in [`draw::cells`]' order) let a provider reuse
/// another text's trace for a text that differs at that token: every row other tokens read of it —
/// its key and value in each layer — must be the reused text's, either lied or computed from a row
/// of the residual stream that is the reused text's again. Counted apart from the draw, from what
/// each cell of the token reads: its own rows, and every token's keys and values (the reused
/// text's).
fn reuse_isolates_the_token(layers: usize, lied: &[bool]) -> bool {
    let mut stream = lied[0];
    for layer in 0..layers {
        let lie = |op: usize| lied[1 + 9 * layer + op];
        // Its key and value, which the other tokens read, must be the reused text's.
        if !(stream || (lie(1) && lie(2))) {
            return false;
        }
        let context = lie(3) || lie(0) || stream;
        let sum = lie(4) || (context && stream);
        let attended = lie(5) || sum;
        let intermediate = lie(6) || attended;
        let output = lie(7) || (intermediate && attended);
        stream = lie(8) || output;
    }
    true
}

#[test]
fn the_cheapest_lies_that_reuse_a_trace_at_a_differing_token_are_what_the_client_prices() {
    // Every subset of the two-layer model's cells at the token.
    let draw = Draw::new(&SMALL);
    let cells = draw::cells(&SMALL).count();
    let weights: Vec<u64> = draw.weighted().map(|(_, weight)| weight).collect();
    let cheapest = (0..1u64 << cells)
        .map(|bits| lie_set(cells, 0..cells, bits))
        .filter(|lied| reuse_isolates_the_token(SMALL.layers as usize, lied))
        .map(|lied| {
            (0..cells)
                .filter(|at| lied[*at])
                .map(|at| weights[at])
                .sum::<u64>()
        })
        .min();
    assert_eq!(
        cheapest,
        Some(near_duplicates::differing_token_weight(&draw))
    );
}

#[test]
fn a_batch_of_near_duplicate_texts_is_found_before_it_is_spot_checked() {
    use near_duplicates::{NearDuplicates, near_duplicates};
    let draw = Draw::new(&Shape::MINILM_L6);
    // At all-MiniLM-L6-v2's weights the cheapest lies at a differing token (the keys and values of
    // every layer) take about 6 % of the draw: a reuse pays below about one differing token in 3.7.
    let share = near_duplicates::differing_token_weight(&draw) as f64 / draw.total as f64;
    assert!((0.05..0.07).contains(&share), "{share}");
    let template = |slot: u32| {
        let mut ids: Vec<u32> = (100..116).collect();
        ids[7] = slot;
        ids
    };
    let templated = TokenBatch::new(&[vec![5, 6, 7], template(900), vec![8; 16], template(901)]);
    assert_eq!(
        near_duplicates(&templated, &draw),
        Some(NearDuplicates {
            first: 1,
            second: 3,
            differing: 1,
            extra: 0
        })
    );
    // A text with one more token at its end.
    let mut longer = template(900);
    longer.push(2);
    let appended = TokenBatch::new(&[longer, vec![9; 3], template(900)]);
    assert_eq!(
        near_duplicates(&appended, &draw),
        Some(NearDuplicates {
            first: 2,
            second: 0,
            differing: 0,
            extra: 1
        })
    );
    // The same text twice, and texts that differ in a third of their tokens, are not.
    let mut third = template(900);
    third[..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
    let distinct = TokenBatch::new(&[template(900), template(900), third]);
    assert_eq!(near_duplicates(&distinct, &draw), None);
}

#[test]
fn other_weights_are_caught_by_almost_every_cell() {
    let model = seeded_model(SMALL, 3);
    let other = seeded_model(SMALL, 4);
    let shard = Shard::new(&model, batch(), 0..4, move |_, ids| honest(&other, ids));
    let chance = chance_caught(&shard, &model, 2);
    // Every cell but those that read no weights: each layer's attention, and pooling.
    let cells = share(&SMALL, |cell| {
        !matches!(cell.operation, Operation::Attention | Operation::Pool)
    });
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
    let cells = share(&SMALL, |cell| {
        cell.layer == 1 && !matches!(cell.operation, Operation::Attention | Operation::Pool)
    });
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
    // The token-embedding cell's share of the draw, at the tokens whose ids differ (4 of 6: [CLS]
    // and [SEP] are the same).
    let expected = share(&SMALL, |cell| cell.operation == Operation::Embed) * 4.0 / 6.0;
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
