//! Where a request carries its token: the configured `[verify].token_sources`, tried in order,
//! the first source that has a token winning.
//!
//! A proxy's auth subrequest is not the client's request: nginx `auth_request` and Traefik
//! `ForwardAuth` call `/verify` without the client's query string, and describe the original
//! request in `X-Original-URI` (nginx, set by our example config) or `X-Forwarded-Uri` (Traefik).
//! A `query:` source therefore reads the request's own query string first, then those headers.
//! Reading them is safe: a token is only ever an input to verification, wherever it was found.

use std::borrow::Cow;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// One place a request may carry its token, written `header:<Name>[:<Scheme>]`,
/// `cookie:<name>` or `query:<name>` in `[verify].token_sources`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum TokenSource {
    /// A request header. With a scheme (`header:Authorization:Bearer`) the value must be
    /// `<Scheme> <token>`, the scheme matched case-insensitively; without one the whole value is
    /// the token.
    Header {
        /// Header name.
        name: HeaderName,
        /// Authentication scheme, if the value carries one.
        scheme: Option<String>,
    },
    /// A cookie of the `Cookie` request header.
    Cookie {
        /// Cookie name (case-sensitive).
        name: String,
    },
    /// A query parameter of the request, or of the original request a proxy describes in
    /// `X-Forwarded-Uri` (Traefik) or `X-Original-URI` (nginx).
    Query {
        /// Parameter name (case-sensitive).
        name: String,
    },
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Header {
                name,
                scheme: Some(scheme),
            } => write!(f, "header:{name}:{scheme}"),
            TokenSource::Header { name, scheme: None } => write!(f, "header:{name}"),
            TokenSource::Cookie { name } => write!(f, "cookie:{name}"),
            TokenSource::Query { name } => write!(f, "query:{name}"),
        }
    }
}

impl Serialize for TokenSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl TryFrom<String> for TokenSource {
    type Error = String;

    fn try_from(spec: String) -> Result<Self, Self::Error> {
        let bad = |why: &str| {
            Err(format!(
                "token source {spec:?} {why}; write header:<Name>[:<Scheme>], cookie:<name> or query:<name>"
            ))
        };
        let (kind, rest) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let plain_name = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        };
        match kind {
            "header" => {
                let (name, scheme) = match rest.split_once(':') {
                    Some((name, scheme)) => (name, Some(scheme)),
                    None => (rest, None),
                };
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    return bad("has no valid header name");
                };
                if scheme.is_some_and(|s| HeaderName::from_bytes(s.as_bytes()).is_err()) {
                    return bad("has an empty or invalid scheme");
                }
                Ok(Self::Header {
                    name,
                    scheme: scheme.map(str::to_string),
                })
            }
            "cookie" if plain_name(rest) => Ok(Self::Cookie { name: rest.into() }),
            "query" if plain_name(rest) => Ok(Self::Query { name: rest.into() }),
            "cookie" | "query" => bad("has no valid name (letters, digits, - _ . ~)"),
            _ => bad("has an unknown kind"),
        }
    }
}

/// Headers in which proxies pass the original request URI, in the order they are consulted.
pub const ORIGINAL_URI_HEADERS: [&str; 2] = ["x-forwarded-uri", "x-original-uri"];

/// The token of the first source in `sources` that has one, if any.
pub fn find_token<'r>(req: &'r HttpRequest, sources: &[TokenSource]) -> Option<Cow<'r, str>> {
    sources.iter().find_map(|source| match source {
        TokenSource::Header { name, scheme } => req
            .headers()
            .get_all(name)
            .filter_map(header_str)
            .find_map(|value| header_token(value, scheme.as_deref()))
            .map(Cow::Borrowed),
        TokenSource::Cookie { name } => req
            .headers()
            .get_all(header::COOKIE)
            .filter_map(header_str)
            .find_map(|value| cookie_token(value, name))
            .map(Cow::Borrowed),
        TokenSource::Query { name } => std::iter::once(req.query_string())
            .chain(ORIGINAL_URI_HEADERS.iter().filter_map(|h| {
                let uri = req.headers().get(*h)?.to_str().ok()?;
                Some(uri.split_once('?')?.1)
            }))
            .find_map(|query| query_token(query, name))
            .map(Cow::Owned),
    })
}

