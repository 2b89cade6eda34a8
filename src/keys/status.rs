//! What the cache holds per issuer, for the admin API, readiness, metrics and the CLI.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::state::IssuerEntry;
use super::{KeyStore, RefreshError};

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
    /// Whether lookups are served keys now: the current set holds a usable key and is within
    /// its lifetime or its stale-if-error bound. The one answer to "does this issuer have
    /// keys" (readiness, the startup report, `check-config --probe`).
    pub has_keys: bool,
    /// The URL the current set came from.
    pub jwks_uri: Option<Url>,
    /// The last fetch failure, if the last attempt failed.
    pub last_error: Option<RefreshError>,
    /// Completed fetch attempts (successful or not).
    pub fetch_attempts: u64,
}

impl KeyStore {
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

    pub(super) fn status_of(&self, entry: &IssuerEntry) -> IssuerStatus {
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
            has_keys: state.has_keys(now, &self.inner.rules),
            jwks_uri: set.map(|s| s.jwks_uri.clone()),
            last_error: state.last_error.clone(),
            fetch_attempts: state.generation,
        }
    }
}
