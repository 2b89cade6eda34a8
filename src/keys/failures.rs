//! [`RecentFailures`]: the backoff of failing issuers admitted by a pattern or
//! `allow_any_issuer`, kept apart from their LRU cache entry so that eviction (by other
//! issuers, possibly an attacker's) does not reset it.
//!
//! Without it, an evicted failing issuer gets a fresh entry on its next token, with no backoff:
//! one more fetch to an issuer that is down, per eviction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::RefreshError;

/// Failing dynamic issuers remembered at most. When full, records whose backoff has passed go
/// first, then the one whose backoff ends soonest. About 200 bytes each.
pub const MAX_REMEMBERED_FAILURES: usize = 1024;

/// The backoff state of one failing issuer, as it was when its last fetch failed.
#[derive(Debug, Clone)]
pub(super) struct FailureRecord {
    /// Consecutive failed fetches (the backoff doubles with each).
    pub consecutive_failures: u32,
    /// No fetch before this instant.
    pub retry_not_before: Instant,
    /// When the last (failed) attempt completed.
    pub last_attempt: Instant,
    /// Why it failed.
    pub last_error: RefreshError,
}

/// A small bounded map: issuer -> [`FailureRecord`]. Shared by all workers behind a
/// `std::sync::Mutex` (never held across an `.await`; every operation is short).
#[derive(Debug)]
pub(super) struct RecentFailures {
    capacity: usize,
    records: Mutex<HashMap<Arc<str>, FailureRecord>>,
}

impl RecentFailures {
    /// An empty map holding at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// Records the issuer's latest failure, evicting another record if full.
    pub fn remember(&self, issuer: &Arc<str>, record: FailureRecord, now: Instant) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() >= self.capacity && !records.contains_key(issuer) {
            records.retain(|_, r| r.retry_not_before > now);
            if records.len() >= self.capacity
                && let Some(soonest) = records
                    .iter()
                    .min_by_key(|(_, r)| r.retry_not_before)
                    .map(|(issuer, _)| issuer.clone())
            {
                records.remove(&soonest);
            }
        }
        if self.capacity > 0 {
            records.insert(issuer.clone(), record);
        }
    }

    /// The issuer's last failure, if it is remembered (its backoff may have passed: the
    /// failure count still makes the next backoff longer).
    pub fn recall(&self, issuer: &str) -> Option<FailureRecord> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.get(issuer).cloned()
    }

    /// Forgets the issuer (its fetch succeeded).
    pub fn forget(&self, issuer: &str) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.remove(issuer);
    }

    /// Records held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn record(now: Instant, backoff_secs: u64) -> FailureRecord {
        FailureRecord {
            consecutive_failures: 1,
            retry_not_before: now + Duration::from_secs(backoff_secs),
            last_attempt: now,
            last_error: RefreshError::NotFetched,
        }
    }

    #[test]
    fn the_map_is_bounded_and_drops_passed_backoffs_then_the_soonest_first() {
        let now = Instant::now();
        let failures = RecentFailures::new(3);
        let issuer = |name: &str| Arc::<str>::from(name);
        failures.remember(&issuer("a"), record(now, 10), now);
        failures.remember(&issuer("b"), record(now, 30), now);
        failures.remember(&issuer("c"), record(now, 20), now);
        failures.remember(&issuer("d"), record(now, 40), now);
        assert_eq!(failures.len(), 3);
        assert!(failures.recall("a").is_none(), "the soonest deadline went");

        let later = now + Duration::from_secs(25);
        failures.remember(&issuer("e"), record(later, 5), later);
        assert!(
            failures.recall("c").is_none(),
            "a passed backoff went first"
        );
        assert!(failures.recall("b").is_some() && failures.recall("d").is_some());

        failures.remember(&issuer("b"), record(later, 60), later);
        assert_eq!(failures.len(), 3, "updating a record evicts nothing");
        failures.forget("b");
        assert!(failures.recall("b").is_none());
    }
}