/// [`HeaderValue::to_str`] (visible ASCII, space and tab), checked without stopping at the first
/// bad byte, which lets the compiler check many bytes at once: `to_str` goes a byte at a time,
/// which showed in the profile of cache hits (a token header is 0.3 to 2 KB).
fn header_str(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let visible = bytes.iter().fold(true, |all, &b| {
        all & ((0x20..0x7f).contains(&b) | (b == b'\t'))
    });
    if visible {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The token in a header value: the whole (trimmed) value without a scheme, or what follows
/// `<scheme> ` (scheme case-insensitive, RFC 9110 §11.1).
pub fn header_token<'v>(value: &'v str, scheme: Option<&str>) -> Option<&'v str> {
    let token = match scheme {
        None => value,
        Some(scheme) => {
            let (given, token) = value.trim_start().split_once(' ')?;
            if !given.eq_ignore_ascii_case(scheme) {
                return None;
            }
            token
        }
    }
    .trim_matches(' ');
    (!token.is_empty()).then_some(token)
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b="2"`), double quotes removed
/// (RFC 6265 §4.1.1).
pub fn cookie_token<'v>(cookie_header: &'v str, name: &str) -> Option<&'v str> {
    cookie_header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty()).then_some(value)
    })
}

/// The (percent-decoded) value of parameter `name` in a query string.
pub fn query_token(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn header_str_accepts_exactly_what_to_str_accepts() {
        let mut values: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b'a', b, b'z']).collect();
        values.push(b"Bearer eyJ.eyJ.sig".to_vec());
        values.push(Vec::new());
        values.push("Bearer caf\u{e9}".as_bytes().to_vec());
        for bytes in values {
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            assert_eq!(header_str(&value), value.to_str().ok(), "{bytes:?}");
        }
    }

    fn sources(specs: &[&str]) -> Vec<TokenSource> {
        specs
            .iter()
            .map(|s| TokenSource::try_from(s.to_string()).unwrap())
            .collect()
    }

    fn found(req: TestRequest, specs: &[&str]) -> Option<String> {
        let req = req.to_http_request();
        find_token(&req, &sources(specs)).map(Cow::into_owned)
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        assert_eq!(header_token("Bearer abc", Some("Bearer")), Some("abc"));
        assert_eq!(header_token("bearer  abc", Some("Bearer")), Some("abc"));
        assert_eq!(header_token("Basic abc", Some("Bearer")), None);
        assert_eq!(header_token("Bearer ", Some("Bearer")), None);
        assert_eq!(header_token("Bearer", Some("Bearer")), None);
    }

    #[test]
    fn a_header_without_a_scheme_is_the_token_itself() {
        assert_eq!(header_token(" abc ", None), Some("abc"));
        assert_eq!(header_token("", None), None);
    }

    #[test]
    fn a_cookie_is_found_by_its_exact_name_and_unquoted() {
        assert_eq!(
            cookie_token("a=1; access_token=xyz", "access_token"),
            Some("xyz")
        );
        assert_eq!(
            cookie_token("access_token=\"xyz\"", "access_token"),
            Some("xyz")
        );
        assert_eq!(cookie_token("my_access_token=xyz", "access_token"), None);
        assert_eq!(cookie_token("access_token=", "access_token"), None);
    }

    #[test]
    fn a_query_parameter_is_percent_decoded() {
        assert_eq!(query_token("a=1&t=x%2By", "t").as_deref(), Some("x+y"));
        assert_eq!(query_token("t=", "t"), None);
        assert_eq!(query_token("tt=1", "t"), None);
    }

    #[test]
    fn the_first_configured_source_with_a_token_wins() {
        let specs = ["header:Authorization:Bearer", "cookie:jwt", "query:jwt"];
        let everywhere = TestRequest::with_uri("/verify?jwt=from-query")
            .insert_header(("Authorization", "Bearer from-header"))
            .insert_header(("Cookie", "jwt=from-cookie"));
        assert_eq!(found(everywhere, &specs).as_deref(), Some("from-header"));

        let cookie_and_query = TestRequest::with_uri("/verify?jwt=from-query")
            .insert_header(("Authorization", "Basic dXNlcg=="))
            .insert_header(("Cookie", "jwt=from-cookie"));
        assert_eq!(
            found(cookie_and_query, &specs).as_deref(),
            Some("from-cookie")
        );

        let nothing = TestRequest::with_uri("/verify?other=1");
        assert_eq!(found(nothing, &specs), None);
    }

    #[test]
    fn a_query_token_is_read_from_the_original_uri_a_proxy_forwards() {
        let traefik = TestRequest::with_uri("/verify")
            .insert_header(("X-Forwarded-Uri", "/app/page?jwt=via-traefik&x=1"));
        assert_eq!(
            found(traefik, &["query:jwt"]).as_deref(),
            Some("via-traefik")
        );

        let nginx = TestRequest::with_uri("/verify")
            .insert_header(("X-Original-URI", "/app/page?jwt=via-nginx"));
        assert_eq!(found(nginx, &["query:jwt"]).as_deref(), Some("via-nginx"));

        let own_query_first = TestRequest::with_uri("/verify/app?jwt=own")
            .insert_header(("X-Forwarded-Uri", "/app?jwt=forwarded"));
        assert_eq!(
            found(own_query_first, &["query:jwt"]).as_deref(),
            Some("own")
        );
    }

    #[test]
    fn a_custom_header_source_reads_the_whole_value() {
        let req = TestRequest::default().insert_header(("X-Api-Token", "abc"));
        assert_eq!(found(req, &["header:X-Api-Token"]).as_deref(), Some("abc"));
    }
}
