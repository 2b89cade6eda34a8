//! Path normalisation and the `*` patterns of `[[routes]]`.
//!
//! A rule must match the path the upstream will serve, so the path is decoded once and refused
//! when two readers could disagree about it: a dot-segment (`..`, `.`), an encoded dot, slash,
//! backslash, `%` or `;` (`%2e`, `%2f`, `%5c`, `%25`, `%3b`), a raw backslash or `;` (Windows
//! servers and Java path parameters), a segment ending in a dot or a space (which Windows servers
//! drop), a control character, a fragment, or a bad or non-UTF-8 percent-encoding. What remains is unambiguous; it is then compared ignoring ASCII case, with
//! runs of `/` merged and a trailing `/` dropped, as the most lenient upstream would read it.

use super::PolicyError;

/// The normalised form of an original request path: decoded, runs of `/` merged, no trailing
/// `/` (except the root), ASCII lower case. The query, if any, is not part of it.
///
/// # Errors
/// [`PolicyError::InvalidPath`] for anything listed in the module doc, or a path that does not
/// start with `/` (an absolute URI, `*`).
pub fn normalise(uri: &str) -> Result<String, PolicyError> {
    let path = uri.split_once('?').map_or(uri, |(path, _)| path);
    if !path.starts_with('/') {
        return Err(PolicyError::InvalidPath("the path does not start with /"));
    }
    let decoded = decode(path.as_bytes())?;
    let mut normal = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(PolicyError::InvalidPath("a dot-segment"));
        }
        // Windows servers drop a segment's trailing dots and spaces: `/admin./x` is `/admin/x`.
        if segment.ends_with(['.', ' ']) {
            return Err(PolicyError::InvalidPath(
                "a segment ending in a dot or a space",
            ));
        }
        normal.push('/');
        normal.push_str(segment);
    }
    if normal.is_empty() {
        normal.push('/');
    }
    normal.make_ascii_lowercase();
    Ok(normal)
}

/// Percent-decodes a path, refusing every byte (raw or decoded) that could make two readers
/// disagree.
fn decode(raw: &[u8]) -> Result<String, PolicyError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        match byte {
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(PolicyError::InvalidPath("a bad percent-encoding"))?;
                match hex {
                    b'.' => return Err(PolicyError::InvalidPath("an encoded dot")),
                    b'/' | b'\\' => return Err(PolicyError::InvalidPath("an encoded separator")),
                    b'%' => return Err(PolicyError::InvalidPath("an encoded %")),
                    b';' => return Err(PolicyError::InvalidPath("an encoded ;")),
                    c if c.is_ascii_control() => {
                        return Err(PolicyError::InvalidPath("a control character"));
                    }
                    c => out.push(c),
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(PolicyError::InvalidPath("a backslash")),
            b';' => return Err(PolicyError::InvalidPath("a ; (path parameter)")),
            b'#' => return Err(PolicyError::InvalidPath("a fragment")),
            c if c.is_ascii_control() || c == b' ' || !c.is_ascii() => {
                return Err(PolicyError::InvalidPath("a character that must be encoded"));
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| PolicyError::InvalidPath("an encoding that is not UTF-8"))
}

/// A `[[routes]]` path pattern: a normalised path in which `*` matches any run of characters
/// (`/` included). A pattern ending in `/*` also matches the path without that ending, so
/// `/admin/*` covers `/admin` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    normal: String,
}

impl PathPattern {
    /// Parses a pattern from the configuration.
    ///
    /// # Errors
    /// The pattern does not start with `/`, or holds what [`normalise`] refuses.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.contains('?') {
            return Err(format!("{text:?}: a path pattern has no query"));
        }
        // `*` is not a path character normalise refuses, so patterns share its rules.
        let normal = normalise(text).map_err(|e| format!("{text:?}: {e}"))?;
        if text.ends_with("/*") && !normal.ends_with("/*") {
            return Err(format!("{text:?} is not a pattern"));
        }
        Ok(Self {
            text: text.to_string(),
            normal,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a [`normalise`]d path matches.
    pub fn matches(&self, path: &str) -> bool {
        glob(self.normal.as_bytes(), path.as_bytes())
            || self
                .normal
                .strip_suffix("/*")
                .is_some_and(|base| base == path || (base.is_empty() && path == "/"))
    }
}

/// `*` matches any run of bytes; everything else matches itself. Linear backtracking on the last
/// `*` only (the classic wildcard algorithm), so no pattern is exponential.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// A `[[routes]]` host: exact, or `*.example.com` for any subdomain (not the apex). Compared
/// ignoring ASCII case, a port and a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This host only.
    Exact(String),
    /// Any name ending in `.suffix`.
    Subdomains(String),
}

impl HostPattern {
    /// Parses a host from the configuration.
    ///
    /// # Errors
    /// Empty, or a character other than letters, digits, `-`, `.`, a leading `*.`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(format!(
                "{text:?} is not a host name (letters, digits, '-', '.', optionally '*.' first; no port)"
            ));
        }
        Ok(if wildcard {
            Self::Subdomains(name.to_string())
        } else {
            Self::Exact(name.to_string())
        })
    }

    /// Whether a [`normalise_host`]d host matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host == name,
            Self::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        }
    }
}

