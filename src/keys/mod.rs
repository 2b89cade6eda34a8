//! The key cache: discovery -> JWK set -> usable keys, per issuer, shared by all workers.
//!
//! # Rules (pyjwt-key-fetcher's, with its weaknesses fixed)
//! - An issuer's keys are fetched lazily (or preloaded at startup) and trusted for `ttl_secs`.
//!   The discovery document is refetched with them, once per TTL.
//! - A `kid` not in the current set refetches the JWK set, unless a fetch completed within
//!   `min_refresh_interval_secs`; inside that window the lookup fails fast with `unknown_kid`.
//! - The refetched set replaces the old one: a key that left the set stops verifying at once.
//! - Fetches are single-flight per issuer: concurrent lookups that need the same fetch wait for
//!   the one in flight (bounded by the fetch timeout) and share its outcome.
//! - A failed fetch is remembered: the issuer is not contacted again until an exponential
//!   backoff has passed, and meanwhile lookups get the last good keys (for up to
//!   `stale_if_error_secs` past their TTL) or `keys_unavailable` with a retry hint.
//! - When keys pass their TTL, the first lookup refreshes them; lookups arriving while that
//!   refresh is in flight are served the previous keys instead of waiting.
//!
//! # Concurrency
//! [`KeyStore`] is a cheap `Arc` clone. Configured issuers have permanent entries; issuers
//! admitted by `allow_any_issuer` live in a bounded LRU (moka), so they can never evict a
//! configured issuer. Each entry holds its state behind a `std::sync::RwLock` (never held across
//! an `.await`) and a `tokio::sync::Mutex` that serializes fetches.

mod discovery;
pub mod jwks;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use url::Url;

pub use discovery::{DiscoveryError, jwks_uri_from_discovery};
pub use jwks::{JwksError, SkipReason, VerifyingKey, parse_jwk_set};

use crate::clock::Clock;
use crate::fetch::{FetchError, FetchLimits, JsonFetcher, check_scheme};
use crate::issuer::{IssuerPolicy, KeySource};
use crate::metrics::Metrics;
use crate::settings::CacheSettings;

/// First wait after a failed fetch before the issuer is contacted again; it doubles with each
/// consecutive failure up to [`FAILURE_BACKOFF_MAX`].
pub const FAILURE_BACKOFF_INITIAL: Duration = Duration::from_secs(1);

/// Longest wait between fetch attempts to a failing issuer.
pub const FAILURE_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Extra time granted on top of the fetch timeout before the key cache gives up on a fetcher
/// (guards against a [`JsonFetcher`] that ignores its own timeout).
const FETCHER_GRACE: Duration = Duration::from_millis(500);

/// Why no key could be had for a lookup.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeysError {
    /// The issuer's current keys have no such `kid` (and a refetch was not allowed or did not
    /// bring it).
    #[error("the issuer has no key with this kid")]
    UnknownKid,
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
    /// The stable reason code: `unknown_kid` or `keys_unavailable`.
    pub fn reason(&self) -> &'static str {
        match self {
            KeysError::UnknownKid => "unknown_kid",
            KeysError::Unavailable { .. } => "keys_unavailable",
        }
    }
}

/// Why refreshing an issuer's keys failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    /// The HTTP fetch failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The discovery document is unusable.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The JWK set is unusable.
    #[error(transparent)]
    Jwks(#[from] JwksError),
    /// The fetcher did not answer within the timeout.
    #[error("no answer from the fetcher within {0:?}")]
    Timeout(Duration),
    /// No fetch has been attempted yet (a lookup raced the very first one).
    #[error("the keys have not been fetched yet")]
    NotFetched,
}

/// The cache rules, from `[cache]`.
#[derive(Debug, Clone)]
pub struct CacheRules {
    /// How long a fetched set (and discovery document) is trusted.
    pub ttl: Duration,
    /// Minimum time between a completed fetch and an unknown-`kid` refetch.
    pub min_refresh_interval: Duration,
    /// How long past its TTL a set may serve while refreshing fails.
    pub stale_if_error: Duration,
}

impl From<&CacheSettings> for CacheRules {
    fn from(s: &CacheSettings) -> Self {
        Self {
            ttl: Duration::from_secs(s.ttl_secs),
            min_refresh_interval: Duration::from_secs(s.min_refresh_interval_secs),
            stale_if_error: Duration::from_secs(s.stale_if_error_secs),
        }
    }
}

