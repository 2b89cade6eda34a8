//! The key cache: discovery -> JWK set -> usable keys, per issuer, shared by all workers.
//!
//! # Rules (pyjwt-key-fetcher's, with its weaknesses fixed)
//! - An issuer's keys are fetched lazily (or preloaded at startup). A set lives for the JWK set
//!   response's `Cache-Control: max-age`, clamped to `[min_ttl_secs, max_ttl_secs]`
//!   (`no-store`/`no-cache`: the minimum), or for `ttl_secs` without one. The discovery
//!   document is fetched again once per `ttl_secs`.
//! - Keys are refreshed ahead of expiry, in the background, at a jittered 75-90 % of their
//!   lifetime (by the first lookup past that point, or by the refresher task when idle), with
//!   `If-None-Match` when the issuer sent an `ETag`. No request waits for a routine refresh.
//! - A `kid` not in the current set refetches the JWK set, unless a fetch completed within
//!   `min_refresh_interval_secs`; inside that window the lookup fails fast with `unknown_kid`.
//! - The refetched set replaces the old one: a key that left the set stops verifying at once.
//! - Fetches are single-flight per issuer: concurrent lookups that need the same fetch wait for
//!   the one in flight (bounded by the fetch timeout) and share its outcome.
//! - A failed fetch is remembered: the issuer is not contacted again until an exponential,
//!   jittered backoff has passed, and meanwhile lookups get the last good keys (for up to
//!   `stale_if_error_secs` past their expiry) or `keys_unavailable` with a retry hint. For an
//!   issuer admitted by a pattern or `allow_any_issuer` the backoff outlives its cache entry
//!   (`dynamic.rs`): evicting it does not buy another fetch.
//! - Redirects are followed only up to `max_redirects` hops, each re-checked (scheme,
//!   the issuer's `jwks_hosts`); the fetcher re-checks addresses.
//! - The emergency refresh of every issuer is bounded in parallelism and time, configured
//!   issuers first (`emergency.rs`).
//!
//! # Concurrency
//! [`KeyStore`] is a cheap `Arc` clone. Configured issuers have permanent entries; issuers
//! admitted by a pattern or `allow_any_issuer` live in a bounded LRU (moka), so they can never
//! evict a configured issuer (settings refuse an open configuration that leaves that LRU no
//! room); an evicted entry still in use is revived rather than duplicated, and a failing one's
//! backoff is remembered apart (`dynamic.rs`). Each entry holds its state behind a
//! `std::sync::RwLock` (never held across an `.await`) and a `tokio::sync::Mutex` that
//! serializes fetches.

mod discovery;
mod dynamic;
mod emergency;
mod failures;
pub mod jwks;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use url::Url;

pub use discovery::{DiscoveryError, jwks_uri_from_discovery};
pub use emergency::{REFRESH_ALL_CONCURRENCY, REFRESH_ALL_FETCH_TIMEOUTS, RefreshOutcome};
pub use failures::MAX_REMEMBERED_FAILURES;
pub use jwks::{JwksError, SkipReason, VerifyingKey, parse_jwk_set};

use crate::clock::Clock;
use crate::fetch::{
    CacheHeaders, FetchError, FetchLimits, FetchRequest, Fetched, JsonFetcher, check_scheme,
};
use crate::issuer::{IssuerPolicy, KeySource};
use crate::metrics::Metrics;

use dynamic::DynamicIssuers;
use failures::FailureRecord;

/// First wait after a failed fetch before the issuer is contacted again; it doubles with each
/// consecutive failure up to [`FAILURE_BACKOFF_MAX`], and each wait is jittered to 50-100 %.
pub const FAILURE_BACKOFF_INITIAL: Duration = Duration::from_secs(1);

/// Longest wait between fetch attempts to a failing issuer.
pub const FAILURE_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Keys are refreshed once this fraction of their lifetime has passed, plus a random share of
/// [`REFRESH_AHEAD_JITTER`] (so many replicas do not refresh in step).
pub const REFRESH_AHEAD_AT: f64 = 0.75;

/// See [`REFRESH_AHEAD_AT`].
pub const REFRESH_AHEAD_JITTER: f64 = 0.15;

