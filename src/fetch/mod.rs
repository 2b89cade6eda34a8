//! Outbound HTTP, behind one small trait: [`JsonFetcher`] (pyjwt-key-fetcher's `HTTPClient`).
//!
//! The key cache only ever calls [`JsonFetcher::get_json`] for one URL at a time and decides
//! itself whether a redirect may be followed (each hop re-checked against its policy).
//! [`AwcFetcher`] is the real implementation; tests may plug in their own. Every implementation
//! must refuse a URL [`check_scheme`] refuses, answer within its timeout, never return more
//! than its body limit, and never connect to an address [`is_forbidden_address`] refuses unless
//! private addresses are allowed. These limits live here only: the key cache relies on them and
//! does not repeat them.

mod awc_client;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::time::Duration;

use url::Url;

pub use awc_client::AwcFetcher;

use crate::settings::{FetchSettings, IpNetwork};

/// The boxed future [`JsonFetcher::get_json`] returns: `Send`, so the key cache can await it
/// from any worker.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>>;

/// One GET.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// What to fetch.
    pub url: &'a Url,
    /// An entity tag from an earlier answer: sent as `If-None-Match` (RFC 9110 §13.1.2).
    pub if_none_match: Option<&'a str>,
}

/// What a fetch brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// `200` with a JSON body.
    Document {
        /// The body, at most the body limit.
        body: Vec<u8>,
        /// The response's caching headers.
        caching: CacheHeaders,
    },
    /// `304 Not Modified`: the document sent with the given `If-None-Match` is still current.
    NotModified {
        /// The response's caching headers.
        caching: CacheHeaders,
    },
    /// A redirect (`301`, `302`, `303`, `307`, `308`); the caller decides whether to follow it.
    Redirect {
        /// The `Location` header, unresolved.
        location: String,
    },
}

/// The caching headers of a response (RFC 9111).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheHeaders {
    /// `Cache-Control: max-age`.
    pub max_age: Option<Duration>,
    /// `Cache-Control: no-store` or `no-cache`: keep it as briefly as allowed.
    pub no_store: bool,
    /// `ETag`, for revalidation.
    pub etag: Option<String>,
}

impl CacheHeaders {
    /// Reads the `Cache-Control` and `ETag` header values.
    pub fn parse(cache_control: Option<&str>, etag: Option<&str>) -> Self {
        let mut headers = CacheHeaders {
            etag: etag.map(str::to_string),
            ..Default::default()
        };
        for directive in cache_control.unwrap_or_default().split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                headers.no_store = true;
            } else if let Some(seconds) = directive.strip_prefix("max-age=") {
                headers.max_age = seconds
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
        headers
    }
}

/// Fetches JSON documents (discovery documents and JWK sets).
pub trait JsonFetcher: Send + Sync + 'static {
    /// GETs one URL. A `200` must have a JSON content type (`application/json` or
    /// `application/*+json`) and a body within the limit; redirects are returned, not followed.
    fn get_json<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a>;
}

/// Limits every fetch obeys; from `[fetch]`.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// Total time for one fetch: connect, headers and body.
    pub timeout: Duration,
    /// Time for the TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Refuse `http://` URLs.
    pub https_only: bool,
    /// Allow connections to loopback, private, link-local and similar addresses.
    pub allow_private_addresses: bool,
    /// Redirect hops followed at most (0: none).
    pub max_redirects: u8,
    /// Networks exempt from the internal-address refusal.
    pub allowed_networks: Vec<IpNetwork>,
}

impl FetchLimits {
    /// Whether a connection to `ip` is allowed: public addresses always; internal ones only with
    /// `allow_private_addresses` or inside `allowed_networks`.
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        let exempt = |ip: IpAddr| self.allowed_networks.iter().any(|n| n.contains(ip));
        // An IPv4-mapped address is the IPv4 host itself (dual-stack sockets): its exemption
        // counts. Other embedding forms go through a translator and must be listed as IPv6.
        let mapped_exempt = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| exempt(IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        };
        self.allow_private_addresses || !is_forbidden_address(ip) || exempt(ip) || mapped_exempt
    }
}

impl From<&FetchSettings> for FetchLimits {
    fn from(s: &FetchSettings) -> Self {
        Self {
            timeout: Duration::from_secs(s.timeout_secs),
            connect_timeout: Duration::from_secs(s.connect_timeout_secs.min(s.timeout_secs)),
            max_body_bytes: s.max_body_bytes,
            https_only: s.https_only,
            allow_private_addresses: s.allow_private_addresses,
            max_redirects: s.max_redirects,
            allowed_networks: s.allowed_networks.clone(),
        }
    }
}

