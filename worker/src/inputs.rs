//! Data inputs: downloads a job's input from its `http(s)://` or `file://` URI with a size limit, checks
//! its SHA-256 against the job, and keeps it in the data directory by hash.
use std::path::Path;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::WorkerError;
use crate::store::{Store, write_durably};

/// Why an input could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("unsupported input URI {0:?}: use http://, https:// or file://")]
    UnsupportedUri(String),
    #[error("input is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("input hashes to {actual}, the job says {expected}")]
    HashMismatch { expected: String, actual: String },
    #[error("download failed: {0}")]
    Download(String),
}

/// The input's bytes: from the store when already downloaded, else fetched, checked and stored.
pub async fn fetch(
    store: &Store,
    uri: &str,
    sha256: &[u8; 32],
    limit: u64,
) -> Result<Vec<u8>, WorkerError> {
    let cached = store.input_path(sha256);
    if let Ok(bytes) = std::fs::read(&cached)
        && Sha256::digest(&bytes).as_slice() == sha256
    {
        return Ok(bytes);
    }
    let bytes = if let Some(path) = uri.strip_prefix("file://") {
        read_file(Path::new(path), limit)?
    } else if uri.starts_with("http://") || uri.starts_with("https://") {
        download(uri, limit).await?
    } else {
        return Err(InputError::UnsupportedUri(uri.into()).into());
    };
    let actual: [u8; 32] = Sha256::digest(&bytes).into();
    if &actual != sha256 {
        return Err(InputError::HashMismatch {
            expected: hex::encode(sha256),
            actual: hex::encode(actual),
        }
        .into());
    }
    write_durably(&cached, &bytes)?;
    Ok(bytes)
}

fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, WorkerError> {
    let size = std::fs::metadata(path)
        .map_err(|e| WorkerError::io(path, e))?
        .len();
    if size > limit {
        return Err(InputError::TooLarge { limit }.into());
    }
    std::fs::read(path).map_err(|e| WorkerError::io(path, e))
}

async fn download(uri: &str, limit: u64) -> Result<Vec<u8>, WorkerError> {
    let failed = |e: reqwest::Error| InputError::Download(e.to_string());
    let response = reqwest::get(uri)
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?;
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(InputError::TooLarge { limit }.into());
    }
    let mut bytes = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(failed)?;
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(InputError::TooLarge { limit }.into());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    #[tokio::test]
    async fn file_inputs_are_checked_limited_and_kept_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let input = dir.path().join("input.bin");
        std::fs::write(&input, b"operands").unwrap();
        let uri = format!("file://{}", input.display());

        let bytes = fetch(&store, &uri, &digest(b"operands"), 1024)
            .await
            .unwrap();
        assert_eq!(bytes, b"operands");
        std::fs::remove_file(&input).unwrap();
        let again = fetch(&store, &uri, &digest(b"operands"), 1024)
            .await
            .unwrap();
        assert_eq!(again, b"operands", "served from the store once downloaded");

        std::fs::write(&input, b"tampered").unwrap();
        let error = fetch(&store, &uri, &digest(b"original"), 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(error, WorkerError::Input(InputError::HashMismatch { .. })),
            "{error}"
        );
        let error = fetch(&store, &uri, &digest(b"tampered"), 4)
            .await
            .unwrap_err();
        assert!(
            matches!(error, WorkerError::Input(InputError::TooLarge { limit: 4 })),
            "{error}"
        );
        let error = fetch(&store, "ftp://x", &digest(b""), 4).await.unwrap_err();
        assert!(
            matches!(error, WorkerError::Input(InputError::UnsupportedUri(_))),
            "{error}"
        );
    }
}
