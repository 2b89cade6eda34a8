//! [`Core::build`]: the verification core (issuers, key cache, verifier, metrics) without a
//! server, for `serve`, the CLI, the benches, the tests and any later listener.
//!
//! The core owns its background work: the startup preload of every configured issuer and the
//! refresher that keeps their keys fresh run as tasks held by the [`TaskGuard`], which stops them
//! when it is dropped or shut down. Nothing is detached.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::fetch::{AwcFetcher, FetchLimits, JsonFetcher};
use crate::issuer::{IssuerPolicy, TrustConfig, TrustConfigError, TrustedIssuers};
use crate::keys::{CacheRules, KeyStore, REFRESHER_TICK, SkipReason};
use crate::metrics::Metrics;
use crate::verify::{REASON_CODES, TokenCache, Verifier};

/// What the core is built from: the typed configuration of each part, parsed once by
/// [`crate::settings`] (or written directly by an embedder or a test).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Which issuers are trusted, and each one's policy.
    pub trust: TrustConfig,
    /// How long keys live and when they are refetched.
    pub cache: CacheRules,
    /// Most issuers whose keys are kept (configured ones always keep their place).
    pub max_issuers: u64,
    /// Every outbound limit.
    pub fetch: FetchLimits,
    /// The verified-token cache, if on.
    pub token_cache: Option<TokenCacheConfig>,
}

/// The verified-token cache's size and cap.
#[derive(Debug, Clone, Copy)]
pub struct TokenCacheConfig {
    /// Tokens remembered at most.
    pub capacity: u64,
    /// Longest a token is remembered (never past its `exp`).
    pub ttl: Duration,
}

/// Why the core could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An issuer of the configuration cannot be trusted as written.
    #[error("building the issuer allow-list")]
    Issuers(#[source] TrustConfigError),
    /// The fetch thread could not start.
    #[error("starting the fetch thread")]
    Fetcher(#[source] std::io::Error),
}

/// The built core. The verifier and metrics are shared (`Arc`); the guard owns the background
/// tasks.
pub struct Core {
    /// Token in, verified claims or a rejection out.
    pub verifier: Arc<Verifier>,
    /// Every metric, in its own registry.
    pub metrics: Arc<Metrics>,
    /// The preload and refresher tasks.
    pub tasks: TaskGuard,
}

impl Core {
    /// Builds the core, then starts preloading every configured issuer's keys and the refresher.
    /// `fetcher` `None` starts the real [`AwcFetcher`]. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// An issuer cannot be trusted as configured, or the fetch thread cannot start.
    pub fn build(
        config: CoreConfig,
        fetcher: Option<Arc<dyn JsonFetcher>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CoreError> {
        Self::build_from(config, fetcher, clock, None)
    }

    /// [`Core::build`] for a configuration reload: the running core's metrics are kept (and
    /// the series of issuers it already had are not reset), and the key cache entries of the
    /// issuers in `carry.unchanged` are shared with it, so their keys survive and are not
    /// preloaded again. Everything else is new: the allow-list, the other entries, the
    /// verified-token cache (a removed issuer's cached tokens go with it).
    ///
    /// # Errors
    /// As [`Core::build`].
    pub fn build_from(
        config: CoreConfig,
        fetcher: Option<Arc<dyn JsonFetcher>>,
        clock: Arc<dyn Clock>,
        carry: Option<Carry<'_>>,
    ) -> Result<Self, CoreError> {
        let metrics = carry
            .as_ref()
            .map_or_else(|| Arc::new(Metrics::new()), |c| c.metrics.clone());
        let issuers = TrustedIssuers::new(config.trust).map_err(CoreError::Issuers)?;
        let skips = SkipReason::ALL.map(SkipReason::label);
        let known = |issuer: &str| {
            carry
                .as_ref()
                .is_some_and(|c| c.keys.issuer_status(issuer).is_some())
        };
        for policy in issuers.configured().filter(|p| !known(&p.issuer)) {
            metrics.init_issuer(&policy.label, &REASON_CODES, &skips);
        }
        let fetcher = match fetcher {
            Some(fetcher) => fetcher,
            None => Arc::new(AwcFetcher::spawn(config.fetch.clone()).map_err(CoreError::Fetcher)?),
        };
        let keys = KeyStore::new(
            fetcher,
            clock.clone(),
            metrics.clone(),
            config.cache,
            config.fetch,
            config.max_issuers,
            issuers.configured().map(|p| p.issuer.clone()),
        );
        let (keys, carried) = match &carry {
            Some(c) => (
                keys.with_entries_from(c.keys, c.unchanged.iter().map(|i| &**i)),
                c.unchanged.clone(),
            ),
            None => (keys, Vec::new()),
        };
        let mut verifier = Verifier::new(issuers, keys);
        if let Some(cache) = config.token_cache {
            verifier = verifier.with_token_cache(TokenCache::new(cache.capacity, cache.ttl, clock));
        }
        let verifier = Arc::new(verifier);
        let tasks = TaskGuard::start(&verifier, &carried);
        Ok(Self {
            verifier,
            metrics,
            tasks,
        })
    }
}

/// What a reload carries over from the running core into [`Core::build_from`].
pub struct Carry<'a> {
    /// The running core's metrics, kept.
    pub metrics: Arc<Metrics>,
    /// The running core's key cache.
    pub keys: &'a KeyStore,
    /// Configured issuers whose key-relevant settings did not change: their entries are shared.
    pub unchanged: Vec<Arc<str>>,
}

/// Owns the core's background tasks and stops them when dropped (or on [`TaskGuard::shutdown`]).
pub struct TaskGuard {
    tasks: Vec<JoinHandle<()>>,
}

impl TaskGuard {
    /// Preloads every configured issuer but the `carried` ones (their keys came with a
    /// reload), and refreshes them all.
    fn start(verifier: &Arc<Verifier>, carried: &[Arc<str>]) -> Self {
        let configured: Vec<Arc<IssuerPolicy>> = verifier.issuers().configured().cloned().collect();
        let mut tasks: Vec<JoinHandle<()>> = configured
            .iter()
            .filter(|policy| !carried.contains(&policy.issuer))
            .map(|policy| {
                let (verifier, policy) = (verifier.clone(), policy.clone());
                tokio::spawn(async move {
                    verifier.keys().preload(&policy).await;
                    report_preload(&verifier, &policy);
                })
            })
            .collect();
        let keys = verifier.keys().clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESHER_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for policy in &configured {
                    keys.refresh_if_due(policy);
                }
            }
        }));
        Self { tasks }
    }

    /// Stops every task and waits until each has ended.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Logs one line for a configured issuer once its startup preload is done: the kids and age
/// of its keys, or why it has none (and what that means for `/verify`).
fn report_preload(verifier: &Verifier, policy: &IssuerPolicy) {
    let Some(status) = verifier.keys().issuer_status(&policy.issuer) else {
        return;
    };
    if status.has_keys {
        tracing::info!(
            issuer = %policy.label,
            kids = %status.kids.join(","),
            age_secs = status.age.map_or(0, |age| age.as_secs()),
            "issuer keys loaded"
        );
    } else {
        let why = status.last_error.map_or_else(
            || "the JWK set has no usable key".to_string(),
            |e| e.to_string(),
        );
        tracing::warn!(
            issuer = %policy.label,
            error = %why,
            "issuer keys not loaded: its tokens get 503 keys_unavailable until a fetch succeeds"
        );
    }
}
