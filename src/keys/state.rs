//! One issuer's cache entry, and every decision taken from it alone at a given instant: fresh,
//! refresh-ahead due, unknown `kid` inside or outside the refetch window, failure backoff,
//! stale-if-error, `keys_unavailable`. No I/O and no clock here: callers pass `now`, so each
//! rule is a pure function of the state (and tested as one).

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use url::Url;

use super::failures::FailureRecord;
use super::{KeysError, RefreshError, VerifyingKey};
use crate::fetch::CacheHeaders;

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

/// The cache rules. Built by whoever configures the cache (`settings` from `[cache]`).
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
pub(super) struct KeySet {
    pub(super) keys: HashMap<String, Arc<VerifyingKey>>,
    pub(super) fetched_at: Instant,
    pub(super) refresh_at: Instant,
    pub(super) expires_at: Instant,
    pub(super) jwks_uri: Url,
    pub(super) etag: Option<String>,
    /// For keys fetched one `kid` at a time from a key URL (AWS ALB), the kids in the order
    /// they were added (the oldest leaves first at the bound); `None` for any other set. Such a
    /// set grows as tokens name new kids, may be empty and still serve, and its unknown-kid
    /// refetch window counts from the last such fetch ([`IssuerState::last_kid_fetch`]).
    pub(super) added_kids: Option<Vec<String>>,
}

impl KeySet {
    /// A set fetched (or revalidated) at `now`: it lives for [`CacheRules::lifetime`] and is
    /// due for a refresh at [`REFRESH_AHEAD_AT`] plus `jitter` (in `[0, 1)`) times
    /// [`REFRESH_AHEAD_JITTER`] of that.
    pub(super) fn new(
        keys: HashMap<String, Arc<VerifyingKey>>,
        jwks_uri: Url,
        caching: CacheHeaders,
        now: Instant,
        rules: &CacheRules,
        jitter: f64,
    ) -> Self {
        let lifetime = rules.lifetime(&caching);
        let ahead = lifetime.mul_f64(REFRESH_AHEAD_AT + REFRESH_AHEAD_JITTER * jitter);
        Self {
            keys,
            fetched_at: now,
            refresh_at: now + ahead,
            expires_at: now + lifetime,
            jwks_uri,
            etag: caching.etag,
            added_kids: None,
        }
    }

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

    /// Whether its keys are fetched one kid at a time (a key URL's).
    pub fn on_demand(&self) -> bool {
        self.added_kids.is_some()
    }
}

/// What an issuer's entry knows. Read and written under [`IssuerEntry::state`].
#[derive(Debug, Default)]
pub(super) struct IssuerState {
    pub keys: Option<Arc<KeySet>>,
    /// The discovered JWK set URL and when the discovery document was fetched.
    pub discovered: Option<(Url, Instant)>,
    /// When the last fetch attempt (success or failure) completed.
    pub last_attempt: Option<Instant>,
    pub consecutive_failures: u32,
    pub retry_not_before: Option<Instant>,
    pub last_error: Option<RefreshError>,
    /// When the last fetch for a `kid` not held completed (on-demand sets only).
    pub last_kid_fetch: Option<Instant>,
    /// Bumped after every completed fetch attempt; waiters compare it to know whether the fetch
    /// they were waiting for has happened meanwhile.
    pub generation: u64,
}

/// One issuer's entry, shared by every worker: the state behind a `std::sync::RwLock` (never
/// held across an `.await`), a `tokio::sync::Mutex` that makes fetches single-flight, and a
/// flag so that a burst of lookups past the refresh-ahead point spawns one background task.
#[derive(Debug, Default)]
pub(super) struct IssuerEntry {
    pub state: RwLock<IssuerState>,
    pub fetch_lock: tokio::sync::Mutex<()>,
    pub background_scheduled: AtomicBool,
}

