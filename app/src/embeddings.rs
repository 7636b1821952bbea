//! The client's side of embedding jobs: the model's files (the quantized weights and the
//! tokenizer), texts read from plain or JSON-lines files, local runs on the CPU, jobs posted on the
//! network and their verified results read back, and embeddings written as JSON lines or a `.npy`
//! array (f32, one row per text).
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpushare::state::{CreateJobArgs, HardwareRequirement, JobInput, KernelSpec, VerificationMode};
use gpushare_core::embedding::check::near_duplicates::near_duplicates;
use gpushare_core::embedding::check::{Draw, job_checkable, sinks_measured};
use gpushare_core::embedding::layout::{TokenBatch, output_embeddings};
use gpushare_core::embedding::model::Model;
use gpushare_core::kernels::Kernel;
use gpushare_core::merkle::Hash;
use gpushare_engine::embed::embedding_shard_output;
use gpushare_engine::shard::Input;
use gpushare_model::tokenize::TextTokenizer;
use npyz::WriterBuilder;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::jobs::ClientSession;

/// The scale of an embedding value: i16 `v` is `v / 32767`.
pub const EMBEDDING_SCALE: f32 = 32767.0;

/// A quantized model and its tokenizer.
pub struct ModelFiles {
    pub model: Arc<Model>,
    /// The model's identity, hashed once at load: what a job names.
    pub identity: Hash,
    pub tokenizer: TextTokenizer,
}

impl ModelFiles {
    /// Loads the weights file and `tokenizer.json`.
    pub fn load(weights: &Path, tokenizer: &Path) -> Result<Self, AppError> {
        let bytes =
            std::fs::read(weights).map_err(|e| AppError::io(weights.display().to_string(), e))?;
        let model = Model::from_bytes(&bytes).map_err(|e| AppError::Model(e.to_string()))?;
        let tokenizer = TextTokenizer::from_file(tokenizer, model.shape.max_tokens)
            .map_err(|e| AppError::Model(e.to_string()))?;
        Ok(Self {
            identity: model.identity(),
            model: Arc::new(model),
            tokenizer,
        })
    }

    /// Each text's token ids.
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>, AppError> {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        self.tokenizer
            .ids(&texts)
            .map_err(|e| AppError::Model(e.to_string()))
    }
}

/// The texts of a file: one per line, or with a `.jsonl` name one JSON string or `{"text": …}`
/// object per line. Empty lines are skipped.
pub fn read_texts(path: &Path) -> Result<Vec<String>, AppError> {
    let content =
        std::fs::read_to_string(path).map_err(|e| AppError::io(path.display().to_string(), e))?;
    let json = path.extension().is_some_and(|e| e == "jsonl");
    content
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            if !json {
                return Ok(line.to_string());
            }
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| AppError::InvalidArgument(format!("{}: {e}", path.display())))?;
            match value {
                serde_json::Value::String(text) => Ok(text),
                serde_json::Value::Object(mut object) => match object.remove("text") {
                    Some(serde_json::Value::String(text)) => Ok(text),
                    _ => Err(AppError::InvalidArgument(format!(
                        "{}: an object line needs a \"text\" string",
                        path.display()
                    ))),
                },
                _ => Err(AppError::InvalidArgument(format!(
                    "{}: a line must be a string or an object",
                    path.display()
                ))),
            }
        })
        .collect()
}

/// An embedding as f32 values (each i16 over [`EMBEDDING_SCALE`]).
pub fn to_f32(embedding: &[i16]) -> Vec<f32> {
    embedding
        .iter()
        .map(|v| f32::from(*v) / EMBEDDING_SCALE)
        .collect()
}

/// Writes the embeddings to `out`: a `.npy` array of f32 (texts × dims), or else JSON lines
/// `{"text": …, "embedding": […]}`.
pub fn write_embeddings(
    out: &Path,
    texts: &[String],
    embeddings: &[Vec<i16>],
) -> Result<(), AppError> {
    let io = |e| AppError::io(out.display().to_string(), e);
    let file = BufWriter::new(std::fs::File::create(out).map_err(io)?);
    if out.extension().is_some_and(|e| e == "npy") {
        let dims = embeddings.first().map_or(0, Vec::len) as u64;
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[embeddings.len() as u64, dims])
            .writer(file)
            .begin_nd()
            .map_err(io)?;
        writer
            .extend(embeddings.iter().flat_map(|e| to_f32(e)))
            .map_err(io)?;
        return writer.finish().map_err(io);
    }
    let mut file = file;
    for (text, embedding) in texts.iter().zip(embeddings) {
        let line = serde_json::json!({ "text": text, "embedding": to_f32(embedding) });
        writeln!(file, "{line}").map_err(io)?;
    }
    file.flush().map_err(io)
}