/// The `User-Agent` of every outbound request. Some identity providers' firewalls block
/// generic library agents; a named one also lets issuers see who is fetching.
pub const USER_AGENT: &str = concat!("jwtgate/", env!("CARGO_PKG_VERSION"));

/// Why a fetch failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// The URL's scheme is not allowed (`http://` with `https_only`, or not http(s) at all).
    #[error("refused to fetch {0}: only https:// URLs are allowed")]
    Scheme(String),
    /// The host is, or resolves only to, an address that `allow_private_addresses` forbids.
    #[error(
        "refused to fetch {0}: it is a loopback, private, link-local or otherwise internal address"
    )]
    ForbiddenAddress(String),
    /// A redirect that policy does not allow (too many hops, or `jwks_hosts`).
    #[error("refused to follow a redirect from {url}: {reason}")]
    Redirect {
        /// The URL that redirected.
        url: String,
        /// Why it was not followed.
        reason: String,
    },
    /// The host is not in the issuer's `jwks_hosts`.
    #[error("refused to fetch {0}: its host is not in the issuer's jwks_hosts")]
    HostNotAllowed(String),
    /// Connection, TLS or protocol failure.
    #[error("could not fetch {url}: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// No complete answer within the timeout.
    #[error("fetching {0} timed out")]
    Timeout(String),
    /// A status other than 200, 304 or a redirect.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The response is not JSON.
    #[error("{url} answered with content type {content_type:?}, not JSON")]
    ContentType {
        /// The URL.
        url: String,
        /// The content type received.
        content_type: String,
    },
    /// The body exceeds `max_body_bytes`.
    #[error("{url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The fetcher is shut down.
    #[error("the fetcher is not running")]
    Closed,
}

/// Whether `content_type` is `application/json` or `application/<something>+json`, ignoring
/// parameters and case (pyjwt-key-fetcher's rule, which accepts `application/jwk-set+json`).
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Refuses URLs whose scheme the limits do not allow.
pub fn check_scheme(url: &Url, limits: &FetchLimits) -> Result<(), FetchError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if !limits.https_only => Ok(()),
        _ => Err(FetchError::Scheme(url.to_string())),
    }
}

/// IPv4 networks never fetched from unless `allow_private_addresses` is on or the address is in
/// `allowed_networks`: (network, prefix length, what it is). The README lists the same.
pub const FORBIDDEN_IPV4_NETWORKS: &[(Ipv4Addr, u8, &str)] = &[
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "\"this network\", including the unspecified 0.0.0.0",
    ),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private (RFC 1918)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space, carrier-grade NAT (RFC 6598)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local, including the cloud metadata service 169.254.169.254",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private (RFC 1918)"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (RFC 6890)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (TEST-NET-1)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "6to4 relay anycast (deprecated, RFC 7526)",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private (RFC 1918)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (TEST-NET-2)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (TEST-NET-3)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved, including the broadcast 255.255.255.255",
    ),
];

/// IPv6 networks never fetched from (same exemptions as [`FORBIDDEN_IPV4_NETWORKS`]).
pub const FORBIDDEN_IPV6_NETWORKS: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use NAT64 (RFC 8215): refused whatever IPv4 it carries",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only (RFC 6666)",
    ),
    (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
        48,
        "benchmarking (RFC 5180)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation (RFC 9637)",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "SRv6 segment identifiers (RFC 9602)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique-local",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local (deprecated, RFC 3879)",
    ),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// IPv6 forms that carry an IPv4 address, refused when that address is refused (a connection to
/// them reaches the IPv4 host through a translator or tunnel, or is that host):
/// (network, prefix length, where the IPv4 is).
pub const IPV4_EMBEDDING_IPV6_NETWORKS: &[(Ipv6Addr, u8, &str)] = &[
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
        96,
        "IPv4-mapped: the last 32 bits",
    ),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0),
        96,
        "IPv4-translated (RFC 2765): the last 32 bits",
    ),
    (
        Ipv6Addr::UNSPECIFIED,
        96,
        "IPv4-compatible (deprecated): the last 32 bits",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        96,
        "NAT64 (RFC 6052): the last 32 bits",
    ),
    (
        Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0),
        16,
        "6to4 (RFC 3056): bits 16-47",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        32,
        "Teredo (RFC 4380): the server in bits 32-63 and the client in the last 32 bits, inverted; refused if either is",
    ),
];