impl IssuerEntry {
    /// An entry that starts where a remembered failure left off (its backoff still holds).
    pub fn after_failure(failure: FailureRecord) -> Self {
        let state = IssuerState {
            consecutive_failures: failure.consecutive_failures,
            retry_not_before: Some(failure.retry_not_before),
            last_attempt: Some(failure.last_attempt),
            last_error: Some(failure.last_error),
            ..IssuerState::default()
        };
        Self {
            state: RwLock::new(state),
            ..Self::default()
        }
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, IssuerState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, IssuerState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a caller that needs a fetch waits for one already in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// Wait for an in-flight fetch and use its outcome.
    Yes,
    /// If a fetch is in flight, return at once.
    No,
}

/// What a lookup does, decided from the state before any fetch.
#[derive(Debug)]
pub(super) enum Plan {
    /// The current set is fresh and has the key.
    Serve(Arc<VerifyingKey>),
    /// The set is fresh, lacks the `kid`, and a refetch is not allowed (inside the window, or
    /// backed off): fail fast.
    UnknownKid,
    /// The set is fresh and lacks the `kid`; a refetch is allowed: fetch (sharing one in
    /// flight), then [`IssuerState::settle`].
    RefetchForKid,
    /// No fresh set: fetch first unless backed off (`None`), waiting for one in flight only
    /// when there is nothing to serve meanwhile; then [`IssuerState::settle`].
    Reload(Option<Wait>),
}

/// A [`Plan`], whether to start a background refresh, and the generation it was decided at.
#[derive(Debug)]
pub(super) struct Decision {
    pub plan: Plan,
    pub refresh_ahead: bool,
    pub generation: u64,
}

/// A key [`IssuerState::settle`] serves.
#[derive(Debug)]
pub(super) struct Served {
    pub key: Arc<VerifyingKey>,
    /// Served past its set's expiry because refreshing fails (stale-if-error).
    pub stale: bool,
}

impl IssuerState {
    /// What a lookup of `kid` at `now` does.
    pub fn plan(&self, kid: &str, now: Instant, rules: &CacheRules) -> Decision {
        let (plan, refresh_ahead) = match &self.keys {
            Some(set) if now < set.expires_at => {
                let plan = match set.get(kid) {
                    Some(key) => Plan::Serve(key.clone()),
                    None if self.kid_refetch_allowed(now, rules) => Plan::RefetchForKid,
                    None => Plan::UnknownKid,
                };
                (plan, self.refresh_due(now))
            }
            current => {
                // With keys in hand (stale ones), do not queue behind a refresh in flight.
                let wait = if current.is_some() {
                    Wait::No
                } else {
                    Wait::Yes
                };
                let fetch = self.backoff_left(now).is_none().then_some(wait);
                (Plan::Reload(fetch), false)
            }
        };
        Decision {
            plan,
            refresh_ahead,
            generation: self.generation,
        }
    }

    /// The answer after any fetch: the key from a set still servable, `unknown_kid`, or
    /// `keys_unavailable`.
    pub fn settle(&self, kid: &str, now: Instant, rules: &CacheRules) -> Result<Served, KeysError> {
        let Some(set) = self.servable(now, rules) else {
            return Err(self.unavailable(now));
        };
        let key = set.get(kid).ok_or(KeysError::UnknownKid)?;
        Ok(Served {
            key: key.clone(),
            stale: now >= set.expires_at && self.last_error.is_some(),
        })
    }

    /// Whether lookups can be served keys at `now`: a set holding at least one usable key (or
    /// an on-demand set, which fetches each kid as tokens name it), within its lifetime or its
    /// stale-if-error bound. The one answer to "does this issuer have keys".
    pub fn has_keys(&self, now: Instant, rules: &CacheRules) -> bool {
        self.servable(now, rules)
            .is_some_and(|set| set.on_demand() || !set.is_empty())
    }

    /// The current set, unless it is past its expiry by more than `stale_if_error`.
    fn servable(&self, now: Instant, rules: &CacheRules) -> Option<&Arc<KeySet>> {
        self.keys
            .as_ref()
            .filter(|set| now < set.expires_at + rules.stale_if_error)
    }