/// How often the background refresher looks for configured issuers due for a refresh (or a
/// retry after a failure).
pub const REFRESHER_TICK: Duration = Duration::from_secs(1);

/// Deepest JSON nesting accepted in a discovery document or JWK set (real ones nest 3 deep).
pub const MAX_JSON_DEPTH: usize = 32;

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
    /// The HTTP fetch failed or was refused.
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
    /// A `304 Not Modified` arrived without a cached document to keep.
    #[error("the issuer answered 304 Not Modified to a request that had no entity tag")]
    UnexpectedNotModified,
    /// No fetch has been attempted yet (a lookup raced the very first one).
    #[error("the keys have not been fetched yet")]
    NotFetched,
}

/// The cache rules, from `[cache]`.
#[derive(Debug, Clone)]
pub struct CacheRules {
    /// Lifetime of a set whose response has no `max-age`, and of a discovery document.
    pub ttl: Duration,
    /// Shortest lifetime taken from `max-age` (and the lifetime for `no-store`).
    pub min_ttl: Duration,
    /// Longest lifetime taken from `max-age`.
    pub max_ttl: Duration,
    /// Minimum time between a completed fetch and an unknown-`kid` refetch.
    pub min_refresh_interval: Duration,
    /// How long past its expiry a set may serve while refreshing fails.
    pub stale_if_error: Duration,
}

impl Default for CacheRules {
    /// The documented defaults of `[cache]`: pyjwt-key-fetcher's 3600 s lifetime and 300 s
    /// refetch window, `max-age` clamped to 60 s - 1 day, stale keys served up to 1 day.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(86_400),
            min_refresh_interval: Duration::from_secs(300),
            stale_if_error: Duration::from_secs(86_400),
        }
    }
}

impl CacheRules {
    /// How long a JWK set with these response headers is trusted.
    pub fn lifetime(&self, caching: &CacheHeaders) -> Duration {
        if caching.no_store {
            return self.min_ttl;
        }
        caching
            .max_age
            .map_or(self.ttl, |age| age.clamp(self.min_ttl, self.max_ttl))
    }
}

