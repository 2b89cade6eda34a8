//! Reading an issuer's JSON documents defensively: nesting bounded before parsing, and
//! serde_json's error kept (shareable, comparable) rather than flattened to a string.

use std::fmt;
use std::sync::Arc;

/// Deepest JSON nesting accepted in a discovery document or JWK set (real ones nest 3 deep).
pub const MAX_JSON_DEPTH: usize = 32;

/// Why a document is not JSON jwtgate reads.
#[derive(Debug, Clone)]
pub enum JsonError {
    /// Nested deeper than [`MAX_JSON_DEPTH`].
    TooDeep,
    /// Not well-formed JSON. Shared, as fetch failures are cloned into every lookup that sees
    /// them; [`std::error::Error::source`] is the `serde_json::Error` itself.
    Syntax(Arc<serde_json::Error>),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooDeep => write!(f, "JSON nested deeper than {MAX_JSON_DEPTH} levels"),
            JsonError::Syntax(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JsonError::TooDeep => None,
            JsonError::Syntax(error) => Some(&**error),
        }
    }
}

impl PartialEq for JsonError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JsonError::TooDeep, JsonError::TooDeep) => true,
            (JsonError::Syntax(a), JsonError::Syntax(b)) => {
                a.classify() == b.classify() && a.to_string() == b.to_string()
            }
            _ => false,
        }
    }
}

impl Eq for JsonError {}

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`] before it is parsed (a cheap scan that
/// skips string contents), so a hostile document cannot make parsing recurse deeply.
pub fn check_json_depth(body: &[u8]) -> Result<(), JsonError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(JsonError::TooDeep);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// [`check_json_depth`], then parses the document.
pub(super) fn parse(body: &[u8]) -> Result<serde_json::Value, JsonError> {
    check_json_depth(body)?;
    serde_json::from_slice(body).map_err(|e| JsonError::Syntax(Arc::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nesting_is_bounded_and_strings_do_not_count() {
        assert!(check_json_depth(br#"{"keys":[{"kty":"RSA"}]}"#).is_ok());
        assert_eq!(
            check_json_depth(format!("{}{}", "[".repeat(33), "]".repeat(33)).as_bytes()),
            Err(JsonError::TooDeep)
        );
        assert!(check_json_depth(format!("{{\"a\":\"{}\"}}", "[".repeat(100)).as_bytes()).is_ok());
        assert!(check_json_depth(br#"{"a":"\"[[[[","b":1}"#).is_ok());
    }

    #[test]
    fn a_syntax_error_keeps_serde_jsons_error_as_its_source() {
        let error = parse(b"{\"a\":").unwrap_err();
        let source = std::error::Error::source(&error).expect("a source");
        assert!(source.downcast_ref::<serde_json::Error>().is_some());
        assert_eq!(error.to_string(), source.to_string());
        assert_eq!(error, parse(b"{\"a\":").unwrap_err());
    }
}
