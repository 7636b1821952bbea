//! The provider's input policy: what a job's data input may reach on its machine and network, the
//! classes of address it may not, and each refusal by name, for the log and the metrics. The
//! fetching itself is [`crate::inputs`].
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// What a job's input may reach on the provider's machine and network.
#[derive(Clone, Debug)]
pub struct InputPolicy {
    /// Directories `file://` inputs may be read from; none: every file input is refused.
    pub dirs: Vec<PathBuf>,
    /// Hosts (names or addresses) http(s) inputs may reach at any address, such as the provider's
    /// own mirror on its private network; every other host must be at public addresses.
    pub allow_hosts: Vec<String>,
    /// Largest input, bytes.
    pub limit: u64,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Longest whole download, redirects included.
    pub total_timeout: Duration,
    pub max_redirects: usize,
}

/// Which kind of address an input was refused for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    Private,
    LinkLocal,
    Multicast,
    Unspecified,
    /// Carrier-grade NAT (100.64.0.0/10): inside some provider's network.
    SharedAddressSpace,
    /// Broadcast, benchmarking, documentation and reserved ranges: never a public server.
    Reserved,
}

impl AddressClass {
    /// The class of `ip`, or None for a public address. IPv4 addresses inside IPv6 (mapped,
    /// compatible, NAT64, 6to4) are classed by the IPv4 address they carry.
    pub fn of(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Option<Self> {
        let [a, b, ..] = ip.octets();
        Some(if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_private() {
            Self::Private
        } else if ip.is_link_local() {
            Self::LinkLocal
        } else if ip.is_multicast() {
            Self::Multicast
        } else if a == 0 {
            Self::Unspecified
        } else if a == 100 && (64..128).contains(&b) {
            Self::SharedAddressSpace
        } else if ip.is_broadcast()
            || ip.is_documentation()
            || a >= 240
            || (a == 198 && (18..20).contains(&b))
            // IETF protocol assignments (192.0.0.0/24, a cloud metadata address among them) and
            // the retired 6to4 relay anycast (192.88.99.0/24).
            || (a, b, ip.octets()[2]) == (192, 0, 0)
            || (a, b, ip.octets()[2]) == (192, 88, 99)
        {
            Self::Reserved
        } else {
            return None;
        })
    }

    fn of_v6(ip: Ipv6Addr) -> Option<Self> {
        let segments = ip.segments();
        let embedded = |high: usize| {
            Ipv4Addr::new(
                (segments[high] >> 8) as u8,
                segments[high] as u8,
                (segments[high + 1] >> 8) as u8,
                segments[high + 1] as u8,
            )
        };
        if let Some(v4) = ip.to_ipv4_mapped() {
            return Self::of_v4(v4);
        }
        Some(match segments {
            [0, 0, 0, 0, 0, 0, 0, 0] => Self::Unspecified,
            [0, 0, 0, 0, 0, 0, 0, 1] => Self::Loopback,
            // IPv4-compatible (deprecated): the embedded address decides, unless it is public.
            [0, 0, 0, 0, 0, 0, _, _] => return Self::of_v4(embedded(6)).or(Some(Self::Reserved)),
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they carry.
            [0x64, 0xff9b, 0, 0, 0, 0, _, _] => return Self::of_v4(embedded(6)),
            // IPv4-translated (::ffff:0:a.b.c.d), as its IPv4 address.
            [0, 0, 0, 0, 0xffff, 0, _, _] => return Self::of_v4(embedded(6)),
            // Local-use NAT64 (64:ff9b:1::/48) reaches a provider's own network.
            [0x64, 0xff9b, 1, ..] => Self::Private,
            [0x2002, ..] => return Self::of_v4(embedded(1)),
            [first, ..] if first & 0xfe00 == 0xfc00 => Self::Private,
            [first, ..] if first & 0xffc0 == 0xfe80 => Self::LinkLocal,
            // Site-local (fec0::/10, deprecated but still routed inside some networks).
            [first, ..] if first & 0xffc0 == 0xfec0 => Self::Private,
            [first, ..] if first & 0xff00 == 0xff00 => Self::Multicast,
            [0x2001, 0x0db8, ..] => Self::Reserved,
            // Teredo (2001::/32) tunnels to an IPv4 address inside it.
            [0x2001, 0, ..] => Self::Reserved,
            _ => return None,
        })
    }

    /// The class's name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loopback => "loopback_address",
            Self::Private => "private_address",
            Self::LinkLocal => "link_local_address",
            Self::Multicast => "multicast_address",
            Self::Unspecified => "unspecified_address",
            Self::SharedAddressSpace => "shared_address",
            Self::Reserved => "reserved_address",
        }
    }
}

/// Why an input was refused or could not be used.
#[derive(Clone, Debug, thiserror::Error)]
pub enum InputError {
    #[error("unsupported input URI {0:?}: use http://, https:// or file://")]
    UnsupportedUri(String),
    #[error("{0} is not inside a directory this provider allows file inputs from")]
    FileNotAllowed(String),
    #[error("{0} is not a regular file")]
    NotARegularFile(String),
    #[error("{host} is at {address}, a {} this provider does not let inputs reach", class.name().replace('_', " "))]
    ForbiddenAddress {
        host: String,
        address: IpAddr,
        class: AddressClass,
    },
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("the input did not arrive in time")]
    Timeout,
    #[error("input is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("input is {actual} bytes; the job's kernel takes {expected}")]
    WrongSize { expected: u64, actual: u64 },
    #[error("input hashes to {actual}, the job says {expected}")]
    HashMismatch { expected: String, actual: String },
    #[error("cannot read the input: {0}")]
    Unreadable(String),
    #[error("download failed: {0}")]
    Download(String),
    #[error("the input does not fit the job: {0}")]
    Malformed(String),
}

impl InputError {
    /// The refusal's name in logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnsupportedUri(_) => "unsupported_uri",
            Self::FileNotAllowed(_) => "file_not_allowed",
            Self::NotARegularFile(_) => "not_a_regular_file",
            Self::ForbiddenAddress { class, .. } => class.name(),
            Self::TooManyRedirects(_) => "too_many_redirects",
            Self::Timeout => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::WrongSize { .. } => "wrong_size",
            Self::HashMismatch { .. } => "hash_mismatch",
            Self::Unreadable(_) => "unreadable",
            Self::Download(_) => "download_failed",
            Self::Malformed(_) => "malformed",
        }
    }

    /// Whether the refusal may pass if tried again: a download that timed out or broke off.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout | Self::Download(_))
    }
}
