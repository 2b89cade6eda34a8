//! [`KeyStore::refresh_all`]: the emergency refresh behind `POST /issuers/refresh`, bounded so
//! that no issuer can stall it.
//!
//! Issuers are refreshed concurrently, at most [`REFRESH_ALL_CONCURRENCY`] at a time, configured
//! issuers first, and the whole call gives up after [`REFRESH_ALL_FETCH_TIMEOUTS`] fetch
//! timeouts: a tarpit tenant admitted through a pattern can occupy one slot for one fetch timeout
//! at a time, never delay a configured issuer nor hold the call past its limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{KeyStore, RefreshError};
use crate::issuer::IssuerPolicy;

/// Issuers refreshed at the same time by [`KeyStore::refresh_all`]: enough that a handful of
/// slow issuers leave room for the rest, few enough not to flood the fetcher (whose queue holds
/// 256) or the issuers.
pub const REFRESH_ALL_CONCURRENCY: usize = 8;

/// [`KeyStore::refresh_all`] returns after at most this many fetch timeouts
/// (`fetch.timeout_secs`, plus a 500 ms slack, each): enough for an issuer
/// started at once to fetch its discovery document and then its JWK set. With the default 5 s
/// timeout: 11 s. Issuers not done by then are reported as timed out.
pub const REFRESH_ALL_FETCH_TIMEOUTS: u32 = 2;

/// Added to each fetch timeout in [`KeyStore::refresh_all_time_limit`], so that a fetch the
/// fetcher cuts off at its timeout is reported as failed (with the fetcher's reason), not as
/// timed out here.
const REFRESH_ALL_SLACK_PER_FETCH: Duration = Duration::from_millis(500);

/// What an emergency refresh did for one issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Fetched: the issuer's current keys are what it serves now.
    Refreshed,
    /// The fetch failed (the previous keys, if any, are kept).
    Failed(RefreshError),
    /// Not done within the time limit (its previous keys, if any, are kept).
    TimedOut {
        /// Whether its refresh had started (else every slot was busy until the limit).
        started: bool,
    },
}

impl KeyStore {
    /// The time limit of [`KeyStore::refresh_all`].
    pub fn refresh_all_time_limit(&self) -> Duration {
        (self.inner.limits.timeout + REFRESH_ALL_SLACK_PER_FETCH) * REFRESH_ALL_FETCH_TIMEOUTS
    }

    /// Refetches every given issuer's keys now (like [`KeyStore::force_refresh`]), configured
    /// issuers first, [`REFRESH_ALL_CONCURRENCY`] at a time, within
    /// [`KeyStore::refresh_all_time_limit`]. Returns one outcome per issuer, configured ones
    /// first, otherwise in the given order. Refreshes still running at the limit are cancelled
    /// (their tasks are owned here and aborted), which leaves their cache entry as it was.
    /// Must run inside a tokio runtime.
    pub async fn refresh_all(
        &self,
        mut policies: Vec<Arc<IssuerPolicy>>,
    ) -> Vec<(Arc<IssuerPolicy>, RefreshOutcome)> {
        policies.sort_by_key(|p| !p.configured);
        let deadline = tokio::time::Instant::now() + self.refresh_all_time_limit();
        let mut outcomes: Vec<Option<RefreshOutcome>> = vec![None; policies.len()];
        let mut started = vec![false; policies.len()];
        let mut queue = policies.iter().cloned().enumerate();
        let mut running = tokio::task::JoinSet::new();
        let mut index_of = HashMap::new();
        loop {
            while running.len() < REFRESH_ALL_CONCURRENCY
                && let Some((index, policy)) = queue.next()
            {
                let store = self.clone();
                let task = running.spawn(async move { store.force_refresh(&policy).await });
                index_of.insert(task.id(), index);
                started[index] = true;
            }
            let joined = match tokio::time::timeout_at(deadline, running.join_next_with_id()).await
            {
                Ok(Some(joined)) => joined,
                Ok(None) | Err(_) => break,
            };
            let (id, outcome) = match joined {
                Ok((id, Ok(()))) => (id, RefreshOutcome::Refreshed),
                Ok((id, Err(error))) => (id, RefreshOutcome::Failed(error)),
                // A panicking refresh is a bug; it is reported as not done, not as a success.
                Err(error) => {
                    tracing::error!(error = %error, "an emergency refresh task failed");
                    continue;
                }
            };
            if let Some(index) = index_of.get(&id) {
                outcomes[*index] = Some(outcome);
            }
        }
        running.abort_all();
        policies
            .into_iter()
            .zip(outcomes)
            .zip(started)
            .map(|((policy, outcome), started)| {
                (
                    policy,
                    outcome.unwrap_or(RefreshOutcome::TimedOut { started }),
                )
            })
            .collect()
    }
}
