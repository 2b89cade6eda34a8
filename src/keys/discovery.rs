//! Reading an OpenID Connect discovery document: its `issuer` and where the keys are.

use serde_json::Value;
use url::Url;

use crate::issuer::check_url;

/// Why a discovery document is not usable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Not a JSON object.
    #[error("discovery document is not a JSON object: {0}")]
    NotAnObject(String),
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
    /// The key URL is not an acceptable absolute URL.
    #[error("discovery document's key URL is not acceptable: {0}")]
    BadJwksUri(String),
}

/// Extracts the JWK set URL from a discovery document for `issuer`: `jwks_uri`, else
/// `jwks_url` (pyjwt-key-fetcher's order), after checking the document's `issuer`.
pub fn jwks_uri_from_discovery(
    body: &[u8],
    issuer: &str,
    https_only: bool,
) -> Result<Url, DiscoveryError> {
    let document: Value =
        serde_json::from_slice(body).map_err(|e| DiscoveryError::NotAnObject(e.to_string()))?;
    let document = document
        .as_object()
        .ok_or_else(|| DiscoveryError::NotAnObject("not an object".into()))?;
    let found = document
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if found != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_string(),
            found: found.to_string(),
        });
    }
    let uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .or_else(|| document.get("jwks_url").and_then(Value::as_str))
        .ok_or(DiscoveryError::NoJwksUri)?;
    check_url(uri, https_only).map_err(DiscoveryError::BadJwksUri)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://id.example";

    fn jwks(doc: &str) -> Result<String, DiscoveryError> {
        jwks_uri_from_discovery(doc.as_bytes(), ISS, true).map(|u| u.to_string())
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
    fn missing_relative_or_plain_http_key_urls_are_refused() {
        assert_eq!(
            jwks(r#"{"issuer":"https://id.example"}"#),
            Err(DiscoveryError::NoJwksUri)
        );
        assert!(matches!(
            jwks(r#"{"issuer":"https://id.example","jwks_uri":"/keys"}"#),
            Err(DiscoveryError::BadJwksUri(_))
        ));
        assert!(matches!(
            jwks(r#"{"issuer":"https://id.example","jwks_uri":"http://id.example/k"}"#),
            Err(DiscoveryError::BadJwksUri(_))
        ));
        assert!(matches!(jwks("[1]"), Err(DiscoveryError::NotAnObject(_))));
    }
}
