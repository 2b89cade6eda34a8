//! [`DynamicIssuers`]: the cache entries of issuers admitted by a pattern or
//! `allow_any_issuer`, which anyone can name, so they are bounded and eviction is expected.
//!
//! - They live in a bounded LRU (moka) holding what is left of `max_issuers` after the
//!   configured issuers; concurrent first lookups of one issuer share one entry (moka coalesces
//!   its creation).
//! - An evicted entry that is still in use (a fetch in flight, lookups waiting for it) is found
//!   again through a weak reference and put back, so eviction never splits an issuer into two
//!   entries fetching at once: single-flight holds however the LRU churns.
//! - A failing issuer's backoff is also kept in [`RecentFailures`] and seeds a re-created entry,
//!   so eviction never buys another fetch to an issuer that is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::failures::{FailureRecord, MAX_REMEMBERED_FAILURES, RecentFailures};
use super::state::IssuerEntry;

/// The weak-reference map is swept of dead entries once it holds this many (or twice as many
/// as after the last sweep), so it stays proportional to the entries alive.
const LIVE_SWEEP_MIN: usize = 64;

/// See the module docs. Shared by all workers (`Send + Sync`); the `std::sync::Mutex`es are
/// never held across an `.await` and only for map operations.
pub(super) struct DynamicIssuers {
    lru: moka::sync::Cache<Arc<str>, Arc<IssuerEntry>>,
    live: Mutex<Live>,
    failures: RecentFailures,
}

struct Live {
    entries: HashMap<Arc<str>, Weak<IssuerEntry>>,
    sweep_at: usize,
}

impl DynamicIssuers {
    /// Room for `capacity` issuers in the LRU.
    pub fn new(capacity: u64) -> Self {
        Self {
            lru: moka::sync::Cache::new(capacity),
            live: Mutex::new(Live {
                entries: HashMap::new(),
                sweep_at: LIVE_SWEEP_MIN,
            }),
            failures: RecentFailures::new(MAX_REMEMBERED_FAILURES),
        }
    }

    /// The issuer's entry: cached, still alive since its eviction, or new (with the backoff of
    /// a remembered failure).
    pub fn entry(&self, issuer: &Arc<str>) -> Arc<IssuerEntry> {
        self.lru
            .get_with(issuer.clone(), || self.revive_or_create(issuer))
    }

    fn revive_or_create(&self, issuer: &Arc<str>) -> Arc<IssuerEntry> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = live.entries.get(issuer).and_then(Weak::upgrade) {
            return entry;
        }
        let entry = Arc::new(
            self.failures
                .recall(issuer)
                .map_or_else(IssuerEntry::default, IssuerEntry::after_failure),
        );
        if live.entries.len() >= live.sweep_at {
            live.entries.retain(|_, weak| weak.strong_count() > 0);
            live.sweep_at = (live.entries.len() * 2).max(LIVE_SWEEP_MIN);
        }
        live.entries.insert(issuer.clone(), Arc::downgrade(&entry));
        entry
    }

    /// Records a failed fetch, to outlive the entry.
    pub fn failed(&self, issuer: &Arc<str>, record: FailureRecord, now: Instant) {
        self.failures.remember(issuer, record, now);
    }

    /// Forgets the issuer's failures (a fetch succeeded).
    pub fn succeeded(&self, issuer: &str) {
        self.failures.forget(issuer);
    }

    /// The cached entries.
    pub fn iter(&self) -> impl Iterator<Item = (Arc<str>, Arc<IssuerEntry>)> + '_ {
        self.lru
            .iter()
            .map(|(issuer, entry)| ((*issuer).clone(), entry))
    }

    /// Evicts the issuer's entry now, as LRU pressure would.
    #[cfg(test)]
    pub fn evict(&self, issuer: &str) {
        self.lru.invalidate(issuer);
        self.lru.run_pending_tasks();
    }

    /// The issuer's remembered failure.
    #[cfg(test)]
    pub fn remembered_failure(&self, issuer: &str) -> Option<FailureRecord> {
        self.failures.recall(issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evicted_entry_still_in_use_is_revived_not_duplicated() {
        let issuers = DynamicIssuers::new(4);
        let issuer: Arc<str> = Arc::from("https://a.example");
        let in_use = issuers.entry(&issuer);

        issuers.evict(&issuer);

        assert!(Arc::ptr_eq(&in_use, &issuers.entry(&issuer)));
        let other: Arc<str> = Arc::from("https://b.example");
        assert!(!Arc::ptr_eq(&in_use, &issuers.entry(&other)));
    }

    #[test]
    fn dead_weak_references_are_swept() {
        let issuers = DynamicIssuers::new(1);
        for i in 0..10 * LIVE_SWEEP_MIN {
            let issuer: Arc<str> = Arc::from(format!("https://{i}.example"));
            drop(issuers.entry(&issuer));
            issuers.evict(&issuer);
        }
        let live = issuers.live.lock().unwrap().entries.len();
        assert!(live <= LIVE_SWEEP_MIN, "{live}");
    }
}
