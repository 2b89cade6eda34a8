//! What a lookup or a refresh can fail with. Both are `Clone`: one fetch failure is shared by
//! every lookup that waited for it, and kept for the admin status.

use std::time::Duration;

use super::discovery::DiscoveryError;
use super::jwks::JwksError;
use super::local::LocalKeysError;
use super::per_kid::KeyUrlError;
use crate::fetch::FetchError;

/// Why no key could be had for a lookup.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeysError {
    /// The issuer's current keys have no such `kid` (and a refetch was not allowed or did not
    /// bring it).
    #[error("the issuer has no key with this kid")]
    UnknownKid,
    /// The `kid` cannot name a key at the issuer's key URL (characters other than letters,
    /// digits, `-` and `_`, or too long): refused before any fetch.
    #[error("the kid is not one a key URL can name")]
    InvalidKid,
    /// The issuer's keys could not be fetched and no usable copy is cached.
    #[error("the issuer's keys are unavailable: {cause}")]
    Unavailable {
        /// When trying again makes sense.
        retry_after: Duration,
        /// The last fetch failure.
        cause: RefreshError,
    },
}

impl KeysError {
    /// The stable reason code: `unknown_kid`, `invalid_kid` or `keys_unavailable`.
    pub fn reason(&self) -> &'static str {
        match self {
            KeysError::UnknownKid => "unknown_kid",
            KeysError::InvalidKid => "invalid_kid",
            KeysError::Unavailable { .. } => "keys_unavailable",
        }
    }
}

/// Why refreshing an issuer's keys failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    /// The HTTP fetch failed or was refused (including the fetcher's own limits: scheme, body
    /// size, timeout).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The discovery document is unusable.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The JWK set is unusable.
    #[error(transparent)]
    Jwks(#[from] JwksError),
    /// The issuer's local key files are unusable.
    #[error(transparent)]
    Local(#[from] LocalKeysError),
    /// A key URL's answer is not a usable key.
    #[error(transparent)]
    KeyUrl(#[from] KeyUrlError),
    /// The issuer's `fetch_token_file` could not be read or holds no token.
    #[error("the issuer's fetch_token_file: {0}")]
    FetchToken(#[source] LocalKeysError),
    /// A `304 Not Modified` arrived without a cached document to keep.
    #[error("the issuer answered 304 Not Modified to a request that had no entity tag")]
    UnexpectedNotModified,
    /// No fetch has been attempted yet (a lookup raced the very first one).
    #[error("the keys have not been fetched yet")]
    NotFetched,
}
