//! Lies at one value that steer a whole row through a statistic of it (docs/verification.md, "Lies
//! at one column"), and one token's row steering every query: each route played against the
//! check, caught with more than it saves, and a witness naming another index than the committed
//! values give refused.
use alloc::vec;
use alloc::vec::Vec;

use crate::embedding::fixed::{gelu, largest_magnitude, quantize_row};
use crate::embedding::forward::{SequenceRun, run_sequence, run_sequence_with};
use crate::embedding::model::{LinearKind, seeded_model};
use crate::embedding::trace::TraceLayout;

use super::super::cheats::{Tamper, TamperedAccumulators, one_token_steering};
use super::super::named::Named;
use super::super::{CheckError, Operation, Sample, Verdict, check_drawn, witness};
use super::{
    SMALL, Shard, assert_loses, batch, chance_against, chance_caught, honest, share,
    small_layer_work,
};

/// Nonzero levels of a row as quantized, for token 0 of sequence 1 run with `cheat` and honestly:
/// `row` picks the row as its reader reads it.
fn nonzero_levels(
    cheat: &TamperedAccumulators,
    row: impl Fn(&SequenceRun) -> Vec<i32>,
) -> (usize, usize) {
    let model = seeded_model(SMALL, 3);
    let ids = batch().sequence(1).to_vec();
    let count = |run: &SequenceRun| {
        let read = row(run);
        let mut levels = vec![0i16; read.len()];
        quantize_row(&read, &mut levels);
        levels.iter().filter(|level| **level != 0).count()
    };
    (
        count(&run_sequence_with(cheat, &model, &ids).unwrap()),
        count(&run_sequence(&model, &ids).unwrap()),
    )
}

#[test]
fn a_witness_naming_another_index_than_the_committed_values_give_is_refused() {
    // The FFN's second output names its input's scale column, the LayerNorms their sum's column
    // farthest from the mean, attention the key its query favours, the attention output its
    // context's largest column and the head's largest value there: each witness ends with that
    // index and what it opens.
    let model = seeded_model(SMALL, 3);
    let shard = Shard::new(&model, batch(), 0..4, honest);
    let prover = shard.prover(&model);
    let (roots, challenge) = (prover.roots(), [0; 32]);
    let context = shard.context(&roots, &challenge);
    let (leaves, ids) = (model.leaves(), shard.batch.sequence(1).to_vec());
    let tokens = ids.len();
    let tree = crate::merkle::MerkleTree::from_leaves(&leaves);
    let (layout, trace) = (TraceLayout::new(SMALL, tokens), shard.trace(1));
    for (layer, operation, column) in [
        (1, Operation::Linear(LinearKind::Output), 7),
        (0, Operation::AttentionNorm, 0),
        (0, Operation::OutputNorm, 0),
        (1, Operation::OutputNorm, 0),
        (0, Operation::Attention, 1),
        (1, Operation::Linear(LinearKind::AttentionOutput), 3),
    ] {
        let sample = Sample {
            sequence: 1,
            token: 2,
            layer,
            operation,
            column,
        };
        let witness = prover.witness_of(&context, &sample, trace).unwrap();
        assert_eq!(
            check_drawn(&context, &witness, |_, _| Ok(sample)),
            Ok(Verdict::Matches)
        );
        let named = Named::of(&sample).unwrap();
        let tail = |index: u32| {
            let mut writer = witness::WitnessWriter::default();
            writer.word(index);
            for range in named.trace(&layout, &sample, index) {
                writer
                    .opening_of(&trace.tree, range, &trace.leaves)
                    .unwrap();
            }
            for range in named.model(&SMALL, &sample, index, &ids) {
                writer.opening_of(&tree, range, &leaves).unwrap();
            }
            writer.into_bytes()
        };
        let bound = named.bound(&SMALL, tokens) as u32;
        let named_index = (0..bound)
            .find(|index| witness.ends_with(&tail(*index)))
            .unwrap();
        let mut other = witness[..witness.len() - tail(named_index).len()].to_vec();
        other.extend(tail((named_index + 1) % bound));
        assert_eq!(
            check_drawn(&context, &other, |_, _| Ok(sample)),
            Err(CheckError::Malformed),
            "{operation:?}"
        );
    }
}

