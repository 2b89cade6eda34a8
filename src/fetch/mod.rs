//! Outbound HTTP, behind one small trait: [`JsonFetcher`] (pyjwt-key-fetcher's `HTTPClient`).
//!
//! The key cache only ever calls [`JsonFetcher::get_json`]; [`AwcFetcher`] is the real
//! implementation, and tests may plug in their own. Every implementation must answer within its
//! timeout and never return more than its body limit; the key cache additionally wraps every
//! call in its own timeout, so a misbehaving fetcher still cannot make a request wait forever.

mod awc_client;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use url::Url;

pub use awc_client::AwcFetcher;

use crate::settings::FetchSettings;

/// The boxed future [`JsonFetcher::get_json`] returns: `Send`, so the key cache can await it
/// from any worker.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchError>> + Send + 'a>>;

/// Fetches JSON documents (discovery documents and JWK sets).
pub trait JsonFetcher: Send + Sync + 'static {
    /// GETs `url` and returns the body of a `200` response with a JSON content type
    /// (`application/json` or `application/*+json`), at most the configured body limit.
    fn get_json<'a>(&'a self, url: &'a Url) -> FetchFuture<'a>;
}

/// Limits every fetch obeys; from `[fetch]`.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// Total time for one fetch: connect, headers and body.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Refuse `http://` URLs.
    pub https_only: bool,
}

impl From<&FetchSettings> for FetchLimits {
    fn from(s: &FetchSettings) -> Self {
        Self {
            timeout: Duration::from_secs(s.timeout_secs),
            max_body_bytes: s.max_body_bytes,
            https_only: s.https_only,
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
    /// A status other than 200 (redirects are not followed).
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
        let limits = FetchLimits {
            timeout: Duration::from_secs(1),
            max_body_bytes: 1,
            https_only: true,
        };
        assert!(check_scheme(&Url::parse("http://a/").unwrap(), &limits).is_err());
        assert!(check_scheme(&Url::parse("ftp://a/").unwrap(), &limits).is_err());
        assert!(check_scheme(&Url::parse("https://a/").unwrap(), &limits).is_ok());
    }
}