/// One fetched JWK set.
#[derive(Debug)]
pub struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Instant,
    jwks_uri: Url,
}

impl KeySet {
    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.get(kid)
    }

    /// Usable keys in the set.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The URL it was fetched from.
    pub fn jwks_uri(&self) -> &Url {
        &self.jwks_uri
    }
}

#[derive(Debug, Default)]
struct IssuerState {
    keys: Option<Arc<KeySet>>,
    /// The discovered JWK set URL and when the discovery document was fetched.
    discovered: Option<(Url, Instant)>,
    /// When the last fetch attempt (success or failure) completed.
    last_attempt: Option<Instant>,
    consecutive_failures: u32,
    retry_not_before: Option<Instant>,
    last_error: Option<RefreshError>,
    /// Bumped after every completed fetch attempt; waiters compare it to know whether the fetch
    /// they were waiting for has happened meanwhile.
    generation: u64,
}

#[derive(Debug, Default)]
struct IssuerEntry {
    state: RwLock<IssuerState>,
    fetch_lock: tokio::sync::Mutex<()>,
}

impl IssuerEntry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, IssuerState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, IssuerState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// What [`KeyStore::issuer_status`] reports about one issuer.
#[derive(Debug, Clone)]
pub struct IssuerStatus {
    /// Usable keys in the current set (0 before the first successful fetch).
    pub keys: usize,
    /// Time since the current set was fetched.
    pub age: Option<Duration>,
    /// The last fetch failure, if the last attempt failed.
    pub last_error: Option<RefreshError>,
    /// Completed fetch attempts (successful or not).
    pub fetch_attempts: u64,
}

/// The shared key cache. See the module docs for the rules.
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

struct Inner {
    fetcher: Arc<dyn JsonFetcher>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    rules: CacheRules,
    limits: FetchLimits,
    configured: HashMap<Arc<str>, Arc<IssuerEntry>>,
    dynamic: moka::sync::Cache<Arc<str>, Arc<IssuerEntry>>,
}

enum Wait {
    /// Wait for an in-flight fetch and use its outcome.
    Yes,
    /// If a fetch is in flight, return at once.
    No,
}

impl KeyStore {
    /// Creates the cache. `configured` issuers get permanent entries; up to
    /// `max_issuers - configured` other issuers are kept in an LRU.
    pub fn new(
        fetcher: Arc<dyn JsonFetcher>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        rules: CacheRules,
        limits: FetchLimits,
        max_issuers: u64,
        configured: impl IntoIterator<Item = Arc<str>>,
    ) -> Self {
        let configured: HashMap<_, _> = configured
            .into_iter()
            .map(|i| (i, Arc::new(IssuerEntry::default())))
            .collect();
        let dynamic = moka::sync::Cache::new(max_issuers.saturating_sub(configured.len() as u64));
        Self {
            inner: Arc::new(Inner {
                fetcher,
                clock,
                metrics,
                rules,
                limits,
                configured,
                dynamic,
            }),
        }
    }

    /// The key `kid` of the issuer, fetching or refetching as the rules allow.
    pub async fn get_key(
        &self,
        policy: &IssuerPolicy,
        kid: &str,
    ) -> Result<Arc<VerifyingKey>, KeysError> {
        let inner = &*self.inner;
        let entry = self.entry(policy);
        let now = inner.clock.now();
        let (current, generation, refetch_allowed, backoff) = {
            let state = entry.read();
            (
                state.keys.clone(),
                state.generation,
                self.kid_refetch_allowed(&state, now),
                backoff_left(&state, now),
            )
        };
        match current {
            Some(set) if now < set.fetched_at + inner.rules.ttl => {
                if let Some(key) = set.get(kid) {
                    self.count_lookup("hit");
                    return Ok(key.clone());
                }
                self.count_lookup("miss");
                if !refetch_allowed {
                    return Err(KeysError::UnknownKid);
                }
                tracing::debug!(issuer = %policy.label, "unknown kid: refetching the JWK set");
                self.refresh(&entry, policy, generation, Wait::Yes).await;
                let state = entry.read();
                state
                    .keys
                    .as_ref()
                    .and_then(|s| s.get(kid))
                    .cloned()
                    .ok_or(KeysError::UnknownKid)
            }
            Some(_) | None => {
                self.count_lookup("miss");
                if backoff.is_none() {
                    let wait = if current.is_some() {
                        Wait::No
                    } else {
                        Wait::Yes
                    };
                    self.refresh(&entry, policy, generation, wait).await;
                }
                let now = inner.clock.now();
                let state = entry.read();
                let Some(set) = state.keys.clone() else {
                    return Err(self.unavailable(&state, now));
                };
                if now >= set.fetched_at + inner.rules.ttl {
                    // Still old: refreshing failed, is backing off, or is in flight elsewhere.
                    if now >= set.fetched_at + inner.rules.ttl + inner.rules.stale_if_error {
                        return Err(self.unavailable(&state, now));
                    }
                    if state.last_error.is_some() {
                        inner
                            .metrics
                            .stale_keys_served
                            .with_label_values(&[&policy.label])
                            .inc();
                    }
                }
                set.get(kid).cloned().ok_or(KeysError::UnknownKid)
            }
        }
    }

