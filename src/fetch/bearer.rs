//! [`BearerToken`]: a credential an issuer demands for its discovery document and JWK set (a
//! Kubernetes API server's service-account token), read from a file that rotates.
//!
//! The token is a secret by type: `Debug` shows `"********"`, and the value is only reachable
//! through [`BearerToken::expose`] (zeroed on drop, `secrecy`). Its text is checked so it cannot
//! smuggle anything into the request's header: visible ASCII only, no spaces.

use secrecy::{ExposeSecret, SecretString};

/// Largest token file read (a projected service-account token is about 1 KiB).
pub const MAX_TOKEN_FILE_BYTES: usize = 64 * 1024;

/// A bearer token for an issuer's own requests. Clones share nothing mutable.
#[derive(Clone)]
pub struct BearerToken(SecretString);

/// Why a token file's contents are not a token. Never includes the contents.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BearerTokenError {
    /// Only whitespace.
    #[error("the token file is empty")]
    Empty,
    /// A character that cannot be in an `Authorization: Bearer` value.
    #[error("the token file holds a character that is not visible ASCII (or a space inside it)")]
    BadCharacter,
}

impl BearerToken {
    /// A token from a file's bytes, with surrounding whitespace (a trailing newline) removed.
    ///
    /// # Errors
    /// Empty, or a byte outside visible ASCII inside the token.
    pub fn from_file_contents(bytes: &[u8]) -> Result<Self, BearerTokenError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| BearerTokenError::BadCharacter)?
            .trim();
        if text.is_empty() {
            return Err(BearerTokenError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BearerTokenError::BadCharacter);
        }
        Ok(Self(SecretString::from(text)))
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"********\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_prints_and_cannot_inject_a_header() {
        let token = BearerToken::from_file_contents(b"eyJhbGciOi.abc-_~+/=\n").unwrap();
        assert_eq!(token.expose(), "eyJhbGciOi.abc-_~+/=");
        assert_eq!(format!("{token:?}"), "\"********\"");
        assert_eq!(
            format!("{:?}", Some(&token)),
            "Some(\"********\")",
            "not even inside another value"
        );
        for hostile in [
            &b"abc\r\nX-Injected: 1"[..],
            b"abc def",
            b"abc\x00",
            b"t\xc3\xa9",
        ] {
            assert_eq!(
                BearerToken::from_file_contents(hostile).unwrap_err(),
                BearerTokenError::BadCharacter
            );
        }
        assert_eq!(
            BearerToken::from_file_contents(b" \n\t").unwrap_err(),
            BearerTokenError::Empty
        );
    }
}