#[test]
fn one_ffn_column_at_the_clamp_is_caught_by_every_second_ffn_cell_with_more_than_it_saves() {
    // The FFN's first output committed at the clamp in one column, in every layer and at every
    // token, would make the second layer's input quantize to almost nothing and the second layer
    // nearly free. That column sets the input's scale, so every second-layer cell recomputes it.
    let model = seeded_model(SMALL, 3);
    let cheat = TamperedAccumulators::ffn_first(0..2, Tamper::ColumnAtTheClamp(5));
    let chance = chance_against(&model, &cheat);
    let ffn = f64::from(SMALL.ffn);
    let at = |kind| share(&SMALL, |cell| cell.operation == Operation::Linear(kind));
    let expected = at(LinearKind::Output) + at(LinearKind::Intermediate) / ffn;
    assert!(
        (chance - expected).abs() < 0.05 * expected,
        "{chance} against {expected}"
    );
    // What it would save: the second dense layer, of every layer's work at six tokens.
    let (hidden, tokens) = (f64::from(SMALL.hidden), 6.0);
    let layer = small_layer_work(tokens);
    let saved = hidden * ffn / layer;
    assert_loses(chance, saved, "the FFN column");
    // Why it would pay uncaught: the second layer reads nearly every level 0, against a dense row.
    let (lied, honest) = nonzero_levels(&cheat, |run| {
        let row = &run.layers[0].intermediate[..SMALL.ffn as usize];
        row.iter().map(|x| gelu(*x)).collect()
    });
    assert!(
        lied <= 8 && honest > 48,
        "{lied} of {} levels lied, {honest} honest",
        SMALL.ffn
    );
}

#[test]
fn one_sum_column_at_the_clamp_is_caught_by_every_layernorm_cell_after_it() {
    // A residual sum committed at the clamp in one column, at every token of both layers: the
    // LayerNorm after it would give nearly one row for every token, a collapse that every later
    // cell is consistent with. The column is the sum's farthest from its mean, so every cell of
    // that LayerNorm recomputes it.
    let model = seeded_model(SMALL, 3);
    for (kind, norm) in [
        (LinearKind::AttentionOutput, Operation::AttentionNorm),
        (LinearKind::Output, Operation::OutputNorm),
    ] {
        let cheat = TamperedAccumulators {
            layers: 0..2,
            kinds: vec![kind],
            tamper: Tamper::ColumnAtTheClamp(5),
        };
        let chance = chance_against(&model, &cheat);
        let hidden = f64::from(SMALL.hidden);
        let expected = share(&SMALL, |cell| cell.operation == norm)
            + share(&SMALL, |cell| cell.operation == Operation::Linear(kind)) / hidden;
        assert!(
            (chance - expected).abs() < 0.05 * expected,
            "{kind:?}: {chance} against {expected}"
        );
        // Why it would pay uncaught: the LayerNorm's output is nearly one row at every token, but
        // for the lied column (how far tokens 0 and 1 are apart, the lied column left out).
        let spread = |run: &SequenceRun| {
            let normed = match norm {
                Operation::AttentionNorm => &run.layers[0].attended,
                _ => &run.layers[1].input,
            };
            let hidden = SMALL.hidden as usize;
            (0..hidden)
                .filter(|c| *c != 5)
                .map(|c| (i64::from(normed[c]) - i64::from(normed[hidden + c])).abs())
                .sum::<i64>()
        };
        let ids = batch().sequence(1).to_vec();
        let (lied, honest) = (
            spread(&run_sequence_with(&cheat, &model, &ids).unwrap()),
            spread(&run_sequence(&model, &ids).unwrap()),
        );
        assert!(100 * lied < honest, "{kind:?}: {lied} against {honest}");
        // What a collapse after the lied sum of layer 0 saves at the other tokens, at most: the
        // rest of layer 0 and all of layer 1.
        let (ffn, tokens) = (f64::from(SMALL.ffn), 6.0);
        let layer = small_layer_work(tokens);
        let after = match kind {
            LinearKind::AttentionOutput => 2.0 * hidden * ffn + layer,
            _ => layer,
        };
        let saved = (tokens - 1.0) / tokens * after / (2.0 * layer);
        assert_loses(chance, saved, kind);
    }
}

