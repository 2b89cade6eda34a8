//! [`IssuerPattern`]: a configured issuer with `{placeholder}` path segments.

use std::sync::Arc;

use url::Url;

/// Longest value a `{placeholder}` of an issuer pattern matches.
pub const MAX_PLACEHOLDER_BYTES: usize = 128;

/// An issuer with `{placeholder}` path segments, such as
/// `https://login.microsoftonline.com/{tenant}/v2.0` for a multi-tenant identity provider.
///
/// The one parser of issuer patterns (settings validation calls it too). A pattern pins its
/// scheme, host and port; each placeholder sits in a path segment of its own, optionally with
/// literal text around it (`tenant-{id}`). A placeholder matches 1 to
/// [`MAX_PLACEHOLDER_BYTES`] RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`), so never
/// `/`, `\`, `%`, `@`, `?`, `#` or `:`, and the segment it yields is never `.` or `..`: a match
/// cannot leave the host or the path the pattern names, before or after URL normalisation.
/// Matching is linear in the length of the `iss` (one pass over its segments, no backtracking).
#[derive(Debug, Clone)]
pub struct IssuerPattern {
    text: Arc<str>,
    /// `scheme://authority`, matched exactly.
    origin: String,
    /// The path after its leading `/`, split at `/`.
    segments: Vec<PatternSegment>,
}

#[derive(Debug, Clone)]
enum PatternSegment {
    Literal(String),
    Placeholder { prefix: String, suffix: String },
}

impl IssuerPattern {
    /// Parses `text`: `Ok(None)` when it has no placeholder (an exact issuer).
    ///
    /// # Errors
    /// Unbalanced braces, an empty or non-alphanumeric placeholder name, a placeholder outside
    /// the path or sharing a segment with another, or a path that URL normalisation would change
    /// (write it as normalised). Whether the rest is an acceptable URL is [`super::check_url`]'s job,
    /// on [`IssuerPattern::example`].
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        if !text.contains(['{', '}']) {
            return Ok(None);
        }
        let after_scheme = text.find("://").map_or(0, |i| i + 3);
        let path_start = text[after_scheme..]
            .find('/')
            .map_or(text.len(), |i| after_scheme + i);
        if text[..path_start].contains(['{', '}']) {
            return Err(format!(
                "{text:?}: placeholders may only appear in the path"
            ));
        }
        let path = &text[path_start..];
        let segments = path
            .strip_prefix('/')
            .unwrap_or(path)
            .split('/')
            .map(|segment| Self::parse_segment(text, segment))
            .collect::<Result<Vec<_>, _>>()?;
        let pattern = Self {
            text: Arc::from(text),
            origin: text[..path_start].to_string(),
            segments,
        };
        let example = pattern.example();
        if let Ok(url) = Url::parse(&example)
            && url.path() != &example[path_start..]
        {
            return Err(format!(
                "{text:?}: its path is not in normal form (URL parsing makes it {:?}); write it that way",
                url.path()
            ));
        }
        Ok(Some(pattern))
    }

    fn parse_segment(text: &str, segment: &str) -> Result<PatternSegment, String> {
        let Some(open) = segment.find('{') else {
            if segment.contains('}') {
                return Err(format!("{text:?} has an unmatched '}}'"));
            }
            return Ok(PatternSegment::Literal(segment.to_string()));
        };
        let close = segment[open..].find('}').map(|i| open + i).ok_or_else(|| {
            format!("{text:?} has an unclosed '{{' (or a placeholder spanning '/')")
        })?;
        let name = &segment[open + 1..close];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("{text:?} has a bad placeholder {{{name}}}"));
        }
        let (prefix, suffix) = (&segment[..open], &segment[close + 1..]);
        if prefix.contains('}') || suffix.contains(['{', '}']) {
            return Err(format!(
                "{text:?}: a path segment holds at most one placeholder"
            ));
        }
        Ok(PatternSegment::Placeholder {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// The pattern as configured (also its metrics label).
    pub fn text(&self) -> &Arc<str> {
        &self.text
    }

    /// The pattern with every placeholder replaced by `x`: an instance, to check as a URL.
    pub fn example(&self) -> String {
        let mut example = self.origin.clone();
        for segment in &self.segments {
            example.push('/');
            match segment {
                PatternSegment::Literal(literal) => example.push_str(literal),
                PatternSegment::Placeholder { prefix, suffix } => {
                    example.push_str(prefix);
                    example.push('x');
                    example.push_str(suffix);
                }
            }
        }
        example
    }

    /// Whether `iss` is an instance of the pattern.
    pub fn matches(&self, iss: &str) -> bool {
        let Some(path) = iss
            .strip_prefix(self.origin.as_str())
            .and_then(|p| p.strip_prefix('/'))
        else {
            return false;
        };
        let mut parts = path.split('/');
        let all_match = self.segments.iter().all(|segment| {
            let Some(part) = parts.next() else {
                return false;
            };
            match segment {
                PatternSegment::Literal(literal) => part == literal,
                PatternSegment::Placeholder { prefix, suffix } => part
                    .strip_prefix(prefix.as_str())
                    .and_then(|p| p.strip_suffix(suffix.as_str()))
                    .is_some_and(|value| {
                        is_placeholder_value(value) && part != "." && part != ".."
                    }),
            }
        });
        all_match && parts.next().is_none()
    }

    /// Whether `url` (built from `iss`, an instance of the pattern, and parsed) is still under
    /// `iss`'s path: URL normalisation moved nothing (defence in depth: `matches` already
    /// refuses dot segments, and the pattern's own path is in normal form).
    pub(super) fn keeps_under(&self, iss: &str, url: &Url) -> bool {
        let path = iss[self.origin.len()..].trim_end_matches('/');
        iss.starts_with(self.origin.as_str())
            && url
                .path()
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// 1 to [`MAX_PLACEHOLDER_BYTES`] RFC 3986 unreserved characters.
fn is_placeholder_value(value: &str) -> bool {
    (1..=MAX_PLACEHOLDER_BYTES).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}
