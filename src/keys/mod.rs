//! The key cache: discovery -> JWK set -> usable keys, per issuer, shared by all workers.
//!
//! # Rules (pyjwt-key-fetcher's, with its weaknesses fixed)
//! - An issuer's keys are fetched lazily (or preloaded at startup). A set lives for the JWK set
//!   response's `Cache-Control: max-age`, clamped to `[min_ttl_secs, max_ttl_secs]`
//!   (`no-store`/`no-cache`: the minimum), or for `ttl_secs` without one. The discovery
//!   document is fetched again once per `ttl_secs`.
//! - Keys are refreshed ahead of expiry, in the background, at a jittered 75-90 % of their
//!   lifetime (by the first lookup past that point, or by the refresher task when idle), with
//!   `If-None-Match` when the issuer sent an `ETag`; a `304` keeps the keys for a new lifetime.
//!   No request waits for a routine refresh.
//! - A `kid` not in the current set refetches the JWK set, unless a fetch completed within
//!   `min_refresh_interval_secs`; inside that window the lookup fails fast with `unknown_kid`.
//! - The refetched set replaces the old one: a key that left the set stops verifying at once.
//! - Fetches are single-flight per issuer: concurrent lookups that need the same fetch wait for
//!   the one in flight (bounded by the fetcher's timeout) and share its outcome.
//! - A failed fetch is remembered: the issuer is not contacted again until an exponential,
//!   jittered backoff has passed, and meanwhile lookups get the last good keys (for up to
//!   `stale_if_error_secs` past their expiry) or `keys_unavailable` with a retry hint. For an
//!   issuer admitted by a pattern or `allow_any_issuer` the backoff outlives its cache entry
//!   (`dynamic.rs`): evicting it does not buy another fetch.
//! - Redirects are followed only up to `max_redirects` hops, a JWK set only from the issuer's
//!   `jwks_hosts`. Every hop goes back through the fetcher, the one home of the outbound limits
//!   (scheme, addresses, body size, timeout): the cache does not repeat them.
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
//! serializes fetches; a fetch bumps the entry's generation, so a caller that waited for the
//! lock knows whether the fetch it needed has happened meanwhile.
//!
//! # Files
//! This file is the API. `state.rs`: the entry and every decision taken from it (pure, given
//! the time). `load.rs`: discovery, JWK set, redirects, `jwks_hosts`, `ETag`. `status.rs`:
//! what the admin API shows. `discovery.rs`, `jwks.rs`, `json.rs`: reading the documents.
//! `local.rs`, `pem.rs`: keys from local files (`jwks_file`, `public_key_files`), no network.
//! `per_kid.rs`: keys fetched one `kid` at a time from a key URL (`key_url`, AWS ALB).
//! `dynamic.rs`, `failures.rs`: the bounded entries of open issuers. `emergency.rs`:
//! [`KeyStore::refresh_all`].

mod discovery;
mod dynamic;
mod emergency;
mod error;
mod failures;
mod json;
pub mod jwks;
mod load;
mod local;
mod pem;
mod per_kid;
mod signature;
mod state;
mod status;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use discovery::{DiscoveryError, IssuerMember, jwks_uri_from_discovery};
pub use emergency::{REFRESH_ALL_CONCURRENCY, REFRESH_ALL_FETCH_TIMEOUTS, RefreshOutcome};
pub use error::{KeysError, RefreshError};
pub use failures::MAX_REMEMBERED_FAILURES;
pub use json::{JsonError, MAX_JSON_DEPTH, check_json_depth};
pub use jwks::{JwksError, SkipReason, VerifyingKey, parse_jwk_set};
pub use local::{LOCAL_KEYS_LIFETIME, LocalKeysError};
pub use pem::{MAX_PEM_BYTES, PemError, jwk_from_pem};
pub use per_kid::{KeyUrlError, MAX_KEY_URL_KEYS};
pub use signature::SignatureKeys;
pub use state::{
    CacheRules, FAILURE_BACKOFF_INITIAL, FAILURE_BACKOFF_MAX, REFRESH_AHEAD_AT,
    REFRESH_AHEAD_JITTER,
};
pub use status::IssuerStatus;

