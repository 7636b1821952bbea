//! A TCP proxy in front of the RPC node that misbehaves on purpose: it drops connections, delays them,
//! answers HTTP 503, and cuts forwarded connections short — for showing that workers lose no job.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::error::AppError;

/// Starts the proxy in front of `rpc_url` (an `http://host:port` URL) and returns its URL.
pub async fn flaky_proxy(rpc_url: &str) -> Result<String, AppError> {
    let upstream = rpc_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| AppError::io("proxy", e))?;
    let address = listener
        .local_addr()
        .map_err(|e| AppError::io("proxy", e))?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(misbehave(client, upstream.clone()));
        }
    });
    Ok(format!("http://{address}"))
}

/// Connections the proxy dropped or answered with 503 so far.
static FAULTS: AtomicU64 = AtomicU64::new(0);

/// How many connections the proxy has failed on purpose.
pub fn faults_injected() -> u64 {
    FAULTS.load(Ordering::Relaxed)
}

async fn misbehave(mut client: TcpStream, upstream: String) {
    let roll: f64 = rand::rng().random();
    if roll < 0.30 {
        FAULTS.fetch_add(1, Ordering::Relaxed);
    }
    if roll < 0.15 {
        return; // dropped: the connection closes without an answer
    }
    if roll < 0.30 {
        let _ = client
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    }
    if roll < 0.50 {
        let delay = rand::rng().random_range(100..1_500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    // Forwarded connections live a random while, so kept-alive clients meet failures too.
    let lifetime = Duration::from_millis(rand::rng().random_range(50..1_000));
    let _ = tokio::time::timeout(
        lifetime,
        tokio::io::copy_bidirectional(&mut client, &mut server),
    )
    .await;
}