/// Addresses an issuer's documents must never be fetched from unless
/// `allow_private_addresses` is on: every network of [`FORBIDDEN_IPV4_NETWORKS`] and
/// [`FORBIDDEN_IPV6_NETWORKS`], and the IPv6 forms of [`IPV4_EMBEDDING_IPV6_NETWORKS`] whose
/// IPv4 address is refused.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => FORBIDDEN_IPV4_NETWORKS.iter().any(|(net, prefix, _)| {
            in_network(u32::from(v4).into(), u32::from(*net).into(), 32, *prefix)
        }),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            FORBIDDEN_IPV6_NETWORKS
                .iter()
                .any(|(net, prefix, _)| in_network(bits, u128::from(*net), 128, *prefix))
                || embedded_ipv4(v6)
                    .into_iter()
                    .flatten()
                    .any(|v4| is_forbidden_address(IpAddr::V4(v4)))
        }
    }
}

/// The IPv4 addresses an IPv6 address of [`IPV4_EMBEDDING_IPV6_NETWORKS`] carries (two for
/// Teredo), by the first of those networks it is in.
pub fn embedded_ipv4(v6: Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let bits = u128::from(v6);
    let within = |index: usize| {
        let (net, prefix, _) = IPV4_EMBEDDING_IPV6_NETWORKS[index];
        in_network(bits, u128::from(net), 128, prefix)
    };
    // Truncating casts pick the embedded 32 bits.
    let last = Ipv4Addr::from(bits as u32);
    if (0..4).any(within) {
        [Some(last), None]
    } else if within(4) {
        [Some(Ipv4Addr::from((bits >> 80) as u32)), None]
    } else if within(5) {
        [
            Some(Ipv4Addr::from((bits >> 64) as u32)),
            Some(Ipv4Addr::from(!(bits as u32))),
        ]
    } else {
        [None, None]
    }
}