#[test]
fn one_key_at_the_clamp_is_caught_by_every_query_it_steers_with_more_than_it_saves() {
    // One token's key committed at the clamp in one column makes every query with a positive value
    // there attend to that token alone (the other keys' exponentials are 0): their contexts are
    // one row, its value, which the attention output's dense layer could read once. Every steered
    // query's attention cell recomputes the key it favours, and the key cells check the whole head.
    let model = seeded_model(SMALL, 3);
    let (token, column) = (0, 5);
    let cheat = TamperedAccumulators {
        layers: 0..2,
        kinds: vec![LinearKind::Key],
        tamper: Tamper::OneValueAtTheClamp { token, column },
    };
    let chance = chance_against(&model, &cheat);
    let ids = batch().sequence(1).to_vec();
    let run = run_sequence_with(&cheat, &model, &ids).unwrap();
    let (hidden, head_dim, heads) = (
        SMALL.hidden as usize,
        SMALL.head_dim(),
        f64::from(SMALL.heads),
    );
    let (tokens, head) = (ids.len() as f64, column / head_dim);
    let piece = |rows: &[i32], t: usize| rows[t * hidden + head * head_dim..][..head_dim].to_vec();
    // Each layer's queries that now read the lied token's value alone.
    let steered: Vec<f64> = run
        .layers
        .iter()
        .map(|layer| {
            (0..ids.len())
                .filter(|t| piece(&layer.context, *t) == piece(&layer.value, token))
                .count() as f64
        })
        .collect();
    assert!(steered[0] >= 2.0, "{steered:?}");
    let attention = |layer: u32| {
        share(&SMALL, |cell| {
            cell.layer == layer && cell.operation == Operation::Attention
        })
    };
    let by_queries: f64 = (0..2)
        .map(|l| attention(l) / heads * steered[l as usize] / tokens)
        .sum();
    assert!(chance >= 0.95 * by_queries, "{chance} against {by_queries}");
    // What it would save: the head's attention and its share of the attention output's dense
    // layer, at the steered queries.
    let hidden = hidden as f64;
    let layer = small_layer_work(tokens);
    let saved: f64 = steered
        .iter()
        .map(|s| s / tokens * (2.0 * hidden * tokens + hidden * hidden) / heads / (2.0 * layer))
        .sum();
    assert_loses(chance, saved, "one key");
}

#[test]
fn one_query_column_at_the_clamp_is_caught_by_every_query_cell_of_its_head() {
    // A query committed at the clamp in one column, at every token, makes every token favour the
    // key with the largest value there alone: the head's contexts are one row. The query cells
    // check their token's whole head piece, so each of them at that head finds it.
    let model = seeded_model(SMALL, 3);
    let column = 5;
    let cheat = TamperedAccumulators {
        layers: 0..2,
        kinds: vec![LinearKind::Query],
        tamper: Tamper::ColumnAtTheClamp(column),
    };
    let chance = chance_against(&model, &cheat);
    let expected = share(&SMALL, |cell| {
        cell.operation == Operation::Linear(LinearKind::Query)
    }) / f64::from(SMALL.heads);
    assert!(chance >= 0.95 * expected, "{chance} against {expected}");
    let ids = batch().sequence(1).to_vec();
    let run = run_sequence_with(&cheat, &model, &ids).unwrap();
    let (hidden, head_dim) = (SMALL.hidden as usize, SMALL.head_dim());
    let head =
        |t: usize| &run.layers[0].context[t * hidden + column / head_dim * head_dim..][..head_dim];
    assert!((1..ids.len()).all(|t| head(t) == head(0)));
}

