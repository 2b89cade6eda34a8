//! The claim rules an issuer's policy adds to jsonwebtoken's: nested claim paths
//! (`realm_access.roles`), an audience read from another claim (`client_id` for Cognito access
//! tokens) and a required token type (`at+jwt`, RFC 9068). Applied to verified tokens only.

use serde_json::{Map, Value};

use super::IssuerPolicy;

/// Deepest nested claim path followed (`a.b.c` has depth 3).
pub const MAX_CLAIM_PATH_DEPTH: usize = 8;

/// Why a verified token does not meet its issuer's claim rules.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClaimError {
    /// The audience claim (or another required one) is absent or null.
    #[error("the token has no {0} claim")]
    Missing(String),
    /// The audience claim names none of the issuer's audiences.
    #[error("the token is not for this audience")]
    WrongAudience,
    /// The header's `typ` is not the one the issuer requires.
    #[error("the token's type is not the required one")]
    WrongType,
    /// The header's `signer` is absent or not the one the issuer requires.
    #[error("the token was not signed by the configured signer")]
    WrongSigner,
}

/// Most dot-separated segments a claim name is split into; longer names (a namespaced URL
/// claim with many dots) are only looked up by their exact name.
const MAX_CLAIM_PATH_SEGMENTS: usize = 16;

/// The claim `name`: the top-level claim of that exact name if there is one (so namespaced
/// claims such as `https://example.com/roles` keep working), else, for a name with dots, the
/// value at that path through nested objects (`realm_access.roles`). At each level the longest
/// key that matches wins, so keys that hold dots themselves are found too
/// (`kubernetes.io.namespace` is `{"kubernetes.io": {"namespace": ..}}`). At most
/// [`MAX_CLAIM_PATH_DEPTH`] objects deep; arrays are not indexed.
pub fn claim_at<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let segments: Vec<&str> = name.split('.').collect();
    if segments.len() < 2 || segments.len() > MAX_CLAIM_PATH_SEGMENTS {
        return None;
    }
    nested(claims, &segments, 1)
}

fn nested<'a>(
    object: &'a Map<String, Value>,
    segments: &[&str],
    depth: usize,
) -> Option<&'a Value> {
    if depth > MAX_CLAIM_PATH_DEPTH {
        return None;
    }
    for take in (1..=segments.len()).rev() {
        let Some(value) = object.get(&segments[..take].join(".")) else {
            continue;
        };
        if take == segments.len() {
            return Some(value);
        }
        if let Some(found) = value
            .as_object()
            .and_then(|inner| nested(inner, &segments[take..], depth + 1))
        {
            return Some(found);
        }
    }
    None
}

/// A `typ` value in the one form compared: lower case, without the optional `application/`
/// prefix (RFC 7515 §4.1.9: `application/at+jwt` and `AT+JWT` are `at+jwt`).
pub fn normalize_token_type(typ: &str) -> String {
    let lower = typ.trim().to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => lower,
    }
}

impl IssuerPolicy {
    /// Checks the verified token's header `typ` against the issuer's required type, if any.
    ///
    /// # Errors
    /// [`ClaimError::WrongType`]: absent, not a string, or another type.
    pub fn check_token_type(&self, header: &Map<String, Value>) -> Result<(), ClaimError> {
        let Some(required) = &self.token_type else {
            return Ok(());
        };
        match header.get("typ").and_then(Value::as_str) {
            Some(typ) if normalize_token_type(typ) == *required => Ok(()),
            _ => Err(ClaimError::WrongType),
        }
    }

    /// Checks the token header's `signer` against the issuer's, if it has one (AWS ALB names
    /// the load balancer that signed in it; any other ALB's tokens are signed with the same
    /// regional keys). Exact, case-sensitive comparison.
    ///
    /// # Errors
    /// [`ClaimError::WrongSigner`]: absent, not a string, or another signer.
    pub fn check_signer(&self, header: &Map<String, Value>) -> Result<(), ClaimError> {
        let Some(required) = &self.signer else {
            return Ok(());
        };
        match header.get("signer").and_then(Value::as_str) {
            Some(signer) if signer == required => Ok(()),
            _ => Err(ClaimError::WrongSigner),
        }
    }

    /// Checks the issuer's audiences against `audience_claim` when that is not `aud` (which
    /// jsonwebtoken checks): a string equal to one of them, or an array holding one.
    ///
    /// # Errors
    /// [`ClaimError::Missing`] without the claim, [`ClaimError::WrongAudience`] otherwise.
    pub fn check_audience_claim(&self, claims: &Map<String, Value>) -> Result<(), ClaimError> {
        let Some(name) = self.audience_claim.as_deref() else {
            return Ok(());
        };
        if self.audiences.is_empty() {
            return Ok(());
        }
        let matches = |value: &Value| {
            value
                .as_str()
                .is_some_and(|v| self.audiences.iter().any(|a| a == v))
        };
        match claim_at(claims, name) {
            None | Some(Value::Null) => Err(ClaimError::Missing(name.to_string())),
            Some(Value::Array(values)) if values.iter().any(matches) => Ok(()),
            Some(value) if matches(value) => Ok(()),
            Some(_) => Err(ClaimError::WrongAudience),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_claim_path_reads_nested_objects_and_an_exact_name_wins() {
        let c = claims(json!({
            "realm_access": {"roles": ["admin", "user"]},
            "https://example.com/roles": "namespaced",
            "a.b": "exact",
            "a": {"b": "nested"},
            "list": [{"x": 1}],
        }));
        assert_eq!(
            claim_at(&c, "realm_access.roles"),
            Some(&json!(["admin", "user"]))
        );
        assert_eq!(
            claim_at(&c, "https://example.com/roles"),
            Some(&json!("namespaced"))
        );
        assert_eq!(claim_at(&c, "a.b"), Some(&json!("exact")));
        assert_eq!(claim_at(&c, "realm_access.missing"), None);
        assert_eq!(claim_at(&c, "list.0.x"), None, "arrays are not indexed");
        assert_eq!(claim_at(&c, "realm_access..roles"), None);
        assert_eq!(claim_at(&c, "realm_access.roles.x"), None);
    }

    #[test]
    fn keys_holding_dots_are_found_on_the_path() {
        let c = claims(json!({
            "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api"}},
        }));
        assert_eq!(
            claim_at(&c, "kubernetes.io.namespace"),
            Some(&json!("payments"))
        );
        assert_eq!(
            claim_at(&c, "kubernetes.io.serviceaccount.name"),
            Some(&json!("api"))
        );
        assert_eq!(claim_at(&c, "kubernetes.io.pod"), None);
    }

    #[test]
    fn a_claim_path_stops_at_its_depth_limit() {
        let mut deep = json!("leaf");
        for _ in 0..MAX_CLAIM_PATH_DEPTH {
            deep = json!({ "k": deep });
        }
        let c = claims(deep);
        let path = |depth: usize| vec!["k"; depth].join(".");
        assert!(claim_at(&c, &path(MAX_CLAIM_PATH_DEPTH)).is_some());
        assert_eq!(
            claim_at(&c, &format!("{}.k", path(MAX_CLAIM_PATH_DEPTH))),
            None
        );
    }

    #[test]
    fn token_types_compare_without_case_or_the_application_prefix() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert_eq!(normalize_token_type(typ), "at+jwt", "{typ}");
        }
        assert_eq!(normalize_token_type("JWT"), "jwt");
        assert_ne!(normalize_token_type("text/at+jwt"), "at+jwt");
    }
}
