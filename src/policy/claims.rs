//! The claim-rule language: a dotted path into the verified claims and the values it may have.
//!
//! `realm_access.roles = ["admin"]` holds when the claim at that path equals one of the values or,
//! for an array, contains one of them; an empty list means the claim is present and not null.
//! Values are compared as text: a string claim by its value, a number or boolean by its JSON
//! form (`1234`, `true`), so the same rule reads the same from the file and from a query.

use serde_json::{Map, Value};

/// Most segments a claim path may have (real claims nest two or three deep).
pub const MAX_CLAIM_PATH_SEGMENTS: usize = 16;

/// A parsed claim path such as `realm_access.roles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    text: String,
    segments: Vec<String>,
}

impl ClaimPath {
    /// Parses a dotted path: one or more non-empty segments separated by `.`.
    ///
    /// # Errors
    /// An empty segment (`a..b`, `.a`, `a.`), an empty path, or more than
    /// [`MAX_CLAIM_PATH_SEGMENTS`] segments.
    pub fn parse(text: &str) -> Result<Self, String> {
        let segments: Vec<String> = text.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!(
                "{text:?} is not a claim path: segments separated by single dots, none empty"
            ));
        }
        if segments.len() > MAX_CLAIM_PATH_SEGMENTS {
            return Err(format!(
                "{text:?} has more than {MAX_CLAIM_PATH_SEGMENTS} segments"
            ));
        }
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path, if every segment but the last names an object.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |value, segment| value.get(segment))
    }
}

/// One claim rule: the claim at `path` equals one of `values` (or, for an array, contains one);
/// with no values, the claim is present and not null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRule {
    /// Where the claim is.
    pub path: ClaimPath,
    /// The accepted values, as text; empty means "present".
    pub values: Vec<String>,
}

impl ClaimRule {
    /// Whether the verified claims satisfy this rule.
    pub fn holds(&self, claims: &Map<String, Value>) -> bool {
        match self.path.lookup(claims) {
            None | Some(Value::Null) => false,
            Some(_) if self.values.is_empty() => true,
            Some(Value::Array(items)) => items.iter().any(|item| self.accepts(item)),
            Some(value) => self.accepts(value),
        }
    }

    fn accepts(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.values.iter().any(|v| v == s),
            Value::Number(n) => {
                let text = n.to_string();
                self.values.contains(&text)
            }
            Value::Bool(b) => self
                .values
                .iter()
                .any(|v| v == if *b { "true" } else { "false" }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(path: &str, values: &[&str]) -> ClaimRule {
        ClaimRule {
            path: ClaimPath::parse(path).unwrap(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_rule_holds_when_the_claim_equals_or_contains_one_of_its_values() {
        let token = claims(json!({
            "tid": "1234",
            "n": 7,
            "ok": true,
            "realm_access": {"roles": ["user", "admin"]},
        }));

        assert!(rule("tid", &["9", "1234"]).holds(&token));
        assert!(rule("n", &["7"]).holds(&token));
        assert!(rule("ok", &["true"]).holds(&token));
        assert!(rule("realm_access.roles", &["admin"]).holds(&token));
        assert!(!rule("realm_access.roles", &["root"]).holds(&token));
        assert!(!rule("tid", &["123"]).holds(&token), "no prefix match");
        assert!(!rule("tid", &["1234 "]).holds(&token));
    }

    #[test]
    fn an_empty_value_list_means_present_and_not_null() {
        let token = claims(json!({"a": {"b": null}, "c": [], "d": {"e": 0}}));

        assert!(!rule("a.b", &[]).holds(&token));
        assert!(!rule("missing", &[]).holds(&token));
        assert!(!rule("a.b.c", &[]).holds(&token));
        assert!(rule("c", &[]).holds(&token));
        assert!(rule("d.e", &[]).holds(&token));
    }

    #[test]
    fn objects_and_nested_arrays_never_equal_a_value() {
        let token = claims(json!({"o": {"admin": true}, "nested": [["admin"]]}));

        assert!(!rule("o", &["admin"]).holds(&token));
        assert!(!rule("nested", &["admin"]).holds(&token));
        assert!(
            !rule("o", &["{\"admin\":true}"]).holds(&token),
            "an object is not compared as its JSON text"
        );
    }

    #[test]
    fn a_path_through_an_array_or_a_string_finds_nothing() {
        let token = claims(json!({"roles": ["admin"], "s": "x"}));

        assert!(!rule("roles.0", &["admin"]).holds(&token));
        assert!(!rule("s.len", &[]).holds(&token));
    }

    #[test]
    fn malformed_paths_are_refused() {
        for path in ["", ".", "a.", ".a", "a..b"] {
            assert!(ClaimPath::parse(path).is_err(), "{path:?}");
        }
        let deep = vec!["a"; MAX_CLAIM_PATH_SEGMENTS + 1].join(".");
        assert!(ClaimPath::parse(&deep).is_err());
    }
}