/// One fetched JWK set.
#[derive(Debug)]
pub struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Instant,
    refresh_at: Instant,
    expires_at: Instant,
    jwks_uri: Url,
    etag: Option<String>,
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
    /// Set while a background refresh task is spawned, so a burst of requests past the
    /// refresh-ahead point spawns one task, not one per request.
    background_scheduled: AtomicBool,
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
    /// The kids of the current set, sorted.
    pub kids: Vec<String>,
    /// Time since the current set was fetched.
    pub age: Option<Duration>,
    /// Time until the next scheduled refresh (zero when due).
    pub refresh_in: Option<Duration>,
    /// Whether the current set is past its expiry (served only because refreshing fails).
    pub stale: bool,
    /// The URL the current set came from.
    pub jwks_uri: Option<Url>,
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
    dynamic: DynamicIssuers,
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
        let dynamic = DynamicIssuers::new(max_issuers.saturating_sub(configured.len() as u64));
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
        policy: &Arc<IssuerPolicy>,
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
            Some(set) if now < set.expires_at => {
                if now >= set.refresh_at && backoff.is_none() {
                    self.refresh_in_background(&entry, policy, generation);
                }
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
                    // With keys in hand, do not queue behind a refresh already in flight.
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
                if now >= set.expires_at {
                    if now >= set.expires_at + inner.rules.stale_if_error {
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

    /// Fetches the issuer's keys now, even if they are fresh (emergency rotation). Waits for a
    /// fetch already in flight instead of starting a second one. Returns the outcome.
    pub async fn force_refresh(&self, policy: &IssuerPolicy) -> Result<(), RefreshError> {
        let entry = self.entry(policy);
        let generation = entry.read().generation;
        self.refresh(&entry, policy, generation, Wait::Yes).await;
        entry.read().last_error.clone().map_or(Ok(()), Err)
    }

    /// Refreshes the issuer in the background if its keys are due (refresh-ahead point reached,
    /// or never loaded) and no backoff holds. Used by [`KeyStore::spawn_refresher`].
    pub fn refresh_if_due(&self, policy: &Arc<IssuerPolicy>) {
        let entry = self.entry(policy);
        let now = self.inner.clock.now();
        let (due, generation) = {
            let state = entry.read();
            let due = backoff_left(&state, now).is_none()
                && state.keys.as_ref().is_none_or(|s| now >= s.refresh_at);
            (due, state.generation)
        };
        if due {
            self.refresh_in_background(&entry, policy, generation);
        }
    }

    /// Starts a task that every [`REFRESHER_TICK`] refreshes configured issuers that are due,
    /// so idle issuers stay fresh and failed ones are retried after their backoff. Must run
    /// inside a tokio runtime; the task ends with it.
    pub fn spawn_refresher(&self, policies: Vec<Arc<IssuerPolicy>>) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESHER_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for policy in &policies {
                    store.refresh_if_due(policy);
                }
            }
        });
    }

    /// What the cache holds for a configured issuer (`None` for an unknown one).
    pub fn issuer_status(&self, issuer: &str) -> Option<IssuerStatus> {
        let entry = self.inner.configured.get(issuer)?;
        Some(self.status_of(entry))
    }

    /// Every issuer the cache knows: configured ones and those admitted by a pattern or
    /// `allow_any_issuer`, sorted by issuer.
    pub fn statuses(&self) -> Vec<(Arc<str>, IssuerStatus)> {
        let mut all: Vec<(Arc<str>, IssuerStatus)> = self
            .inner
            .configured
            .iter()
            .map(|(issuer, entry)| (issuer.clone(), self.status_of(entry)))
            .collect();
        all.extend(
            self.inner
                .dynamic
                .iter()
                .map(|(issuer, entry)| (issuer, self.status_of(&entry))),
        );
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn status_of(&self, entry: &IssuerEntry) -> IssuerStatus {
        let now = self.inner.clock.now();
        let state = entry.read();
        let set = state.keys.as_ref();
        let mut kids: Vec<String> = set
            .map(|s| s.keys.keys().cloned().collect())
            .unwrap_or_default();
        kids.sort();
        IssuerStatus {
            keys: kids.len(),
            kids,
            age: set.map(|s| now.saturating_duration_since(s.fetched_at)),
            refresh_in: set.map(|s| s.refresh_at.saturating_duration_since(now)),
            stale: set.is_some_and(|s| now >= s.expires_at),
            jwks_uri: set.map(|s| s.jwks_uri.clone()),
            last_error: state.last_error.clone(),
            fetch_attempts: state.generation,
        }
    }

    fn entry(&self, policy: &IssuerPolicy) -> Arc<IssuerEntry> {
        if let Some(entry) = self.inner.configured.get(&policy.issuer) {
            return entry.clone();
        }
        self.inner.dynamic.entry(&policy.issuer)
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

    fn refresh_in_background(
        &self,
        entry: &Arc<IssuerEntry>,
        policy: &Arc<IssuerPolicy>,
        generation: u64,
    ) {
        if entry.fetch_lock.try_lock().is_err()
            || entry.background_scheduled.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (store, entry, policy) = (self.clone(), entry.clone(), policy.clone());
        tokio::spawn(async move {
            store.refresh(&entry, &policy, generation, Wait::No).await;
            entry.background_scheduled.store(false, Ordering::Release);
        });
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
        let (cached_discovery, previous) = {
            let state = entry.read();
            if state.generation != seen_generation {
                return;
            }
            (state.discovered.clone(), state.keys.clone())
        };
        let inner = &*self.inner;
        let started = inner.clock.now();
        let discovery_fresh = cached_discovery.filter(|(_, at)| started < *at + inner.rules.ttl);
        let result = self
            .fetch_keys(policy, discovery_fresh, previous.as_deref())
            .await;
        let now = inner.clock.now();
        let dynamic = !inner.configured.contains_key(&policy.issuer);
        let mut state = entry.write();
        state.generation += 1;
        state.last_attempt = Some(now);
        match result {
            Ok((set, discovered)) => {
                if dynamic {
                    inner.dynamic.succeeded(&policy.issuer);
                }
                tracing::info!(issuer = %policy.label, keys = set.len(), jwks_uri = %set.jwks_uri, "loaded issuer keys");
                state.keys = Some(Arc::new(set));
                state.discovered = discovered;
                state.consecutive_failures = 0;
                state.retry_not_before = None;
                state.last_error = None;
            }
            Err(error) => {
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                let backoff = failure_backoff(state.consecutive_failures, random_fraction());
                tracing::warn!(issuer = %policy.label, error = %error, retry_in = ?backoff, "fetching issuer keys failed");
                state.retry_not_before = Some(now + backoff);
                if dynamic {
                    let record = FailureRecord {
                        consecutive_failures: state.consecutive_failures,
                        retry_not_before: now + backoff,
                        last_attempt: now,
                        last_error: error.clone(),
                    };
                    inner.dynamic.failed(&policy.issuer, record, now);
                }
                state.last_error = Some(error);
            }
        }
    }

    /// Discovery (unless static or still fresh) and the JWK set (revalidated with the previous
    /// set's `ETag` when it came from the same URL).
    async fn fetch_keys(
        &self,
        policy: &IssuerPolicy,
        discovered: Option<(Url, Instant)>,
        previous: Option<&KeySet>,
    ) -> Result<(KeySet, Option<(Url, Instant)>), RefreshError> {
        let inner = &*self.inner;
        let (jwks_uri, discovered) = match (&policy.key_source, discovered) {
            (KeySource::Static(uri), _) => (uri.clone(), None),
            (KeySource::Discovery(_), Some((uri, at))) => (uri.clone(), Some((uri, at))),
            (KeySource::Discovery(document_url), None) => {
                let uri = match self.fetch(policy, "discovery", document_url, None).await? {
                    Fetched::Document { body, .. } => {
                        let uri = check_json_depth(&body)
                            .map_err(DiscoveryError::NotAnObject)
                            .and_then(|()| {
                                jwks_uri_from_discovery(
                                    &body,
                                    &policy.issuer,
                                    inner.limits.https_only,
                                )
                            });
                        self.count_fetch(policy, "discovery", uri.is_ok());
                        uri?
                    }
                    _ => {
                        self.count_fetch(policy, "discovery", false);
                        return Err(RefreshError::UnexpectedNotModified);
                    }
                };
                (uri.clone(), Some((uri, inner.clock.now())))
            }
        };
        let etag = previous
            .filter(|p| p.jwks_uri == jwks_uri)
            .and_then(|p| p.etag.as_deref());
        let fetched = self.fetch(policy, "jwks", &jwks_uri, etag).await?;
        let now = inner.clock.now();
        let (keys, caching) = match (fetched, previous) {
            (Fetched::NotModified { caching }, Some(previous)) if etag.is_some() => {
                self.count_fetch(policy, "jwks", true);
                let etag = caching.etag.clone().or_else(|| previous.etag.clone());
                (previous.keys.clone(), CacheHeaders { etag, ..caching })
            }
            (Fetched::Document { body, caching }, _) => {
                let parsed = check_json_depth(&body)
                    .map_err(JwksError::NotAJwkSet)
                    .and_then(|()| parse_jwk_set(&body, &policy.validation));
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
                (parsed.keys, caching)
            }
            _ => {
                self.count_fetch(policy, "jwks", false);
                return Err(RefreshError::UnexpectedNotModified);
            }
        };
        let lifetime = inner.rules.lifetime(&caching);
        let ahead = lifetime.mul_f64(REFRESH_AHEAD_AT + REFRESH_AHEAD_JITTER * random_fraction());
        let set = KeySet {
            keys,
            fetched_at: now,
            refresh_at: now + ahead,
            expires_at: now + lifetime,
            jwks_uri,
            etag: caching.etag,
        };
        Ok((set, discovered))
    }

    /// GETs `url` through the fetcher, following redirects as policy allows, each hop bounded
    /// by the fetch timeout. A failure is counted here; a document is counted by the caller
    /// once parsed (ok) or refused (error), so each fetch counts exactly once.
    async fn fetch(
        &self,
        policy: &IssuerPolicy,
        kind: &'static str,
        url: &Url,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, RefreshError> {
        let started = Instant::now();
        let outcome = self.follow(policy, kind, url, if_none_match).await;
        self.inner
            .metrics
            .fetch_duration
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        if outcome.is_err() {
            self.count_fetch(policy, kind, false);
        }
        outcome
    }

    async fn follow(
        &self,
        policy: &IssuerPolicy,
        kind: &'static str,
        url: &Url,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, RefreshError> {
        let inner = &*self.inner;
        let limit = inner.limits.timeout + FETCHER_GRACE;
        let mut current = url.clone();
        let mut hops = 0u8;
        loop {
            check_scheme(&current, &inner.limits)?;
            if kind == "jwks" && !policy.jwks_host_allowed(&current) {
                return Err(FetchError::HostNotAllowed(current.to_string()).into());
            }
            let request = FetchRequest {
                url: &current,
                if_none_match,
            };
            let fetched = tokio::time::timeout(limit, inner.fetcher.get_json(request))
                .await
                .map_err(|_| RefreshError::Timeout(limit))??;
            match fetched {
                Fetched::Redirect { location } => {
                    let refuse = |reason: String| FetchError::Redirect {
                        url: current.to_string(),
                        reason,
                    };
                    if hops >= inner.limits.max_redirects {
                        let max = inner.limits.max_redirects;
                        return Err(refuse(format!("fetch.max_redirects is {max}")).into());
                    }
                    current = current
                        .join(&location)
                        .map_err(|e| refuse(format!("bad Location {location:?}: {e}")))?;
                    hops += 1;
                }
                Fetched::Document { ref body, .. } if body.len() > inner.limits.max_body_bytes => {
                    let limit = inner.limits.max_body_bytes;
                    return Err(FetchError::TooLarge {
                        url: current.to_string(),
                        limit,
                    }
                    .into());
                }
                other => return Ok(other),
            }
        }
    }

    fn count_fetch(&self, policy: &IssuerPolicy, kind: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.inner
            .metrics
            .fetches
            .with_label_values(&[&*policy.label, kind, result])
            .inc();
    }
}

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`] before it is parsed (a cheap scan that
/// skips string contents), so a hostile document cannot make parsing recurse deeply.
pub fn check_json_depth(body: &[u8]) -> Result<(), String> {
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
                    return Err(format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn backoff_left(state: &IssuerState, now: Instant) -> Option<Duration> {
    state.retry_not_before.filter(|t| now < *t).map(|t| t - now)
}

/// Exponential backoff: 1 s, 2 s, 4 s, ... up to [`FAILURE_BACKOFF_MAX`], each scaled to
/// 50-100 % by `jitter` (in `[0, 1)`) so replicas do not retry in step.
fn failure_backoff(consecutive_failures: u32, jitter: f64) -> Duration {
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    let full = (FAILURE_BACKOFF_INITIAL * 2u32.pow(exponent)).min(FAILURE_BACKOFF_MAX);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A random number in `[0, 1)` for jitter: std's per-instance random hasher keys, no
/// dependency. Not for cryptography.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::clock::ManualClock;
    use crate::fetch::FetchFuture;
    use crate::issuer::{DEFAULT_ALGORITHMS, TrustConfig, TrustedIssuers};

    /// An issuer that is down: every fetch fails with HTTP 500 after `delay`.
    struct DownIssuer {
        fetches: AtomicUsize,
        delay: Duration,
    }

    impl JsonFetcher for DownIssuer {
        fn get_json<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a> {
            Box::pin(async move {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                Err(FetchError::Status {
                    url: request.url.to_string(),
                    status: 500,
                })
            })
        }
    }

    /// A store with room for `room` dynamic issuers, over a down issuer, and an open allow-list.
    fn open_store(
        room: u64,
        delay: Duration,
    ) -> (KeyStore, Arc<DownIssuer>, Arc<ManualClock>, TrustedIssuers) {
        let fetcher = Arc::new(DownIssuer {
            fetches: AtomicUsize::new(0),
            delay,
        });
        let clock = Arc::new(ManualClock::new());
        let store = KeyStore::new(
            fetcher.clone(),
            clock.clone(),
            Arc::new(Metrics::new()),
            CacheRules::default(),
            FetchLimits::default(),
            room,
            Vec::new(),
        );
        (
            store,
            fetcher,
            clock,
            TrustedIssuers::new(TrustConfig {
                issuers: Vec::new(),
                allow_any_issuer: true,
                https_only: true,
                algorithms: DEFAULT_ALGORITHMS.to_vec(),
                leeway_secs: 60,
                max_admitted: 32,
            })
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn concurrent_lookups_of_a_failing_dynamic_issuer_cause_one_fetch() {
        let (store, issuer, _clock, trusted) = open_store(4, Duration::from_millis(50));
        let policy = trusted.lookup("https://down.example").unwrap();

        let lookups = (0..50).map(|_| store.get_key(&policy, "k"));
        let results = futures_util::future::join_all(lookups).await;

        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(KeysError::Unavailable { .. })))
        );
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn evicting_an_issuer_while_its_fetch_is_in_flight_does_not_start_a_second_one() {
        let (store, issuer, _clock, trusted) = open_store(1, Duration::from_millis(100));
        let down = trusted.lookup("https://down.example").unwrap();

        let first = store.get_key(&down, "k");
        let second = async {
            while issuer.fetches.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            store.inner.dynamic.evict(&down.issuer);
            store.get_key(&down, "k").await
        };
        let (first, second) = tokio::join!(first, second);

        assert!(first.is_err() && second.is_err());
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failing_dynamic_issuer_stays_backed_off_after_its_entry_is_evicted() {
        let (store, issuer, clock, trusted) = open_store(1, Duration::ZERO);
        let down = trusted.lookup("https://down.example").unwrap();
        assert!(store.get_key(&down, "k").await.is_err());
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

        store.inner.dynamic.evict(&down.issuer);
        let answer = store.get_key(&down, "k").await;

        let Err(KeysError::Unavailable { retry_after, cause }) = answer else {
            panic!("expected keys_unavailable, got {answer:?}");
        };
        assert!(retry_after > Duration::ZERO);
        assert!(cause.to_string().contains("HTTP 500"), "{cause}");
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "still backed off");

        clock.advance(FAILURE_BACKOFF_INITIAL);
        store.inner.dynamic.evict(&down.issuer);
        assert!(store.get_key(&down, "k").await.is_err());
        assert_eq!(
            issuer.fetches.load(Ordering::SeqCst),
            2,
            "retried once the backoff passed"
        );
        assert_eq!(
            store
                .inner
                .dynamic
                .remembered_failure(&down.issuer)
                .map(|f| f.consecutive_failures),
            Some(2),
            "and the next backoff is longer"
        );
    }

    #[test]
    fn backoff_doubles_is_jittered_and_is_bounded() {
        assert_eq!(failure_backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(failure_backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(failure_backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(failure_backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(failure_backoff(50, 1.0), FAILURE_BACKOFF_MAX);
        assert!(failure_backoff(50, 0.0) >= FAILURE_BACKOFF_MAX / 2);
    }

    #[test]
    fn jitter_is_spread_over_the_unit_interval() {
        let samples: Vec<f64> = (0..1000).map(|_| random_fraction()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(samples.iter().any(|x| *x < 0.2) && samples.iter().any(|x| *x > 0.8));
    }

    #[test]
    fn a_sets_lifetime_follows_max_age_within_the_bounds() {
        let rules = CacheRules::default();
        let headers = |cc: &str| CacheHeaders::parse(Some(cc), None);
        assert_eq!(
            rules.lifetime(&CacheHeaders::default()),
            Duration::from_secs(3600)
        );
        assert_eq!(
            rules.lifetime(&headers("max-age=600")),
            Duration::from_secs(600)
        );
        assert_eq!(
            rules.lifetime(&headers("max-age=5")),
            Duration::from_secs(60)
        );
        assert_eq!(
            rules.lifetime(&headers("max-age=9999999")),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            rules.lifetime(&headers("no-store")),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn json_nesting_is_bounded_and_strings_do_not_count() {
        assert!(check_json_depth(br#"{"keys":[{"kty":"RSA"}]}"#).is_ok());
        assert!(
            check_json_depth(format!("{}{}", "[".repeat(33), "]".repeat(33)).as_bytes()).is_err()
        );
        assert!(check_json_depth(format!("{{\"a\":\"{}\"}}", "[".repeat(100)).as_bytes()).is_ok());
        assert!(check_json_depth(br#"{"a":"\"[[[[","b":1}"#).is_ok());
    }
}
