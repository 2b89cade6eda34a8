//! Reading an OpenID Connect discovery document: its `issuer` and where the keys are.
//!
//! At the standard path the document is OpenID Connect's, whose `issuer` member is required and
//! must equal the token's `iss`. At a custom `config_path` it may be another kind of document
//! that only names the keys (pyjwt-key-fetcher's flagship case, an IOXIO dataspace
//! `party-configuration.json`): an absent `issuer` is accepted there, one that is present must
//! still match ([`IssuerMember`]).

use serde_json::Value;
use url::Url;

use super::json::{self, JsonError};
pub use crate::issuer::IssuerMember;

/// Why a discovery document is not usable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not JSON, or nested too deep.
    #[error("discovery document is not a JSON object: {0}")]
    NotJson(#[source] JsonError),
    /// JSON, but not an object.
    #[error("discovery document is not a JSON object: not an object")]
    NotAnObject,
    /// Its `issuer` differs from the token's `iss` (OpenID Connect Discovery 1.0 §4.3), so
    /// whoever serves it is not that issuer.
    #[error("discovery document names issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The issuer the keys were looked up for.
        expected: String,
        /// What the document says (empty when missing).
        found: String,
    },
    /// Neither `jwks_uri` nor `jwks_url` is a string.
    #[error("discovery document has neither jwks_uri nor jwks_url")]
    NoJwksUri,
    /// The key URL is not an absolute URL.
    #[error(
        "discovery document's key URL is not acceptable: {value:?} is not a valid URL: {source}"
    )]
    UnparsableJwksUri {
        /// The key URL as published.
        value: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// The key URL has no host, has a query or fragment, or carries credentials.
    #[error("discovery document's key URL is not acceptable: {value:?} {problem}")]
    BadJwksUri {
        /// The key URL as published.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Extracts the JWK set URL from a discovery document for `issuer`: `jwks_uri`, else
/// `jwks_url` (pyjwt-key-fetcher's order), after checking the document's `issuer` as `member`
/// says. Whether its scheme may be fetched is the fetcher's decision (`fetch.https_only`), like
/// every URL's.
pub fn jwks_uri_from_discovery(
    body: &[u8],
    issuer: &str,
    member: IssuerMember,
) -> Result<Url, DiscoveryError> {
    let document = json::parse(body).map_err(DiscoveryError::NotJson)?;
    let document = document.as_object().ok_or(DiscoveryError::NotAnObject)?;
    // Only a truly absent member is excused: `"issuer": null` or a number is a document that
    // names an issuer badly, and is refused like a wrong one.
    let present = document.get("issuer");
    if present.is_some() || member == IssuerMember::Required {
        let found = present.and_then(Value::as_str);
        if found != Some(issuer) {
            return Err(DiscoveryError::IssuerMismatch {
                expected: issuer.to_string(),
                found: found.unwrap_or_default().to_string(),
            });
        }
    }
    let uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .or_else(|| document.get("jwks_url").and_then(Value::as_str))
        .ok_or(DiscoveryError::NoJwksUri)?;
    key_url(uri)
}

/// The published key URL, parsed: absolute, with a host, without query, fragment or
/// credentials (the rules configured URLs follow, but for the scheme).
fn key_url(value: &str) -> Result<Url, DiscoveryError> {
    let url = Url::parse(value).map_err(|source| DiscoveryError::UnparsableJwksUri {
        value: value.to_string(),
        source,
    })?;
    let problem = if url.host_str().is_none_or(str::is_empty) {
        Some("has no host")
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("must not have a query or fragment")
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("must not carry credentials")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(DiscoveryError::BadJwksUri {
            value: value.to_string(),
            problem,
        }),
        None => Ok(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://id.example";

    fn jwks(doc: &str) -> Result<String, DiscoveryError> {
        jwks_uri_from_discovery(doc.as_bytes(), ISS, IssuerMember::Required).map(|u| u.to_string())
    }

    fn jwks_at_custom_path(doc: &str) -> Result<String, DiscoveryError> {
        jwks_uri_from_discovery(doc.as_bytes(), ISS, IssuerMember::CheckedIfPresent)
            .map(|u| u.to_string())
    }

    #[test]
    fn a_document_at_a_custom_path_may_omit_the_issuer_but_not_name_another() {
        assert_eq!(
            jwks_at_custom_path(r#"{"jwks_uri":"https://id.example/k"}"#).unwrap(),
            "https://id.example/k"
        );
        assert_eq!(
            jwks_at_custom_path(
                r#"{"issuer":"https://id.example","jwks_uri":"https://id.example/k"}"#
            )
            .unwrap(),
            "https://id.example/k"
        );
        for doc in [
            r#"{"issuer":"https://evil","jwks_uri":"https://id.example/k"}"#,
            r#"{"issuer":null,"jwks_uri":"https://id.example/k"}"#,
            r#"{"issuer":1,"jwks_uri":"https://id.example/k"}"#,
            r#"{"issuer":"","jwks_uri":"https://id.example/k"}"#,
        ] {
            assert!(
                matches!(
                    jwks_at_custom_path(doc),
                    Err(DiscoveryError::IssuerMismatch { .. })
                ),
                "{doc}"
            );
        }
    }

    #[test]
    fn jwks_uri_wins_over_jwks_url() {
        let doc = r#"{"issuer":"https://id.example","jwks_uri":"https://id.example/a","jwks_url":"https://id.example/b"}"#;
        assert_eq!(jwks(doc).unwrap(), "https://id.example/a");
    }

    #[test]
    fn jwks_url_is_the_fallback() {
        assert_eq!(
            jwks(r#"{"issuer":"https://id.example","jwks_url":"https://id.example/b"}"#).unwrap(),
            "https://id.example/b"
        );
        assert_eq!(
            jwks(r#"{"issuer":"https://id.example","jwks_uri":null,"jwks_url":"https://id.example/b"}"#).unwrap(),
            "https://id.example/b"
        );
    }

    #[test]
    fn the_documents_issuer_must_equal_the_tokens() {
        for doc in [
            r#"{"jwks_uri":"https://id.example/a"}"#,
            r#"{"issuer":"https://evil","jwks_uri":"https://id.example/a"}"#,
        ] {
            assert!(
                matches!(jwks(doc), Err(DiscoveryError::IssuerMismatch { .. })),
                "{doc}"
            );
        }
    }

    #[test]
    fn missing_relative_or_credentialed_key_urls_are_refused() {
        assert_eq!(
            jwks(r#"{"issuer":"https://id.example"}"#),
            Err(DiscoveryError::NoJwksUri)
        );
        assert!(matches!(
            jwks(r#"{"issuer":"https://id.example","jwks_uri":"/keys"}"#),
            Err(DiscoveryError::UnparsableJwksUri { .. })
        ));
        for uri in [
            "https://user:pw@id.example/k",
            "https://id.example/k#x",
            "mailto:keys@id.example",
        ] {
            let doc = format!(r#"{{"issuer":"https://id.example","jwks_uri":"{uri}"}}"#);
            assert!(
                matches!(jwks(&doc), Err(DiscoveryError::BadJwksUri { .. })),
                "{uri}"
            );
        }
        assert!(matches!(jwks("[1]"), Err(DiscoveryError::NotAnObject)));
        assert!(matches!(jwks("{"), Err(DiscoveryError::NotJson(_))));
    }

    #[test]
    fn a_plain_http_key_url_is_left_to_the_fetchers_scheme_rule() {
        // fetch.https_only has one home, the fetcher, which refuses such a URL before
        // connecting (`fetch::check_scheme`, tested in `fetch`).
        assert_eq!(
            jwks(r#"{"issuer":"https://id.example","jwks_uri":"http://id.example/k"}"#).unwrap(),
            "http://id.example/k"
        );
    }
}
