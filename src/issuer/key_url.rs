//! [`KeyUrl`]: a public key URL with the `kid` in it, one PEM key per `kid` (AWS ALB's
//! `https://public-keys.auth.elb.<region>.amazonaws.com/{kid}`), and the check a `kid` passes
//! before it becomes part of that URL.
//!
//! The `kid` comes from a token nobody has verified yet, so it is the attacker's text going
//! into an outbound URL. Only [`is_url_safe_kid`] ones are put there: letters, digits, `-` and
//! `_`, at most [`MAX_URL_KID_BYTES`], as the whole last path segment of a URL whose scheme,
//! host and rest of path are the operator's. No kid can add a segment, a query, a host or an
//! encoding, so the request goes to the configured host and path, never elsewhere.

use url::Url;

use super::check_url;

/// The placeholder a key URL ends with: `https://host/path/{kid}`.
pub const KID_PLACEHOLDER: &str = "{kid}";

/// Longest `kid` put into a key URL (AWS ALB's are 36-character UUIDs).
pub const MAX_URL_KID_BYTES: usize = 128;

/// Whether `kid` may go into a key URL: 1 to [`MAX_URL_KID_BYTES`] of `A-Z a-z 0-9 - _`.
pub fn is_url_safe_kid(kid: &str) -> bool {
    (1..=MAX_URL_KID_BYTES).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A key URL template ending in `/{kid}`, checked as an issuer URL is (absolute http(s) with a
/// host; no query, fragment or credentials; `https://` with `https_only`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUrl {
    /// Everything before the placeholder, ending with `/`.
    prefix: String,
    /// The prefix, parsed (for its host).
    base: Url,
}

impl KeyUrl {
    /// Parses a template such as `https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}`.
    ///
    /// # Errors
    /// The placeholder is missing, repeated or not the whole last path segment, or the URL
    /// breaks the issuer URL rules.
    pub fn parse(template: &str, https_only: bool) -> Result<Self, String> {
        let prefix = template
            .strip_suffix(KID_PLACEHOLDER)
            .filter(|prefix| prefix.ends_with('/') && !prefix.contains(['{', '}']))
            .ok_or_else(|| {
                format!("{template:?} must end with /{KID_PLACEHOLDER} and have no other braces")
            })?;
        let base = check_url(prefix, https_only)?;
        if base.as_str() != prefix {
            return Err(format!(
                "{template:?} is not in normal form (write it as {}{KID_PLACEHOLDER})",
                base.as_str()
            ));
        }
        Ok(Self {
            prefix: prefix.to_string(),
            base,
        })
    }

    /// The URL of `kid`'s key, or `None` when the kid is not [`is_url_safe_kid`].
    pub fn for_kid(&self, kid: &str) -> Option<Url> {
        if !is_url_safe_kid(kid) {
            return None;
        }
        let url = Url::parse(&format!("{}{kid}", self.prefix)).ok()?;
        // Defence in depth: a safe kid cannot leave the prefix, and this says so.
        (url.as_str().strip_prefix(self.prefix.as_str()) == Some(kid)).then_some(url)
    }

    /// The host keys are fetched from (redirects may not leave it).
    pub fn host(&self) -> Option<&str> {
        self.base.host_str()
    }

    /// The URL with its placeholder, as configured (for status output).
    pub fn template(&self) -> String {
        format!("{}{KID_PLACEHOLDER}", self.prefix)
    }

    /// The URL up to the placeholder, parsed.
    pub fn base(&self) -> &Url {
        &self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALB: &str = "https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}";

    #[test]
    fn a_safe_kid_becomes_the_last_path_segment_of_the_configured_url() {
        let url = KeyUrl::parse(ALB, true).unwrap();
        let kid = "6f7c8d7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";

        assert_eq!(
            url.for_kid(kid).unwrap().as_str(),
            format!("https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}")
        );
        assert_eq!(
            url.host(),
            Some("public-keys.auth.elb.eu-west-1.amazonaws.com")
        );
        assert_eq!(url.template(), ALB);
    }

    #[test]
    fn kids_that_could_change_the_url_are_refused() {
        let url = KeyUrl::parse(ALB, true).unwrap();
        for kid in [
            "",
            "../admin",
            "a/b",
            "a?b",
            "a#b",
            "a%2Fb",
            "a.b",
            "..",
            "a b",
            "@evil.example",
            "a\\b",
            "é",
            "a\u{0}",
            &"a".repeat(MAX_URL_KID_BYTES + 1),
        ] {
            assert!(url.for_kid(kid).is_none(), "{kid:?}");
            assert!(!is_url_safe_kid(kid), "{kid:?}");
        }
        assert!(url.for_kid(&"a".repeat(MAX_URL_KID_BYTES)).is_some());
        assert!(url.for_kid("Key_1-b").is_some());
    }

    #[test]
    fn templates_must_end_with_the_placeholder_and_follow_the_url_rules() {
        for bad in [
            "https://keys.example/",
            "https://keys.example/{kid}.pem",
            "https://keys.example/x{kid}",
            "https://keys.example/{kid}/{kid}",
            "https://keys.example/?q=1/{kid}",
            "https://user:pw@keys.example/{kid}",
            "http://keys.example/{kid}",
            "ftp://keys.example/{kid}",
            "https://keys.example/a/../{kid}",
        ] {
            assert!(KeyUrl::parse(bad, true).is_err(), "{bad}");
        }
        assert!(KeyUrl::parse("http://127.0.0.1:8080/keys/{kid}", false).is_ok());
    }
}