#[test]
fn one_value_at_the_clamp_is_caught_by_every_attention_output_cell_it_steers() {
    // One column of the values at the clamp, at every token or at one, makes that column of a
    // context the largest of its row, and so the scale the attention output's input is quantized
    // with: nearly every other level is 0, and that dense layer nearly free. The attention output
    // cell recomputes the head's largest value in its context's largest column, and bounds the
    // context by it, so every steered token's cell catches it.
    let model = seeded_model(SMALL, 3);
    let column = 5;
    for tamper in [
        Tamper::ColumnAtTheClamp(column),
        Tamper::OneValueAtTheClamp { token: 0, column },
    ] {
        let cheat = TamperedAccumulators {
            layers: 0..2,
            kinds: vec![LinearKind::Value],
            tamper,
        };
        let chance = chance_against(&model, &cheat);
        let ids = batch().sequence(1).to_vec();
        let run = run_sequence_with(&cheat, &model, &ids).unwrap();
        let (hidden, tokens) = (SMALL.hidden as usize, ids.len() as f64);
        // Each layer's tokens whose context row the lied column sets the scale of.
        let steered: Vec<f64> = run
            .layers
            .iter()
            .map(|layer| {
                layer
                    .context
                    .chunks_exact(hidden)
                    .filter(|row| largest_magnitude(row) == column)
                    .count() as f64
            })
            .collect();
        assert!(steered[0] >= 2.0, "{tamper:?}: {steered:?}");
        let output_cells = |layer: u32| {
            share(&SMALL, |cell| {
                cell.layer == layer
                    && cell.operation == Operation::Linear(LinearKind::AttentionOutput)
            })
        };
        let by_outputs: f64 = (0..2)
            .map(|l| output_cells(l) * steered[l as usize] / tokens)
            .sum();
        assert!(
            chance >= 0.95 * by_outputs,
            "{tamper:?}: {chance} against {by_outputs}"
        );
        // What it would save: the attention output's dense layer at the steered tokens.
        let hidden = hidden as f64;
        let layer = small_layer_work(tokens);
        let saved: f64 = steered
            .iter()
            .map(|s| s / tokens * hidden * hidden / (2.0 * layer))
            .sum();
        assert_loses(chance, saved, tamper);
    }
    // Why it would pay uncaught: the attention output reads nearly every level 0.
    let cheat = TamperedAccumulators {
        layers: 0..2,
        kinds: vec![LinearKind::Value],
        tamper: Tamper::ColumnAtTheClamp(column),
    };
    let hidden = SMALL.hidden as usize;
    let (lied, honest) = nonzero_levels(&cheat, |run| run.layers[0].context[..hidden].to_vec());
    assert!(
        lied <= 4 && honest >= 24,
        "{lied} of {hidden} levels lied, {honest} honest"
    );
}

#[test]
fn one_token_made_up_to_steer_every_query_is_caught_with_more_than_it_saves() {
    // Token 0's layer 1 input row made up so that its key wins the queries: every steered query's
    // context is token 0's value, so the attention and its output's dense layer could run once (and
    // with the row at the clamp, every later row nearly one). The cells that read that row for
    // other tokens re-derive it from the previous layer's output sum, and the output LayerNorm
    // that should have produced it weighs the steering too (`draw::hosts_a_steering_row`).
    let model = seeded_model(SMALL, 3);
    let token = 0;
    let shard = Shard::new(&model, batch(), 0..4, |model, ids| {
        one_token_steering(model, ids, 1, token).unwrap()
    });
    let chance = chance_caught(&shard, &model, 1);
    let ids = batch().sequence(1).to_vec();
    let tokens = ids.len() as f64;
    let run = one_token_steering(&model, &ids, 1, token).unwrap();
    let (hidden, layer) = (SMALL.hidden as usize, &run.layers[1]);
    let steered = (0..ids.len())
        .filter(|t| {
            layer.context[t * hidden..][..hidden] == layer.value[token * hidden..][..hidden]
        })
        .count() as f64;
    assert!(2.0 * steered > tokens, "{steered} of {tokens} steered");
    // The output LayerNorm that should have produced the row, at that token; and every steered
    // query's attention cell and attention output cell, which re-derive the row of the key it
    // favours and of the largest value it reads (`named::origin_trace`).
    let at = |operation| {
        share(&SMALL, |cell| {
            cell.layer == 1 && cell.operation == operation
        })
    };
    let host = share(&SMALL, |cell| {
        cell.layer == 0 && cell.operation == Operation::OutputNorm
    }) / tokens;
    let readers = steered / tokens
        * (at(Operation::Attention) + at(Operation::Linear(LinearKind::AttentionOutput)));
    assert!(
        chance >= 0.95 * (host + readers),
        "{chance} against {host} + {readers}"
    );
    // What it would save: layer 1's attention and its output's dense layer at the steered tokens.
    let hidden = hidden as f64;
    let per_layer = small_layer_work(tokens);
    let saved = steered / tokens * (2.0 * hidden * tokens + hidden * hidden) / (2.0 * per_layer);
    assert_loses(chance, saved, "one token's row");
}