/// Embeds `texts` on this machine's CPU as a provider computes a shard of them (every sequence's
/// trace hashed too, so the rate is a provider's); returns the embeddings and the sentences per
/// second.
pub fn embed_locally(
    files: &ModelFiles,
    texts: &[String],
) -> Result<(Vec<Vec<i16>>, f64), AppError> {
    let started = Instant::now();
    let (batch, _) = files.batch(texts)?;
    let output = embedding_shard_output(&files.model, &batch, &[0; 32], 1, 0)?;
    let embeddings = output_embeddings(&output, files.model.shape.hidden);
    let rate = texts.len() as f64 / started.elapsed().as_secs_f64();
    Ok((embeddings, rate))
}

/// An embedding job's terms, as `gpushare embed` posts them.
#[derive(Clone, Debug)]
pub struct EmbeddingJob {
    /// Where the token batch is written, for the providers to download from `data_uri`.
    pub batch_path: std::path::PathBuf,
    pub data_uri: String,
    pub job_id: u64,
    pub shards: u16,
    pub replicas: u8,
    /// Quorum, or the program's spot-check of each replica.
    pub mode: VerificationMode,
    pub price: u64,
    pub claim_timeout: i64,
    pub expires_in: i64,
    /// How long to wait for the job's work.
    pub timeout: Duration,
}

impl ModelFiles {
    /// The job input of `texts`: their token batch, and the kernel that embeds it.
    pub fn batch(&self, texts: &[String]) -> Result<(TokenBatch, Kernel), AppError> {
        let batch = TokenBatch::new(&self.tokenize(texts)?);
        let count = |n: u64, what| {
            u32::try_from(n).map_err(|_| AppError::InvalidArgument(format!("too many {what}")))
        };
        let kernel = Kernel::Embedding {
            model: self.identity,
            batch: batch.tree().root(),
            dims: self.model.shape.hidden,
            sequences: count(batch.len() as u64, "texts")?,
            tokens: count(batch.tokens(), "tokens")?,
        };
        Ok((batch, kernel))
    }
}

/// Refuses to post a spot-checked batch the program would refuse or could not check: other than
/// 64 samples, a model larger than the checks are measured at, or a sequence longer than the check
/// runs (the providers would refuse it and the job would expire unclaimed); one holding two texts so
/// alike that reusing one's work for the other would pay (`near_duplicates`); or a model (of
/// identity `identity`) whose attention nobody measured for sinks a provider could make exact
/// (`sinks_measured`).
pub fn check_spot_checkable(
    model: &Model,
    identity: &Hash,
    batch: &TokenBatch,
    mode: VerificationMode,
) -> Result<(), AppError> {
    let VerificationMode::SpotCheck { samples } = mode else {
        return Ok(());
    };
    let refused = |why: String| AppError::InvalidArgument(format!("{why}; post it under quorum"));
    job_checkable(&model.shape, batch.longest(), samples)
        .map_err(|why| refused(why.to_string()))?;
    if !sinks_measured(identity) {
        return Err(refused(
            "nobody has measured this model's attention for sink heads a provider could make exact unchecked (docs/verification.md)".into(),
        ));
    }
    match near_duplicates(batch, &Draw::new(&model.shape)) {
        Some(pair) => Err(refused(format!(
            "text {} differs from text {} in {} of {} tokens and has {} more: a provider could reuse the other's work for it past what the spot-check catches",
            pair.second,
            pair.first,
            pair.differing,
            batch.sequence(pair.first).len(),
            pair.extra
        ))),
        None => Ok(()),
    }
}

/// Posts `texts` as an embedding job, waits for it, fetches and verifies every shard (its root
/// against the chain's, sampled sequences recomputed here) and returns the embeddings in order.
pub async fn embed_on_network(
    client: &ClientSession,
    files: &ModelFiles,
    texts: &[String],
    terms: &EmbeddingJob,
) -> Result<Vec<Vec<i16>>, AppError> {
    let (batch, kernel) = files.batch(texts)?;
    check_spot_checkable(&files.model, &files.identity, &batch, terms.mode)?;
    let data = batch.to_bytes();
    std::fs::write(&terms.batch_path, &data)
        .map_err(|e| AppError::io(terms.batch_path.display().to_string(), e))?;
    let now = client.chain.clock().await?.unix_timestamp;
    let job = client
        .post(CreateJobArgs {
            job_id: terms.job_id,
            kernel: KernelSpec::from_core(kernel),
            input: JobInput::Data {
                uri: terms.data_uri.clone(),
                sha256: Sha256::digest(&data).into(),
            },
            private: None,
            shards: terms.shards,
            replicas: terms.replicas,
            mode: terms.mode,
            price: terms.price,
            claim_timeout: terms.claim_timeout,
            expires_at: now + terms.expires_in,
            hardware: HardwareRequirement::default(),
        })
        .await?;
    client.watch(&job, terms.timeout, |_| {}).await?;
    let dir = tempfile::tempdir().map_err(|e| AppError::io("temporary directory", e))?;
    let input = Input::Embedding {
        data,
        model: Arc::clone(&files.model),
        job: job.to_bytes(),
    };
    let (_, unverified) = client
        .results(&job, &[], Some(&input), Some(dir.path()))
        .await?;
    if unverified > 0 {
        return Err(AppError::InvalidArgument(format!(
            "job {job}: {unverified} shard(s) have no verified result (refunded); post them again"
        )));
    }
    let mut embeddings = Vec::with_capacity(texts.len());
    for shard in 0..terms.shards {
        let path = dir.path().join(format!("shard-{shard}.bin"));
        let bytes =
            std::fs::read(&path).map_err(|e| AppError::io(path.display().to_string(), e))?;
        embeddings.extend(output_embeddings(&bytes, files.model.shape.hidden));
    }
    Ok(embeddings)
}

