//! Outbound HTTP, behind one small trait: [`JsonFetcher`] (pyjwt-key-fetcher's `HTTPClient`).
//!
//! The key cache only ever calls [`JsonFetcher::get_json`] for one URL at a time and decides
//! itself whether a redirect may be followed (each hop re-checked against its policy).
//! [`AwcFetcher`] is the real implementation; tests may plug in their own. Every implementation
//! must refuse a URL [`check_scheme`] refuses, answer within its timeout, never return more
//! than its body limit, and never connect to an address the private-address guard
//! (`addresses.rs`) refuses unless private addresses are allowed. These limits live here only:
//! the key cache relies on them and does not repeat them.

mod addresses;
mod awc_client;
mod bearer;
mod proxy;
mod tls;

use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use url::Url;

use addresses::is_forbidden_address;
pub use awc_client::AwcFetcher;
pub use bearer::{BearerToken, BearerTokenError, MAX_TOKEN_FILE_BYTES};
pub use ipnet::IpNet;
pub use proxy::{NoProxyRule, ProxyAddress, ProxyConfig, ProxyRoute};
pub use tls::{
    MAX_CA_FILE_BYTES, TlsConfigError, TrustRoots, describe_certificate_error, load_ca_file,
};

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
    /// The issuer it is for, and how its requests differ from the defaults.
    pub issuer: IssuerFetch<'a>,
    /// What a `200` must carry.
    pub body: Body,
}

/// What a `200` answer must carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Body {
    /// A JSON document: a JSON content type, at most `fetch.max_body_bytes`.
    #[default]
    Json,
    /// One PEM public key (a key URL's, AWS ALB's): any content type (such servers label PEM
    /// in many ways; the key cache reads it strictly), at most `max_bytes` and at most
    /// `fetch.max_body_bytes`.
    Pem {
        /// The smaller body limit.
        max_bytes: usize,
    },
}

/// How one issuer's requests differ from the defaults (from its `[[issuers]]` entry). The
/// default is no difference.
#[derive(Debug, Clone, Copy, Default)]
pub struct IssuerFetch<'a> {
    /// The issuer, named in certificate errors.
    pub issuer: &'a str,
    /// Trust only this PEM bundle's CAs for this issuer (not the built-in roots, not
    /// `fetch.ca_file`).
    pub ca_file: Option<&'a Path>,
    /// Allow internal addresses for this issuer (whatever `fetch.allow_private_addresses` says).
    pub allow_private_addresses: bool,
    /// Sent as `Authorization: Bearer`; the caller decides which URLs may receive it, and the
    /// fetcher refuses to send it over anything but `https://`.
    pub bearer_token: Option<&'a BearerToken>,
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

/// Fetches JSON documents (discovery documents and JWK sets), and the PEM keys of key URLs.
pub trait JsonFetcher: Send + Sync + 'static {
    /// GETs one URL. A `200` must have a body within the limit and, for [`Body::Json`], a JSON
    /// content type (`application/json` or `application/*+json`); redirects are returned, not
    /// followed.
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
    pub allowed_networks: Vec<IpNet>,
    /// Which CAs TLS trusts, for issuers without their own `ca_file`.
    pub trust: TrustRoots,
    /// The egress proxy for each destination (none by default).
    pub proxy: ProxyConfig,
}

impl Default for FetchLimits {
    /// The documented defaults of `[fetch]`: strict (https only, no internal addresses, no
    /// redirects), 5 s per fetch (3 s to connect), 1 MiB per document.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            max_body_bytes: 1_048_576,
            https_only: true,
            allow_private_addresses: false,
            max_redirects: 0,
            allowed_networks: Vec::new(),
            trust: TrustRoots::default(),
            proxy: ProxyConfig::default(),
        }
    }
}

impl FetchLimits {
    /// Whether a connection to `ip` is allowed: public addresses always; internal ones only with
    /// `allow_private_addresses` or inside `allowed_networks`.
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        let exempt = |ip: IpAddr| self.allowed_networks.iter().any(|n| n.contains(&ip));
        // An IPv4-mapped address is the IPv4 host itself (dual-stack sockets): its exemption
        // counts. Other embedding forms go through a translator and must be listed as IPv6.
        let mapped_exempt = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| exempt(IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        };
        self.allow_private_addresses || !is_forbidden_address(ip) || exempt(ip) || mapped_exempt
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
    /// The TLS certificate was refused: which issuer, which URL, which check.
    #[error("issuer {issuer}: the TLS certificate of {url} was refused: {check}")]
    Certificate {
        /// The issuer the fetch was for.
        issuer: String,
        /// The URL.
        url: String,
        /// The failing check and what to do.
        check: String,
    },
    /// The issuer's own `ca_file` (or the global trust) could not be used.
    #[error("issuer {issuer}: {source}")]
    TlsConfig {
        /// The issuer the fetch was for.
        issuer: String,
        /// Why.
        #[source]
        source: TlsConfigError,
    },
    /// A bearer token was to be sent over plain `http://`.
    #[error("refused to send the issuer's fetch token to {0}: only over https://")]
    TokenOverHttp(String),
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
    /// The response is not JSON (where JSON was expected).
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
        let limits = FetchLimits::default();
        assert!(check_scheme(&Url::parse("http://a/").unwrap(), &limits).is_err());
        assert!(check_scheme(&Url::parse("ftp://a/").unwrap(), &limits).is_err());
        assert!(check_scheme(&Url::parse("https://a/").unwrap(), &limits).is_ok());
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