use crate::clock::Clock;
use crate::fetch::{FetchLimits, JsonFetcher};
use crate::issuer::{IssuerPolicy, KeySource, is_url_safe_kid};
use crate::metrics::Metrics;

use dynamic::DynamicIssuers;
use state::{IssuerEntry, Plan, Wait, random_fraction};

/// How often the background refresher looks for configured issuers due for a refresh (or a
/// retry after a failure).
pub const REFRESHER_TICK: Duration = Duration::from_secs(1);

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

impl KeyStore {
    /// Creates the cache. `configured` issuers get permanent entries; up to
    /// `max_issuers - configured` other issuers are kept in an LRU. Of `limits`, the cache
    /// reads `max_redirects` (its redirect policy) and `timeout` (to bound
    /// [`KeyStore::refresh_all`]); `fetcher` enforces the rest.
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

    /// Shares the entries (keys, fetch state, backoff) of these configured issuers with
    /// `previous`, for a configuration reload in which their settings did not change: their
    /// keys survive the reload and are not fetched again. Only before the store is shared
    /// (right after [`KeyStore::new`]); issuers not configured in both stores are skipped.
    pub fn with_entries_from<'a>(
        mut self,
        previous: &KeyStore,
        issuers: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            for issuer in issuers {
                if let (Some(slot), Some(entry)) = (
                    inner.configured.get_mut(issuer),
                    previous.inner.configured.get(issuer),
                ) {
                    *slot = entry.clone();
                }
            }
        }
        self
    }

    /// The fetcher (a reload with unchanged `[fetch]` settings reuses it).
    pub fn fetcher(&self) -> &Arc<dyn JsonFetcher> {
        &self.inner.fetcher
    }

    /// The key `kid` of the issuer, fetching or refetching as the rules allow.
    pub async fn get_key(
        &self,
        policy: &Arc<IssuerPolicy>,
        kid: &str,
    ) -> Result<Arc<VerifyingKey>, KeysError> {
        let inner = &*self.inner;
        if matches!(policy.key_source, KeySource::KeyUrl(_)) && !is_url_safe_kid(kid) {
            return Err(KeysError::InvalidKid);
        }
        let entry = self.entry(policy);
        let decision = entry.read().plan(kid, inner.clock.now(), &inner.rules);
        if decision.refresh_ahead {
            self.refresh_in_background(&entry, policy, decision.generation);
        }
        let fetch = match decision.plan {
            Plan::Serve(key) => {
                self.count_lookup("hit");
                return Ok(key);
            }
            Plan::UnknownKid => {
                self.count_lookup("miss");
                return Err(KeysError::UnknownKid);
            }
            Plan::RefetchForKid => {
                tracing::debug!(issuer = %policy.label, "unknown kid: refetching the JWK set");
                Some(Wait::Yes)
            }
            Plan::Reload(fetch) => fetch,
        };
        self.count_lookup("miss");
        if let Some(wait) = fetch {
            self.refresh(&entry, policy, decision.generation, wait, Some(kid))
                .await;
        }
        let served = entry.read().settle(kid, inner.clock.now(), &inner.rules)?;
        if served.stale {
            inner
                .metrics
                .stale_keys_served
                .with_label_values(&[&policy.label])
                .inc();
        }
        Ok(served.key)
    }

    /// Fetches the issuer's keys now, even if they are fresh (emergency rotation, probes).
    /// Waits for a fetch already in flight instead of starting a second one, and returns the
    /// outcome of the fetch it ran or waited for.
    pub async fn force_refresh(&self, policy: &IssuerPolicy) -> Result<(), RefreshError> {
        self.refresh_now(&self.entry(policy), policy).await
    }

    /// [`KeyStore::force_refresh`] at startup. Returns whether the issuer has keys afterwards
    /// ([`IssuerStatus::has_keys`]); a failure is logged where it happens and kept in
    /// [`IssuerStatus::last_error`].
    pub async fn preload(&self, policy: &IssuerPolicy) -> bool {
        let entry = self.entry(policy);
        let _outcome = self.refresh_now(&entry, policy).await;
        entry
            .read()
            .has_keys(self.inner.clock.now(), &self.inner.rules)
    }

    /// Refreshes the issuer in the background if its keys are due (refresh-ahead point reached,
    /// or never loaded) and no backoff holds. The core's refresher task calls it every
    /// [`REFRESHER_TICK`] for each configured issuer.
    pub fn refresh_if_due(&self, policy: &Arc<IssuerPolicy>) {
        let entry = self.entry(policy);
        let (due, generation) = {
            let state = entry.read();
            (state.refresh_due(self.inner.clock.now()), state.generation)
        };
        if due {
            self.refresh_in_background(&entry, policy, generation);
        }
    }

    fn entry(&self, policy: &IssuerPolicy) -> Arc<IssuerEntry> {
        if let Some(entry) = self.inner.configured.get(&policy.issuer) {
            return entry.clone();
        }
        self.inner.dynamic.entry(&policy.issuer)
    }

    fn count_lookup(&self, result: &str) {
        self.inner
            .metrics
            .key_cache_lookups
            .with_label_values(&[result])
            .inc();
    }

    /// Runs (or waits for) one fetch and returns its outcome.
    async fn refresh_now(
        &self,
        entry: &IssuerEntry,
        policy: &IssuerPolicy,
    ) -> Result<(), RefreshError> {
        let generation = entry.read().generation;
        self.refresh(entry, policy, generation, Wait::Yes, None)
            .await;
        entry.read().last_error.clone().map_or(Ok(()), Err)
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
            store
                .refresh(&entry, &policy, generation, Wait::No, None)
                .await;
            entry.background_scheduled.store(false, Ordering::Release);
        });
    }

    /// Runs one fetch for the entry, unless the fetch this caller saw the need for
    /// (`seen_generation`) has already completed while it waited. `kid` is the kid a lookup
    /// did not find (a key URL issuer fetches it).
    async fn refresh(
        &self,
        entry: &IssuerEntry,
        policy: &IssuerPolicy,
        seen_generation: u64,
        wait: Wait,
        kid: Option<&str>,
    ) {
        let _guard = match wait {
            Wait::Yes => entry.fetch_lock.lock().await,
            Wait::No => match entry.fetch_lock.try_lock() {
                Ok(guard) => guard,
                Err(_) => return,
            },
        };
        let inner = &*self.inner;
        let (discovered, previous) = {
            let state = entry.read();
            if state.generation != seen_generation {
                return;
            }
            let discovered = state.fresh_discovery(inner.clock.now(), &inner.rules);
            (discovered, state.keys.clone())
        };
        // A key URL issuer fetches a kid it does not hold: that starts its refetch window.
        let unseen_kid = matches!(policy.key_source, KeySource::KeyUrl(_))
            && kid.is_some_and(|kid| previous.as_ref().is_none_or(|p| p.get(kid).is_none()));
        let result = self
            .load(policy, discovered, previous.as_deref(), kid)
            .await;
        let now = inner.clock.now();
        let dynamic = !inner.configured.contains_key(&policy.issuer);
        if unseen_kid {
            entry.write().last_kid_fetch = Some(now);
        }
        match result {
            Ok((set, discovered)) => {
                tracing::info!(issuer = %policy.label, keys = set.len(), jwks_uri = %set.jwks_uri(), "loaded issuer keys");
                entry.write().succeeded(set, discovered, now);
                if dynamic {
                    inner.dynamic.succeeded(&policy.issuer);
                }
            }
            Err(error) => {
                let failure = entry.write().failed(error, now, random_fraction());
                let retry_in = failure.retry_not_before - now;
                tracing::warn!(issuer = %policy.label, error = %failure.last_error, retry_in = ?retry_in, "fetching issuer keys failed");
                if dynamic {
                    inner.dynamic.failed(&policy.issuer, failure, now);
                }
            }
        }
    }
}
