//! Fetching data inputs under the provider's input policy ([`crate::input_policy`]): a job's `file://`
//! input is read only from the directories the provider allows, and only if it is a regular file; an
//! `http(s)://` input may only reach public addresses (checked on the addresses the connection is
//! made to, so a name that resolves elsewhere later gains nothing), every redirect is checked again,
//! and connect, read and total times and the size are limited while the body streams. Inputs that
//! pass are checked against the job's SHA-256 and kept by hash.
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use sha2::{Digest, Sha256};

use crate::error::WorkerError;
use crate::input_policy::{AddressClass, InputError, InputPolicy};
use crate::store::{Store, write_durably};

/// The slowest transfer a download is given time for (1 MiB/s), beyond a fixed grace.
const SLOWEST_INPUT_BYTES_PER_SECOND: f64 = (1 << 20) as f64;
const TRANSFER_GRACE: Duration = Duration::from_secs(5);

/// Resolves names for downloads, refusing any name with an address the policy does not allow: the
/// connection is made to the addresses checked here.
struct PublicResolver {
    allow_hosts: Arc<Vec<String>>,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = host_allowed(&self.allow_hosts, name.as_str());
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if !allowed
                && let Some(refusal) = addresses
                    .iter()
                    .find_map(|a| forbidden(name.as_str(), a.ip()))
            {
                return Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

fn host_allowed(allow_hosts: &[String], host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allow_hosts
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(host))
}

fn forbidden(host: &str, address: IpAddr) -> Option<InputError> {
    AddressClass::of(address).map(|class| InputError::ForbiddenAddress {
        host: host.to_owned(),
        address,
        class,
    })
}

/// Refuses a URL that is not http(s), or names a forbidden address literally (names are checked
/// when they resolve).
fn check_url(url: &reqwest::Url, allow_hosts: &[String]) -> Result<(), InputError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InputError::UnsupportedUri(url.to_string()));
    }
    let host = url.host_str().unwrap_or_default();
    if host_allowed(allow_hosts, host) {
        return Ok(());
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    match literal.and_then(|ip| forbidden(host, ip)) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// Fetches inputs under one policy, with one HTTP client.
#[derive(Clone)]
pub struct Inputs {
    policy: InputPolicy,
    /// The allowed directories with their symbolic links resolved; a directory that does not
    /// exist has none, and allows nothing.
    canonical_dirs: Vec<PathBuf>,
    client: reqwest::Client,
}

impl Inputs {
    /// An input fetcher for `policy`.
    pub fn new(policy: InputPolicy) -> Result<Self, WorkerError> {
        let canonical_dirs = policy
            .dirs
            .iter()
            .filter_map(|dir| std::fs::canonicalize(dir).ok())
            .collect();
        let allow_hosts = Arc::new(policy.allow_hosts.clone());
        let redirect_hosts = Arc::clone(&allow_hosts);
        let max_redirects = policy.max_redirects;
        let client = reqwest::Client::builder()
            // A proxy would make the connection on the inputs' behalf, past every check here.
            .no_proxy()
            // A compressed body would let a few bytes on the wire become the limit in memory.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .dns_resolver(Arc::new(PublicResolver { allow_hosts }))
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > max_redirects {
                    return attempt.error(InputError::TooManyRedirects(max_redirects));
                }
                match check_url(attempt.url(), &redirect_hosts) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            }))
            .connect_timeout(policy.connect_timeout)
            .read_timeout(policy.read_timeout)
            .timeout(policy.total_timeout)
            .build()
            .map_err(|e| WorkerError::Config(format!("input HTTP client: {e}")))?;
        Ok(Self {
            policy,
            canonical_dirs,
            client,
        })
    }

    /// The input's bytes: from the store when already fetched from this URI, else fetched under the
    /// policy (at most `size` bytes, the size the job's kernel takes, within a time that allows for
    /// it), checked to be exactly `size` bytes with `sha256`, and stored.
    pub async fn fetch(
        &self,
        store: &Store,
        uri: &str,
        sha256: &[u8; 32],
        size: u64,
    ) -> Result<Vec<u8>, InputError> {
        let cached = store.input_path(sha256, uri);
        if let Ok(bytes) = std::fs::read(&cached)
            && Sha256::digest(&bytes).as_slice() == sha256
        {
            return Ok(bytes);
        }
        let cap = size.min(self.policy.limit);
        let bytes = if uri.starts_with("file:") {
            self.read_file(uri, cap)?
        } else if uri.starts_with("http://") || uri.starts_with("https://") {
            self.download(uri, cap).await?
        } else {
            return Err(InputError::UnsupportedUri(uri.into()));
        };
        if bytes.len() as u64 != size {
            return Err(InputError::WrongSize {
                expected: size,
                actual: bytes.len() as u64,
            });
        }
        let actual: [u8; 32] = Sha256::digest(&bytes).into();
        if &actual != sha256 {
            return Err(InputError::HashMismatch {
                expected: hex::encode(sha256),
                actual: hex::encode(actual),
            });
        }
        write_durably(&cached, &bytes).map_err(|e| InputError::Unreadable(e.to_string()))?;
        Ok(bytes)
    }

    fn read_file(&self, uri: &str, limit: u64) -> Result<Vec<u8>, InputError> {
        // A local path only (no host), percent-decoded as the URL standard has it.
        let path = reqwest::Url::parse(uri)
            .ok()
            .filter(|url| {
                url.host_str()
                    .is_none_or(|host| host.is_empty() || host == "localhost")
            })
            .and_then(|url| url.to_file_path().ok())
            .ok_or_else(|| InputError::UnsupportedUri(uri.into()))?;
        let shown = path.display().to_string();
        let within = |path: &Path, dirs: &[PathBuf]| dirs.iter().any(|dir| path.starts_with(dir));
        // Nothing on disk is touched for a path outside the allowed directories, as configured or
        // resolved: the lexical check comes first (a path elsewhere could reach an automounter or a
        // stalled network mount).
        let plain = path.components().all(|part| {
            matches!(
                part,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        });
        if !plain || !(within(&path, &self.policy.dirs) || within(&path, &self.canonical_dirs)) {
            return Err(InputError::FileNotAllowed(shown));
        }
        // Then the resolved path, inside a resolved directory: a symbolic link may lead out.
        let canonical = std::fs::canonicalize(&path)
            .map_err(|e| InputError::Unreadable(format!("{shown}: {e}")))?;
        if !within(&canonical, &self.canonical_dirs) {
            return Err(InputError::FileNotAllowed(shown));
        }
        // Non-blocking, so that opening a FIFO or a device cannot hang the worker; the type is
        // checked on the file opened, not on the name.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&canonical)
            .map_err(|e| InputError::Unreadable(format!("{shown}: {e}")))?;
        let metadata = file
            .metadata()
            .map_err(|e| InputError::Unreadable(format!("{shown}: {e}")))?;
        if !metadata.is_file() {
            return Err(InputError::NotARegularFile(shown));
        }
        if metadata.len() > limit {
            return Err(InputError::TooLarge { limit });
        }
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| InputError::Unreadable(format!("{shown}: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err(InputError::TooLarge { limit });
        }
        Ok(bytes)
    }

    async fn download(&self, uri: &str, limit: u64) -> Result<Vec<u8>, InputError> {
        let url = reqwest::Url::parse(uri).map_err(|_| InputError::UnsupportedUri(uri.into()))?;
        check_url(&url, &self.policy.allow_hosts)?;
        // However slowly a server trickles, the whole transfer gets only the time its size needs at
        // the slowest rate worth waiting for.
        let allowed = self.policy.connect_timeout
            + TRANSFER_GRACE
            + Duration::from_secs_f64(limit as f64 / SLOWEST_INPUT_BYTES_PER_SECOND);
        let response = self
            .client
            .get(url)
            .timeout(allowed.min(self.policy.total_timeout))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(refusal_of)?;
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(InputError::TooLarge { limit });
        }
        let mut bytes = Vec::new();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(refusal_of)?;
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(InputError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// The refusal inside a failed request (from the resolver or the redirect policy), else what failed.
fn refusal_of(error: reqwest::Error) -> InputError {
    if error.is_timeout() {
        return InputError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<InputError>() {
            return refusal.clone();
        }
        source = cause.source();
    }
    InputError::Download(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn digest(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    fn policy(dirs: Vec<PathBuf>, allow_hosts: &[&str], limit: u64) -> Inputs {
        Inputs::new(InputPolicy {
            dirs,
            allow_hosts: allow_hosts.iter().map(|h| (*h).to_owned()).collect(),
            limit,
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_millis(500),
            total_timeout: Duration::from_secs(3),
            max_redirects: 3,
        })
        .unwrap()
    }

    /// A server on 127.0.0.1 answering every request with `respond(port)` (None: never answers).
    async fn serve(respond: fn(u16) -> Option<Vec<u8>>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    match respond(port) {
                        Some(response) => {
                            let _ = socket.write_all(&response).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        port
    }

    fn ok(body: &[u8]) -> Vec<u8> {
        let mut response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(body);
        response
    }

    fn redirect_to(location: &str) -> Vec<u8> {
        format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").into_bytes()
    }

    /// Why `uri` is refused (its digest is one nothing in the store has, so the store cannot answer).
    async fn refusal(inputs: &Inputs, store: &Store, uri: &str) -> &'static str {
        inputs
            .fetch(store, uri, &digest(uri.as_bytes()), 8)
            .await
            .unwrap_err()
            .reason()
    }

    #[tokio::test]
    async fn file_inputs_only_from_allowed_directories_only_regular_files_checked_limited_and_kept()
    {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let allowed = dir.path().join("inputs");
        std::fs::create_dir(&allowed).unwrap();
        let input = allowed.join("input.bin");
        std::fs::write(&input, b"operands").unwrap();
        let uri = format!("file://{}", input.display());
        let inputs = policy(vec![allowed.clone()], &[], 1024);

        assert_eq!(
            inputs
                .fetch(&store, &uri, &digest(b"operands"), 8)
                .await
                .unwrap(),
            b"operands"
        );
        std::fs::remove_file(&input).unwrap();
        let again = inputs
            .fetch(&store, &uri, &digest(b"operands"), 8)
            .await
            .unwrap();
        assert_eq!(again, b"operands", "served from the store once downloaded");
        // A copy kept from one URI never stands in for another, which the policy judges afresh.
        let elsewhere = inputs
            .fetch(&store, "http://127.0.0.1:9/x", &digest(b"operands"), 8)
            .await;
        assert_eq!(elsewhere.unwrap_err().reason(), "loopback_address");

        std::fs::write(&input, b"tampered").unwrap();
        let mismatch = inputs
            .fetch(&store, &uri, &digest(b"original"), 8)
            .await
            .unwrap_err();
        assert_eq!(mismatch.reason(), "hash_mismatch");
        let small = policy(vec![allowed.clone()], &[], 4);
        assert_eq!(
            small
                .fetch(&store, &uri, &digest(b"tampered"), 8)
                .await
                .unwrap_err()
                .reason(),
            "too_large"
        );

        // The size the kernel takes is exact: a longer or shorter file is refused before hashing.
        std::fs::write(&input, b"operands").unwrap();
        let other = format!("file://{}", allowed.join("nine.bin").display());
        std::fs::write(allowed.join("nine.bin"), b"operands!").unwrap();
        let longer = inputs.fetch(&store, &other, &digest(b"operands!"), 8).await;
        assert_eq!(longer.unwrap_err().reason(), "too_large");
        let shorter = inputs
            .fetch(&store, &other, &digest(b"operands!"), 10)
            .await;
        assert_eq!(shorter.unwrap_err().reason(), "wrong_size");
        // Another host's files, percent-encoded paths: parsed as URLs, not as strings.
        assert_eq!(
            refusal(&inputs, &store, "file://evil.example/etc/passwd").await,
            "unsupported_uri"
        );
        let encoded = format!("file://{}/%2e%2e/secret", allowed.display());
        assert_eq!(refusal(&inputs, &store, &encoded).await, "file_not_allowed");

        // Outside the allowed directories, directly or through a link, and with none allowed.
        let outside = dir.path().join("secret");
        std::fs::write(&outside, b"operands").unwrap();
        assert_eq!(
            refusal(&inputs, &store, &format!("file://{}", outside.display())).await,
            "file_not_allowed"
        );
        let link = allowed.join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert_eq!(
            refusal(&inputs, &store, &format!("file://{}", link.display())).await,
            "file_not_allowed"
        );
        let traversal = format!("file://{}/../secret", allowed.display());
        assert_eq!(
            refusal(&inputs, &store, &traversal).await,
            "file_not_allowed"
        );
        assert_eq!(
            refusal(&policy(vec![], &[], 1024), &store, &uri).await,
            "file_not_allowed"
        );
        // A directory allowed by a path through a symbolic link serves files named either way.
        let alias = dir.path().join("alias");
        std::os::unix::fs::symlink(&allowed, &alias).unwrap();
        let through = policy(vec![alias.clone()], &[], 1024);
        let named = format!("file://{}", alias.join("input.bin").display());
        let fresh = Store::open(&dir.path().join("fresh")).unwrap();
        assert_eq!(
            through
                .fetch(&fresh, &named, &digest(b"operands"), 8)
                .await
                .unwrap(),
            b"operands"
        );

        // A FIFO would block a reader forever; a directory is not an input either.
        let fifo = allowed.join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert_eq!(
            refusal(&inputs, &store, &format!("file://{}", fifo.display())).await,
            "not_a_regular_file"
        );
        assert_eq!(
            refusal(&inputs, &store, &format!("file://{}", allowed.display())).await,
            "not_a_regular_file"
        );

        assert_eq!(refusal(&inputs, &store, "ftp://x").await, "unsupported_uri");
    }

    #[tokio::test]
    async fn http_inputs_never_reach_local_or_private_addresses_even_through_redirects() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let inputs = policy(vec![], &[], 1024);
        let port = serve(|_| Some(ok(b"operands"))).await;
        // The server answers, but it is on loopback, by address or by name.
        assert_eq!(
            refusal(&inputs, &store, &format!("http://127.0.0.1:{port}/x")).await,
            "loopback_address"
        );
        assert_eq!(
            refusal(&inputs, &store, &format!("http://localhost:{port}/x")).await,
            "loopback_address"
        );
        assert_eq!(
            refusal(
                &inputs,
                &store,
                &format!("http://[::ffff:127.0.0.1]:{port}/x")
            )
            .await,
            "loopback_address"
        );
        for (uri, reason) in [
            ("http://10.1.2.3/x", "private_address"),
            ("http://192.168.0.1/x", "private_address"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "link_local_address",
            ),
            ("http://[fd00::1]/x", "private_address"),
            ("http://0.0.0.0/x", "unspecified_address"),
            ("http://224.0.0.1/x", "multicast_address"),
        ] {
            assert_eq!(refusal(&inputs, &store, uri).await, reason, "{uri}");
        }

        // With the test server's host allowed (a provider's own mirror), it serves; a redirect from
        // it to a forbidden address is refused, and so are endless redirects.
        let mirror = policy(vec![], &["127.0.0.1"], 1024);
        let good = mirror
            .fetch(
                &store,
                &format!("http://127.0.0.1:{port}/x"),
                &digest(b"operands"),
                8,
            )
            .await;
        assert_eq!(good.unwrap(), b"operands");
        let metadata =
            serve(|_| Some(redirect_to("http://169.254.169.254/latest/meta-data/"))).await;
        assert_eq!(
            refusal(&mirror, &store, &format!("http://127.0.0.1:{metadata}/x")).await,
            "link_local_address"
        );
        let renamed = serve(|port| Some(redirect_to(&format!("http://localhost:{port}/y")))).await;
        assert_eq!(
            refusal(&mirror, &store, &format!("http://127.0.0.1:{renamed}/x")).await,
            "loopback_address"
        );
        let endless =
            serve(|port| Some(redirect_to(&format!("http://127.0.0.1:{port}/again")))).await;
        assert_eq!(
            refusal(&mirror, &store, &format!("http://127.0.0.1:{endless}/x")).await,
            "too_many_redirects"
        );
    }

    #[tokio::test]
    async fn http_inputs_are_limited_in_time_and_size_while_they_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let inputs = policy(vec![], &["127.0.0.1"], 1024);
        let silent = serve(|_| None).await;
        assert_eq!(
            refusal(&inputs, &store, &format!("http://127.0.0.1:{silent}/x")).await,
            "timeout"
        );
        // No length announced: the limit holds while the body streams.
        let endless = serve(|_| {
            let mut response = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
            response.extend(std::iter::repeat_n(b'x', 64 * 1024));
            Some(response)
        })
        .await;
        assert_eq!(
            refusal(&inputs, &store, &format!("http://127.0.0.1:{endless}/x")).await,
            "too_large"
        );
        let announced = serve(|_| Some(ok(&[0u8; 2048]))).await;
        assert_eq!(
            refusal(&inputs, &store, &format!("http://127.0.0.1:{announced}/x")).await,
            "too_large"
        );
    }

    #[test]
    fn addresses_are_classed_in_both_families_and_inside_ipv6() {
        let class = |text: &str| AddressClass::of(text.parse().unwrap());
        for (address, expected) in [
            ("1.1.1.1", None),
            ("2606:4700::1111", None),
            ("127.0.0.53", Some(AddressClass::Loopback)),
            ("::1", Some(AddressClass::Loopback)),
            ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
            ("10.0.0.1", Some(AddressClass::Private)),
            ("172.16.5.4", Some(AddressClass::Private)),
            ("64:ff9b::a00:1", Some(AddressClass::Private)),
            ("2002:c0a8:101::", Some(AddressClass::Private)),
            ("fc00::1", Some(AddressClass::Private)),
            ("169.254.169.254", Some(AddressClass::LinkLocal)),
            ("fe80::1", Some(AddressClass::LinkLocal)),
            ("ff02::1", Some(AddressClass::Multicast)),
            ("239.1.2.3", Some(AddressClass::Multicast)),
            ("0.0.0.0", Some(AddressClass::Unspecified)),
            ("::", Some(AddressClass::Unspecified)),
            ("100.64.0.1", Some(AddressClass::SharedAddressSpace)),
            ("255.255.255.255", Some(AddressClass::Reserved)),
            ("2001:db8::1", Some(AddressClass::Reserved)),
            ("::10.0.0.1", Some(AddressClass::Private)),
            ("::ffff:0:7f00:1", Some(AddressClass::Loopback)),
            ("64:ff9b:1::1", Some(AddressClass::Private)),
            ("fec0::1", Some(AddressClass::Private)),
            ("2001::1", Some(AddressClass::Reserved)),
            ("192.0.0.192", Some(AddressClass::Reserved)),
            ("192.88.99.1", Some(AddressClass::Reserved)),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }
}