    /// Whether a background refresh is due: the refresh-ahead point is reached (or nothing was
    /// ever loaded) and no failure backoff holds.
    pub fn refresh_due(&self, now: Instant) -> bool {
        self.backoff_left(now).is_none() && self.keys.as_ref().is_none_or(|s| now >= s.refresh_at)
    }

    /// What is left of the failure backoff, if one holds.
    pub fn backoff_left(&self, now: Instant) -> Option<Duration> {
        self.retry_not_before.filter(|t| now < *t).map(|t| t - now)
    }

    /// An unknown `kid` may refetch once `min_refresh_interval` has passed since the last
    /// completed fetch (for an on-demand set: the last fetch of a kid it did not hold), and
    /// never during a failure backoff.
    fn kid_refetch_allowed(&self, now: Instant, rules: &CacheRules) -> bool {
        let last = match &self.keys {
            Some(set) if set.on_demand() => self.last_kid_fetch,
            _ => self.last_attempt,
        };
        let window_passed = last.is_none_or(|t| now >= t + rules.min_refresh_interval);
        window_passed && self.backoff_left(now).is_none()
    }

    /// `keys_unavailable`, with the backoff left as the retry hint.
    pub fn unavailable(&self, now: Instant) -> KeysError {
        KeysError::Unavailable {
            retry_after: self.backoff_left(now).unwrap_or(FAILURE_BACKOFF_INITIAL),
            cause: self.last_error.clone().unwrap_or(RefreshError::NotFetched),
        }
    }

    /// The discovered JWK set URL while the discovery document is younger than `ttl`.
    pub fn fresh_discovery(&self, now: Instant, rules: &CacheRules) -> Option<(Url, Instant)> {
        self.discovered
            .clone()
            .filter(|(_, at)| now < *at + rules.ttl)
    }

    /// A fetch completed at `now` with a new (or revalidated) set.
    pub fn succeeded(&mut self, set: KeySet, discovered: Option<(Url, Instant)>, now: Instant) {
        self.completed(now);
        self.keys = Some(Arc::new(set));
        self.discovered = discovered;
        self.consecutive_failures = 0;
        self.retry_not_before = None;
        self.last_error = None;
    }

    /// A fetch failed at `now`: the current set is kept and the backoff grows (scaled by
    /// `jitter` in `[0, 1)`). Returns the failure, for an entry that may be evicted.
    pub fn failed(&mut self, error: RefreshError, now: Instant, jitter: f64) -> FailureRecord {
        self.completed(now);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let retry_not_before = now + failure_backoff(self.consecutive_failures, jitter);
        self.retry_not_before = Some(retry_not_before);
        self.last_error = Some(error.clone());
        FailureRecord {
            consecutive_failures: self.consecutive_failures,
            retry_not_before,
            last_attempt: now,
            last_error: error,
        }
    }

    fn completed(&mut self, now: Instant) {
        self.generation += 1;
        self.last_attempt = Some(now);
    }
}

/// Exponential backoff: 1 s, 2 s, 4 s, ... up to [`FAILURE_BACKOFF_MAX`], each scaled to
/// 50-100 % by `jitter` (in `[0, 1)`) so replicas do not retry in step.
pub(super) fn failure_backoff(consecutive_failures: u32, jitter: f64) -> Duration {
    let exponent = consecutive_failures.saturating_sub(1).min(16);
    let full = (FAILURE_BACKOFF_INITIAL * 2u32.pow(exponent)).min(FAILURE_BACKOFF_MAX);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A random number in `[0, 1)` for jitter: not a secret, so it comes from the standard
/// library's randomly keyed hasher (keys from the operating system, varied on every call)
/// rather than aws-lc's generator, whose first use costs about 30 ms of entropy gathering
/// (it showed as most of the time to ready with a plain-http issuer).
pub(super) fn random_fraction() -> f64 {
    use std::hash::BuildHasher as _;
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let rules = CacheRules {
            ttl: Duration::from_secs(3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(86_400),
            min_refresh_interval: Duration::from_secs(300),
            stale_if_error: Duration::from_secs(86_400),
        };
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
}