    /// Fetches the issuer's keys now unless a fetch is already in flight (used to preload
    /// configured issuers at startup). Returns whether keys are loaded afterwards.
    pub async fn preload(&self, policy: &IssuerPolicy) -> bool {
        let entry = self.entry(policy);
        let generation = entry.read().generation;
        self.refresh(&entry, policy, generation, Wait::Yes).await;
        entry.read().keys.is_some()
    }

    /// What the cache holds for a configured issuer (`None` for an unknown one).
    pub fn issuer_status(&self, issuer: &str) -> Option<IssuerStatus> {
        let entry = self.inner.configured.get(issuer)?;
        let now = self.inner.clock.now();
        let state = entry.read();
        Some(IssuerStatus {
            keys: state.keys.as_ref().map_or(0, |s| s.len()),
            age: state
                .keys
                .as_ref()
                .map(|s| now.saturating_duration_since(s.fetched_at)),
            last_error: state.last_error.clone(),
            fetch_attempts: state.generation,
        })
    }

    fn entry(&self, policy: &IssuerPolicy) -> Arc<IssuerEntry> {
        if let Some(entry) = self.inner.configured.get(&policy.issuer) {
            return entry.clone();
        }
        self.inner
            .dynamic
            .get_with(policy.issuer.clone(), Default::default)
    }

    fn kid_refetch_allowed(&self, state: &IssuerState, now: Instant) -> bool {
        let window_passed = state
            .last_attempt
            .is_none_or(|t| now >= t + self.inner.rules.min_refresh_interval);
        window_passed && backoff_left(state, now).is_none()
    }

    fn unavailable(&self, state: &IssuerState, now: Instant) -> KeysError {
        KeysError::Unavailable {
            retry_after: backoff_left(state, now).unwrap_or(FAILURE_BACKOFF_INITIAL),
            cause: state.last_error.clone().unwrap_or(RefreshError::NotFetched),
        }
    }

    fn count_lookup(&self, result: &str) {
        self.inner
            .metrics
            .key_cache_lookups
            .with_label_values(&[result])
            .inc();
    }

    /// Runs one fetch for the entry, unless the fetch this caller saw the need for
    /// (`seen_generation`) has already completed while it waited.
    async fn refresh(
        &self,
        entry: &IssuerEntry,
        policy: &IssuerPolicy,
        seen_generation: u64,
        wait: Wait,
    ) {
        let _guard = match wait {
            Wait::Yes => entry.fetch_lock.lock().await,
            Wait::No => match entry.fetch_lock.try_lock() {
                Ok(guard) => guard,
                Err(_) => return,
            },
        };
        let cached_discovery = {
            let state = entry.read();
            if state.generation != seen_generation {
                return;
            }
            state.discovered.clone()
        };
        let inner = &*self.inner;
        let started = inner.clock.now();
        let discovery_fresh = cached_discovery.filter(|(_, at)| started < *at + inner.rules.ttl);
        let result = self.fetch_keys(policy, discovery_fresh).await;
        let now = inner.clock.now();
        let mut state = entry.write();
        state.generation += 1;
        state.last_attempt = Some(now);
        match result {
            Ok((set, discovered)) => {
                tracing::info!(issuer = %policy.label, keys = set.len(), jwks_uri = %set.jwks_uri, "loaded issuer keys");
                state.keys = Some(Arc::new(set));
                state.discovered = discovered;
                state.consecutive_failures = 0;
                state.retry_not_before = None;
                state.last_error = None;
            }
            Err(error) => {
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                let backoff = failure_backoff(state.consecutive_failures);
                tracing::warn!(issuer = %policy.label, error = %error, retry_in = ?backoff, "fetching issuer keys failed");
                state.retry_not_before = Some(now + backoff);
                state.last_error = Some(error);
            }
        }
    }