/// The evidence a client checks a data job's results with: the data, and for embedding job `job`
/// the model from `weights`.
pub fn evidence(
    data: Vec<u8>,
    weights: Option<&Path>,
    job: &anchor_lang::prelude::Pubkey,
) -> Result<Input, AppError> {
    let Some(weights) = weights else {
        return Ok(Input::Data(data));
    };
    let bytes =
        std::fs::read(weights).map_err(|e| AppError::io(weights.display().to_string(), e))?;
    let model = Model::from_bytes(&bytes).map_err(|e| AppError::Model(e.to_string()))?;
    Ok(Input::Embedding {
        data,
        model: Arc::new(model),
        job: job.to_bytes(),
    })
}

/// Quantizes the model in `package_dir` (its `model.safetensors`) into `dir`, as
/// `<first 8 hex digits of the identity>.gsm`; returns the weights file's path.
pub fn quantized_weights(package_dir: &Path, dir: &Path) -> Result<std::path::PathBuf, AppError> {
    let model = gpushare_model::quantize::quantize_file(
        &package_dir.join("model.safetensors"),
        gpushare_core::embedding::model::Shape::MINILM_L6,
    )
    .map_err(|e| AppError::Model(e.to_string()))?;
    let path = dir.join(format!("{}.gsm", &hex::encode(model.identity())[..8]));
    std::fs::write(&path, model.to_bytes())
        .map_err(|e| AppError::io(path.display().to_string(), e))?;
    Ok(path)
}

/// Up to `count` prose lines of the model card (`README.md`) in `model_dir`
/// ([`gpushare_model::card::prose_lines`]). Real text nobody here wrote, for the demo and the load runs.
pub fn model_card_texts(model_dir: &Path, count: usize) -> Result<Vec<String>, AppError> {
    let card = model_dir.join("README.md");
    let text =
        std::fs::read_to_string(&card).map_err(|e| AppError::io(card.display().to_string(), e))?;
    Ok(gpushare_model::card::prose_lines(&text)
        .take(count)
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use gpushare_core::embedding::check::MEASURED_MODELS;
    use gpushare_core::embedding::model::{Shape, seeded_model};

    use super::*;

    #[test]
    fn a_spot_check_is_refused_before_posting_what_it_could_not_price() {
        let model = seeded_model(Shape::TWO_LAYERS, 1);
        // The measured model's identity, so that the batch's own refusals show.
        let measured = MEASURED_MODELS[0];
        let spot_check = VerificationMode::SpotCheck { samples: 64 };
        let distinct = TokenBatch::new(&[vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9; 12]]);
        assert!(check_spot_checkable(&model, &measured, &distinct, spot_check).is_ok());
        // A model nobody measured for sink heads.
        let refusal =
            check_spot_checkable(&model, &model.identity(), &distinct, spot_check).unwrap_err();
        assert!(refusal.to_string().contains("sink heads"), "{refusal}");
        // Fewer samples than the draw is weighed for.
        let fewer = VerificationMode::SpotCheck { samples: 16 };
        assert!(check_spot_checkable(&model, &measured, &distinct, fewer).is_err());
        // Two texts of 48 tokens that differ in one.
        let mut template: Vec<u32> = (10..58).collect();
        let first = template.clone();
        template[3] = 30;
        let templated = TokenBatch::new(&[first, template]);
        let refusal = check_spot_checkable(&model, &measured, &templated, spot_check).unwrap_err();
        assert!(
            refusal.to_string().contains("in 1 of 48 tokens"),
            "{refusal}"
        );
        let quorum = VerificationMode::Quorum { q: 2 };
        assert!(check_spot_checkable(&model, &model.identity(), &templated, quorum).is_ok());
    }
}
