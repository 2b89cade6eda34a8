//! The verified-token cache: tokens seen and verified recently skip the signature check.
//!
//! Keyed by the SHA-256 of the exact token bytes, so a hit means "these very bytes verified
//! before". An entry is small: the issuer policy, the verifying key, a deadline and the
//! [`Identity`] the usual answer needs (the subject and the issuer's `headers` claims); any
//! other claim is read from the token itself when asked for ([`super::Verified::claims`]).
//! A hit still requires:
//! - the entry's deadline not passed: the token's `exp` (no leeway: once `exp` passes, the token
//!   goes through full verification again, which applies the leeway) and at most
//!   `verified_token_ttl_secs` after it was cached;
//! - the key that verified it still being the issuer's current key for that kid (the very same
//!   parsed key, so a refetched set that drops or replaces the key invalidates the entry at
//!   once; a set refetched unchanged costs one full verification per token).
//!
//! `nbf` and the issuer's claim rules were checked when the entry was made, and neither can
//! become false as time moves on with a static configuration. Shared by all workers (moka);
//! cheap to query concurrently.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};

use crate::clock::Clock;
use crate::issuer::IssuerPolicy;
use crate::keys::VerifyingKey;

use super::verified::Identity;

/// A token's cache key: SHA-256 of its bytes.
pub type TokenDigest = [u8; 32];

/// What a cached verification remembers.
#[derive(Debug)]
pub struct CachedVerification {
    /// The issuer's policy.
    pub policy: Arc<IssuerPolicy>,
    /// The key that verified the token.
    pub key: Arc<VerifyingKey>,
    /// What the usual answer reads: the subject and the issuer's `headers` claims.
    pub(super) identity: Identity,
    deadline: Instant,
}

/// The cache. See the module docs.
pub struct TokenCache {
    entries: moka::sync::Cache<TokenDigest, Arc<CachedVerification>>,
    max_ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens, each kept at most `max_ttl`.
    pub fn new(capacity: u64, max_ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        // Memory is freed on moka's own clock at `max_ttl` (or by eviction at capacity); whether
        // an entry may still answer is checked against its `deadline` on every hit. A per-entry
        // expiry would free short-lived tokens sooner, at ~60 bytes more per entry (moka's timer
        // wheel): with at most `capacity` entries either way, the smaller entry is kept.
        let entries = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(max_ttl)
            .build();
        Self {
            entries,
            max_ttl,
            clock,
        }
    }

    /// The cache key of a raw token.
    pub fn digest(raw: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, raw.as_bytes()).as_ref());
        out
    }

    /// A live entry for the digest, if any (an entry past its deadline is dropped).
    pub fn get(&self, token: &TokenDigest) -> Option<Arc<CachedVerification>> {
        let entry = self.entries.get(token)?;
        if self.clock.now() >= entry.deadline {
            self.entries.invalidate(token);
            return None;
        }
        Some(entry)
    }

    /// Remembers a verification of a token expiring at `exp` (seconds since the epoch). Tokens
    /// already at or past `exp` are not cached.
    pub(super) fn insert(
        &self,
        token: TokenDigest,
        policy: Arc<IssuerPolicy>,
        key: Arc<VerifyingKey>,
        identity: Identity,
        exp: u64,
    ) {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let Some(left) = exp.checked_sub(now_unix).filter(|s| *s > 0) else {
            return;
        };
        let ttl = Duration::from_secs(left).min(self.max_ttl);
        let deadline = self.clock.now() + ttl;
        self.entries.insert(
            token,
            Arc::new(CachedVerification {
                policy,
                key,
                identity,
                deadline,
            }),
        );
    }

    /// Forgets a token.
    pub fn invalidate(&self, token: &TokenDigest) {
        self.entries.invalidate(token);
    }

    /// Entries currently held (approximate, as moka counts).
    pub fn len(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