/// Whether `address` is in `network/prefix`, both `width`-bit numbers.
fn in_network(address: u128, network: u128, width: u32, prefix: u8) -> bool {
    let shift = width - u32::from(prefix).min(width);
    address.checked_shr(shift).unwrap_or(0) == network.checked_shr(shift).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_follow_the_python_librarys_rule() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/jwk-set+json",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "text/html",
            "",
            "application/jsonp",
            "image/svg+xml",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn http_urls_are_refused_when_https_only() {
        let limits = FetchLimits::from(&FetchSettings::default());
        assert!(check_scheme(&Url::parse("http://a/").unwrap(), &limits).is_err());
        assert!(check_scheme(&Url::parse("ftp://a/").unwrap(), &limits).is_err());
        assert!(check_scheme(&Url::parse("https://a/").unwrap(), &limits).is_ok());
    }

    fn forbidden(ip: &str) -> bool {
        is_forbidden_address(ip.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_forbidden_and_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "142.250.74.14",
            "198.20.0.1",
            "2a00:1450:4001::200e",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(ip), "{ip}");
        }
    }

    #[test]
    fn every_listed_network_is_refused_from_its_first_to_its_last_address() {
        for (net, prefix, what) in FORBIDDEN_IPV4_NETWORKS {
            let first = u32::from(*net);
            let last = first | u32::MAX.checked_shr(u32::from(*prefix)).unwrap_or(0);
            for ip in [first, last] {
                assert!(is_forbidden_address(Ipv4Addr::from(ip).into()), "{what}");
            }
        }
        for (net, prefix, what) in FORBIDDEN_IPV6_NETWORKS {
            let first = u128::from(*net);
            let last = first | u128::MAX.checked_shr(u32::from(*prefix)).unwrap_or(0);
            for ip in [first, last] {
                assert!(is_forbidden_address(Ipv6Addr::from(ip).into()), "{what}");
            }
        }
    }

    #[test]
    fn nat64_addresses_are_judged_by_the_ipv4_they_carry() {
        assert!(forbidden("64:ff9b::127.0.0.1"));
        assert!(forbidden("64:ff9b::a9fe:a9fe"), "169.254.169.254");
        assert!(forbidden("64:ff9b::10.0.0.1"));
        assert!(!forbidden("64:ff9b::8.8.8.8"));
        assert!(forbidden("64:ff9b:1::8.8.8.8"), "local-use NAT64: always");
        assert!(forbidden("64:ff9b:1:ffff::1"));
        assert!(!forbidden("64:ff9b:2::1"), "outside both NAT64 prefixes");
    }

    #[test]
    fn ipv4_compatible_mapped_and_translated_addresses_are_judged_by_their_ipv4() {
        for (internal, public) in [
            ("::127.0.0.1", "::8.8.8.8"),
            ("::ffff:169.254.169.254", "::ffff:1.1.1.1"),
            ("::ffff:0:10.1.2.3", "::ffff:0:8.8.4.4"),
        ] {
            assert!(forbidden(internal), "{internal}");
            assert!(!forbidden(public), "{public}");
        }
    }

    #[test]
    fn sixtofour_addresses_are_judged_by_the_ipv4_in_bits_16_to_48() {
        assert!(forbidden("2002:7f00:1::1"), "127.0.0.1");
        assert!(forbidden("2002:a9fe:a9fe::"), "169.254.169.254");
        assert!(forbidden("2002:c0a8:101:1::1"), "192.168.1.1");
        assert!(!forbidden("2002:808:808::1"), "8.8.8.8");
    }

    #[test]
    fn teredo_addresses_are_refused_if_the_server_or_the_client_ipv4_is_internal() {
        let teredo = |server: [u8; 4], client: [u8; 4]| {
            let client = !u32::from(Ipv4Addr::from(client));
            let bits = (0x2001_0000u128 << 96)
                | (u128::from(u32::from(Ipv4Addr::from(server))) << 64)
                | u128::from(client);
            is_forbidden_address(Ipv6Addr::from(bits).into())
        };
        assert!(teredo([8, 8, 8, 8], [127, 0, 0, 1]), "internal client");
        assert!(
            teredo([8, 8, 8, 8], [169, 254, 169, 254]),
            "metadata client"
        );
        assert!(teredo([10, 0, 0, 1], [8, 8, 4, 4]), "internal server");
        assert!(!teredo([8, 8, 8, 8], [1, 1, 1, 1]));
        // RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (documentation).
        assert!(forbidden("2001:0:4136:e378:8000:63bf:3fff:fdd2"));
    }

    #[test]
    fn site_local_and_other_non_global_ipv6_ranges_are_refused() {
        for ip in [
            "fec0::1",
            "feff::1",
            "100::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "ff02::1",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
    }

    #[test]
    fn the_readme_lists_every_refused_range() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let missing: Vec<String> = FORBIDDEN_IPV4_NETWORKS
            .iter()
            .map(|(net, prefix, _)| format!("`{net}/{prefix}`"))
            .chain(
                FORBIDDEN_IPV6_NETWORKS
                    .iter()
                    .chain(IPV4_EMBEDDING_IPV6_NETWORKS)
                    .map(|(net, prefix, _)| format!("`{net}/{prefix}`")),
            )
            .filter(|range| !readme.contains(range.as_str()))
            .collect();
        assert!(missing.is_empty(), "README.md does not list {missing:?}");
    }

    #[test]
    fn allowed_networks_exempt_only_their_addresses() {
        let settings = FetchSettings {
            allowed_networks: vec![
                IpNetwork::try_from("10.20.0.0/16".to_string()).unwrap(),
                IpNetwork::try_from("fd00::1".to_string()).unwrap(),
            ],
            ..FetchSettings::default()
        };
        let limits = FetchLimits::from(&settings);
        let allowed = |ip: &str| limits.address_allowed(ip.parse().unwrap());
        assert!(allowed("10.20.5.6") && allowed("fd00::1") && allowed("8.8.8.8"));
        assert!(!allowed("10.21.0.1") && !allowed("fd00::2") && !allowed("169.254.169.254"));
        assert!(
            allowed("::ffff:10.20.5.6"),
            "the IPv4-mapped form is the same host"
        );
        assert!(
            !allowed("64:ff9b::10.20.5.6") && !allowed("2002:a14:506::1"),
            "translated forms must be listed as IPv6"
        );
        assert!(
            !allowed("::ffff:10.21.0.1"),
            "a mapped address outside the network is not exempt"
        );
        assert!(IpNetwork::try_from("10.0.0.0/33".to_string()).is_err());
        assert!(IpNetwork::try_from("nope/8".to_string()).is_err());
    }

    #[test]
    fn cache_control_max_age_and_no_store_are_read() {
        let h = CacheHeaders::parse(
            Some("public, max-age=3600, must-revalidate"),
            Some("\"v1\""),
        );
        assert_eq!(h.max_age, Some(Duration::from_secs(3600)));
        assert_eq!(h.etag.as_deref(), Some("\"v1\""));
        assert!(!h.no_store);
        assert!(CacheHeaders::parse(Some("no-store"), None).no_store);
        assert!(CacheHeaders::parse(Some("No-Cache"), None).no_store);
        assert_eq!(CacheHeaders::parse(Some("max-age=abc"), None).max_age, None);
        assert_eq!(CacheHeaders::parse(None, None), CacheHeaders::default());
    }
}