/// A request's host as [`HostPattern`]s compare it: lower case, without port or trailing dot.
pub fn normalise_host(host: &str) -> String {
    let without_port = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = without_port.strip_suffix('.').unwrap_or(without_port);
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_merged_and_lower_cased() {
        for (raw, normal) in [
            ("/", "/"),
            ("/Admin/Users?x=1", "/admin/users"),
            ("//admin///users/", "/admin/users"),
            ("/%61dmin", "/admin"),
            ("/caf%C3%A9", "/café"),
            ("/a-b_c~d", "/a-b_c~d"),
            ("/a.b/.c/..d", "/a.b/.c/..d"),
            ("/v1.2/x.json", "/v1.2/x.json"),
        ] {
            assert_eq!(normalise(raw).as_deref(), Ok(normal), "{raw}");
        }
    }

    #[test]
    fn path_tricks_are_refused() {
        for raw in [
            "/public/../admin",
            "/public/..",
            "/./admin",
            "/public/%2e%2e/admin",
            "/public/%2E%2E/admin",
            "/public/.%2e/admin",
            "/public%2fadmin",
            "/public%2Fadmin",
            "/public%5cadmin",
            "/public\\..\\admin",
            "/public\\admin",
            "/admin;x=1/users",
            "/admin%3b/users",
            "/public/%252e%252e/admin",
            "/admin%00",
            "/admin%0a",
            "/admin#x",
            "/admin./users",
            "/admin%20/users",
            "/admin../users",
            "/ad min",
            "/bad%zz",
            "/bad%4",
            "/bad%ff",
            "admin",
            "http://example.com/admin",
            "*",
            "",
        ] {
            assert!(
                matches!(normalise(raw), Err(PolicyError::InvalidPath(_))),
                "{raw:?} must be refused"
            );
        }
    }

    fn pattern(text: &str) -> PathPattern {
        PathPattern::parse(text).unwrap()
    }

    #[test]
    fn a_star_matches_any_run_and_a_trailing_star_covers_the_base() {
        let admin = pattern("/admin/*");
        assert!(admin.matches("/admin"));
        assert!(admin.matches("/admin/users"));
        assert!(admin.matches("/admin/users/1"));
        assert!(!admin.matches("/administrator"));
        assert!(!admin.matches("/public/admin"));

        let api = pattern("/api/*/invoices");
        assert!(api.matches("/api/v1/invoices"));
        assert!(api.matches("/api/v1/x/invoices"));
        assert!(!api.matches("/api/v1/invoices/1"));

        assert!(pattern("/*").matches("/"));
        assert!(pattern("/*").matches("/anything/at/all"));
        assert!(pattern("/exact").matches("/exact"));
        assert!(!pattern("/exact").matches("/exact/more"));
        assert!(pattern("/Admin/*").matches(&normalise("/ADMIN/x").unwrap()));
        assert!(pattern("/a*b*c").matches("/axxbyyc"));
        assert!(!pattern("/a*b*c").matches("/axxbyy"));
    }

    #[test]
    fn no_input_panics_and_every_accepted_path_is_normal() {
        let alphabet = [
            "/", ".", "%", "2", "e", "f", "a", "\\", ";", "%2", "%c3", "%a9", "?", "*", "\u{e9}",
        ];
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            inputs = inputs
                .iter()
                .flat_map(|prefix| alphabet.iter().map(move |c| format!("{prefix}{c}")))
                .collect();
            for input in &inputs {
                if let Ok(normal) = normalise(input) {
                    assert!(normal.starts_with('/'), "{input:?} -> {normal:?}");
                    assert!(
                        !normal.contains("//")
                            && !normal.contains("/./")
                            && !normal.contains("/../")
                    );
                    assert!(
                        !normal.contains(['%', '\\', ';']),
                        "{input:?} -> {normal:?}"
                    );
                }
                let _ = super::super::query::requirements(input);
            }
        }
    }

    #[test]
    fn patterns_follow_the_path_rules() {
        for bad in ["admin/*", "/a/../b", "/a%2fb", "/a?x=1", "/a;b"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_match_ignoring_case_port_and_trailing_dot() {
        let exact = HostPattern::parse("API.example.com").unwrap();
        assert!(exact.matches(&normalise_host("api.EXAMPLE.com:8443")));
        assert!(exact.matches(&normalise_host("api.example.com.")));
        assert!(!exact.matches(&normalise_host("x.api.example.com")));

        let any = HostPattern::parse("*.example.com").unwrap();
        assert!(any.matches("a.example.com"));
        assert!(any.matches("a.b.example.com"));
        assert!(!any.matches("example.com"));
        assert!(!any.matches("badexample.com"));
        assert_eq!(normalise_host("[::1]:8080"), "::1");

        for bad in ["", "*.", "a b", "a/b", "a:80", "*"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