    /// Discovery (unless static or still fresh) and the JWK set.
    async fn fetch_keys(
        &self,
        policy: &IssuerPolicy,
        discovered: Option<(Url, Instant)>,
    ) -> Result<(KeySet, Option<(Url, Instant)>), RefreshError> {
        let inner = &*self.inner;
        let (jwks_uri, discovered) = match (&policy.key_source, discovered) {
            (KeySource::Static(uri), _) => (uri.clone(), None),
            (KeySource::Discovery(_), Some((uri, at))) => (uri.clone(), Some((uri, at))),
            (KeySource::Discovery(document_url), None) => {
                let body = self.fetch(policy, "discovery", document_url).await?;
                let uri = jwks_uri_from_discovery(&body, &policy.issuer, inner.limits.https_only);
                self.count_fetch(policy, "discovery", uri.is_ok());
                let uri = uri?;
                (uri.clone(), Some((uri, inner.clock.now())))
            }
        };
        let body = self.fetch(policy, "jwks", &jwks_uri).await?;
        let parsed = parse_jwk_set(&body, &policy.validation);
        self.count_fetch(policy, "jwks", parsed.is_ok());
        let parsed = parsed?;
        for reason in &parsed.skipped {
            inner
                .metrics
                .jwks_keys_skipped
                .with_label_values(&[&*policy.label, reason.label()])
                .inc();
        }
        if !parsed.skipped.is_empty() {
            tracing::warn!(issuer = %policy.label, skipped = ?parsed.skipped, "skipped unusable JWK set entries");
        }
        let set = KeySet {
            keys: parsed.keys,
            fetched_at: inner.clock.now(),
            jwks_uri,
        };
        Ok((set, discovered))
    }

    /// One GET through the fetcher, bounded by the fetch timeout. A failure is counted here; a
    /// body is counted by the caller once parsed (ok) or refused (error), so each fetch counts
    /// exactly once.
    async fn fetch(
        &self,
        policy: &IssuerPolicy,
        kind: &'static str,
        url: &Url,
    ) -> Result<Vec<u8>, RefreshError> {
        let inner = &*self.inner;
        let started = Instant::now();
        let outcome = match check_scheme(url, &inner.limits) {
            Err(e) => Err(RefreshError::Fetch(e)),
            Ok(()) => {
                let limit = inner.limits.timeout + FETCHER_GRACE;
                match tokio::time::timeout(limit, inner.fetcher.get_json(url)).await {
                    Ok(Ok(body)) if body.len() > inner.limits.max_body_bytes => {
                        Err(RefreshError::Fetch(FetchError::TooLarge {
                            url: url.to_string(),
                            limit: inner.limits.max_body_bytes,
                        }))
                    }
                    Ok(result) => result.map_err(RefreshError::Fetch),
                    Err(_) => Err(RefreshError::Timeout(limit)),
                }
            }
        };
        inner
            .metrics
            .fetch_duration
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        if outcome.is_err() {
            self.count_fetch(policy, kind, false);
        }
        outcome
    }

    fn count_fetch(&self, policy: &IssuerPolicy, kind: &'static str, ok: bool) {
        let fetches = &self.inner.metrics.fetches;
        if ok {
            fetches
                .with_label_values(&[&*policy.label, kind, "ok"])
                .inc();
        } else {
            fetches
                .with_label_values(&[&*policy.label, kind, "error"])
                .inc();
        }
    }
}

fn backoff_left(state: &IssuerState, now: Instant) -> Option<Duration> {
    state.retry_not_before.filter(|t| now < *t).map(|t| t - now)
}

/// Exponential backoff: 1 s, 2 s, 4 s, ... up to [`FAILURE_BACKOFF_MAX`].
fn failure_backoff(consecutive_failures: u32) -> Duration {
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    (FAILURE_BACKOFF_INITIAL * 2u32.pow(exponent)).min(FAILURE_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(failure_backoff(1), Duration::from_secs(1));
        assert_eq!(failure_backoff(2), Duration::from_secs(2));
        assert_eq!(failure_backoff(4), Duration::from_secs(8));
        assert_eq!(failure_backoff(50), FAILURE_BACKOFF_MAX);
    }
}
