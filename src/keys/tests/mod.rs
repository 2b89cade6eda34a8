//! The key cache's state machine, driven directly: an in-memory issuer ([`ScriptedIssuer`])
//! and the manual clock, no HTTP. The same rules are tested over real sockets in
//! `tests/api/cache.rs`.

mod scripted;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, Validation};
use url::Url;

use super::*;
use crate::clock::ManualClock;
use crate::fetch::{CacheHeaders, FetchError};
use crate::issuer::KeySource;
use crate::issuer::SUPPORTED_ALGORITHMS;
use scripted::{Request, Route, ScriptedIssuer};

const ISSUER: &str = "https://id.example";
const DISCOVERY: &str = "https://id.example/.well-known/openid-configuration";
const JWKS: &str = "https://id.example/jwks";
const TTL: Duration = Duration::from_secs(3600);
const MIN_REFRESH: Duration = Duration::from_secs(300);
const STALE_IF_ERROR: Duration = Duration::from_secs(600);

/// A key store over a scripted issuer that publishes `kids`, its clock and metrics.
struct Cache {
    store: KeyStore,
    issuer: Arc<ScriptedIssuer>,
    clock: Arc<ManualClock>,
    metrics: Arc<Metrics>,
    policy: Arc<IssuerPolicy>,
}

impl Cache {
    /// `ISSUER` configured, publishing `kids`, nothing fetched yet.
    fn cold(kids: &[&str]) -> Self {
        Self::build(true, 32, 0, kids)
    }

    /// [`Cache::cold`], then preloaded: one discovery and one JWK set fetch done.
    async fn warm(kids: &[&str]) -> Self {
        let cache = Self::cold(kids);
        assert!(cache.store.preload(&cache.policy).await);
        assert_eq!(cache.fetches(), (1, 1));
        cache
    }

    /// `ISSUER` admitted by `allow_any_issuer` (not configured), with room for `room` such
    /// issuers, down (HTTP 500) and answering after `delay`.
    fn down_and_open(room: u64, delay: Duration) -> Self {
        let cache = Self::build(false, room, 0, &[]);
        cache.issuer.fail(DISCOVERY, 500);
        cache.issuer.slow_down(delay);
        cache
    }

    fn build(configured: bool, max_issuers: u64, max_redirects: u8, kids: &[&str]) -> Self {
        let issuer = Arc::new(ScriptedIssuer::default());
        issuer.json(
            DISCOVERY,
            format!(r#"{{"issuer":"{ISSUER}","jwks_uri":"{JWKS}"}}"#),
        );
        issuer.json(JWKS, jwk_set(kids));
        let clock = Arc::new(ManualClock::new());
        let metrics = Arc::new(Metrics::new());
        let rules = CacheRules {
            ttl: TTL,
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(86_400),
            min_refresh_interval: MIN_REFRESH,
            stale_if_error: STALE_IF_ERROR,
        };
        let limits = FetchLimits {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 1 << 20,
            https_only: true,
            allow_private_addresses: false,
            max_redirects,
            allowed_networks: Vec::new(),
            trust: Default::default(),
            proxy: Default::default(),
        };
        let configured_issuers = configured.then(|| Arc::from(ISSUER));
        let store = KeyStore::new(
            issuer.clone(),
            clock.clone(),
            metrics.clone(),
            rules,
            limits,
            max_issuers,
            configured_issuers,
        );
        Self {
            store,
            issuer,
            clock,
            metrics,
            policy: policy(configured),
        }
    }

    async fn get(&self, kid: &str) -> Result<Arc<VerifyingKey>, KeysError> {
        self.store.get_key(&self.policy, kid).await
    }

    /// (discovery fetches, JWK set fetches).
    fn fetches(&self) -> (usize, usize) {
        (self.issuer.hits(DISCOVERY), self.issuer.hits(JWKS))
    }

    fn publish(&self, kids: &[&str]) {
        self.issuer.json(JWKS, jwk_set(kids));
    }

    fn status(&self) -> IssuerStatus {
        let statuses = self.store.statuses();
        statuses
            .into_iter()
            .find(|(issuer, _)| &**issuer == ISSUER)
            .expect("the issuer has an entry")
            .1
    }

    /// Waits (real time, bounded) until `done` holds: for background refreshes.
    async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        for _ in 0..2000 {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting until {what}");
    }
}

/// The issuer's policy, built directly (as `issuer` builds it from its configuration).
fn policy(configured: bool) -> Arc<IssuerPolicy> {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.algorithms = SUPPORTED_ALGORITHMS.to_vec();
    Arc::new(IssuerPolicy {
        issuer: Arc::from(ISSUER),
        label: Arc::from(if configured { ISSUER } else { "other" }),
        configured,
        key_source: KeySource::Discovery(Url::parse(DISCOVERY).unwrap()),
        algorithms: SUPPORTED_ALGORITHMS.to_vec(),
        audiences: Vec::new(),
        required_claims: Vec::new(),
        required_scopes: Vec::new(),
        headers: Vec::new(),
        jwks_hosts: None,
        discovery_issuer: crate::issuer::IssuerMember::Required,
        audience_claim: None,
        token_type: None,
        ca_file: None,
        allow_private_addresses: false,
        fetch_token_file: None,
        signer: None,
        padding: crate::token::Padding::Refused,
        validation,
    })
}

/// A JWK set with one P-256 key per kid (the same public point: only the kids matter here).
fn jwk_set(kids: &[&str]) -> String {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    static POINT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let point = POINT.get_or_init(|| {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        pair.public_key().as_ref().to_vec()
    });
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..]),
    );
    let keys: Vec<String> = kids
        .iter()
        .map(|kid| format!(r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","x":"{x}","y":"{y}"}}"#))
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn unavailable_cause(answer: Result<Arc<VerifyingKey>, KeysError>) -> (Duration, RefreshError) {
    match answer {
        Err(KeysError::Unavailable { retry_after, cause }) => (retry_after, cause),
        other => panic!("expected keys_unavailable, got {other:?}"),
    }
}

fn http_500(url: &str) -> RefreshError {
    RefreshError::Fetch(FetchError::Status {
        url: url.to_string(),
        status: 500,
    })
}

#[tokio::test]
async fn fresh_keys_are_served_without_a_fetch() {
    let cache = Cache::warm(&["a"]).await;

    for step in [Duration::ZERO, TTL / 2, TTL.mul_f64(0.24)] {
        cache.clock.advance(step);
        assert_eq!(cache.get("a").await.unwrap().kid, "a");
    }

    assert_eq!(cache.fetches(), (1, 1));
    let hits = cache.metrics.key_cache_lookups.with_label_values(&["hit"]);
    assert_eq!(hits.get(), 3);
}

#[tokio::test]
async fn the_refresh_ahead_point_starts_one_background_refresh_and_the_old_keys_keep_serving() {
    let cache = Cache::warm(&["a"]).await;
    cache.publish(&["b"]);
    cache.issuer.slow_down(Duration::from_millis(50));
    cache.clock.advance(TTL.mul_f64(0.7));
    assert!(cache.get("a").await.is_ok());
    assert_eq!(
        cache.fetches(),
        (1, 1),
        "not due before 75 % of the lifetime"
    );

    cache.clock.advance(TTL.mul_f64(0.21));
    for _ in 0..10 {
        assert!(cache.get("a").await.is_ok(), "no lookup waits for it");
    }
    cache
        .until("the refresh is in flight", |c| c.fetches().1 == 2)
        .await;
    assert!(
        cache.get("a").await.is_ok(),
        "the old keys serve while it runs"
    );
    cache
        .until("the refresh is done", |c| c.status().fetch_attempts == 2)
        .await;

    assert_eq!(
        cache.fetches(),
        (1, 2),
        "one refresh, discovery still fresh"
    );
    assert_eq!(cache.get("b").await.unwrap().kid, "b");
    assert_eq!(cache.get("a").await.unwrap_err(), KeysError::UnknownKid);
}

#[tokio::test]
async fn an_unknown_kid_inside_the_window_fails_fast_without_a_fetch() {
    let cache = Cache::warm(&["a"]).await;
    cache.publish(&["a", "b"]);

    assert_eq!(cache.get("b").await.unwrap_err(), KeysError::UnknownKid);
    cache.clock.advance(MIN_REFRESH - Duration::from_secs(1));
    assert_eq!(cache.get("b").await.unwrap_err(), KeysError::UnknownKid);

    assert_eq!(cache.fetches(), (1, 1));
}

#[tokio::test]
async fn an_unknown_kid_outside_the_window_refetches_the_set_once() {
    let cache = Cache::warm(&["a"]).await;
    cache.publish(&["a", "b"]);
    cache.clock.advance(MIN_REFRESH);

    assert_eq!(cache.get("b").await.unwrap().kid, "b");
    assert_eq!(cache.fetches(), (1, 2));

    assert_eq!(
        cache.get("c").await.unwrap_err(),
        KeysError::UnknownKid,
        "the refetch opened a new window"
    );
    assert_eq!(cache.fetches(), (1, 2));
}

#[tokio::test]
async fn a_failed_fetch_is_not_retried_before_its_backoff_elapses_and_is_retried_once_after() {
    let cache = Cache::cold(&["a"]);
    cache.issuer.fail(DISCOVERY, 500);

    let (retry_after, cause) = unavailable_cause(cache.get("a").await);
    assert!(
        (FAILURE_BACKOFF_INITIAL / 2..=FAILURE_BACKOFF_INITIAL).contains(&retry_after),
        "{retry_after:?}"
    );
    assert_eq!(cause, http_500(DISCOVERY));
    assert!(cache.get("a").await.is_err());
    cache
        .clock
        .advance(FAILURE_BACKOFF_INITIAL / 2 - Duration::from_millis(1));
    assert!(cache.get("a").await.is_err());
    assert_eq!(cache.fetches(), (1, 0), "no fetch during the backoff");

    cache
        .clock
        .advance(FAILURE_BACKOFF_INITIAL / 2 + Duration::from_millis(1));
    let (retry_after, _) = unavailable_cause(cache.get("a").await);
    assert_eq!(cache.fetches(), (2, 0), "one fetch once it has passed");
    assert!(
        retry_after >= FAILURE_BACKOFF_INITIAL,
        "and the next backoff is longer"
    );

    cache.issuer.json(
        DISCOVERY,
        format!(r#"{{"issuer":"{ISSUER}","jwks_uri":"{JWKS}"}}"#),
    );
    cache.clock.advance(2 * FAILURE_BACKOFF_INITIAL);
    assert!(cache.get("a").await.is_ok(), "recovers with the issuer");
}

#[tokio::test]
async fn stale_keys_serve_while_refreshing_fails_until_stale_if_error_runs_out() {
    let cache = Cache::warm(&["a"]).await;
    cache.issuer.fail(DISCOVERY, 500);
    let stale_served = cache.metrics.stale_keys_served.with_label_values(&[ISSUER]);

    cache.clock.advance(TTL + Duration::from_secs(1));
    assert!(cache.get("a").await.is_ok(), "served past expiry");
    assert_eq!(cache.fetches(), (2, 1), "after one failed refresh");
    assert_eq!(stale_served.get(), 1);
    assert!(cache.status().stale && cache.status().has_keys);

    cache.clock.advance(STALE_IF_ERROR - Duration::from_secs(2));
    assert!(cache.get("a").await.is_ok(), "up to the bound");
    assert_eq!(cache.fetches(), (3, 1));

    cache.clock.advance(Duration::from_secs(1));
    let (_, cause) = unavailable_cause(cache.get("a").await);
    assert_eq!(cause, http_500(DISCOVERY));
    assert_eq!(stale_served.get(), 2);
    assert!(!cache.status().has_keys);
}

#[tokio::test]
async fn an_etag_is_revalidated_with_if_none_match_and_a_304_keeps_the_keys_for_a_new_lifetime() {
    let cache = Cache::cold(&["a"]);
    let caching = CacheHeaders {
        etag: Some("\"v1\"".into()),
        ..CacheHeaders::default()
    };
    let body = jwk_set(&["a"]).into_bytes();
    cache.issuer.route(JWKS, Route::Json { body, caching });
    assert!(cache.store.preload(&cache.policy).await);

    cache.clock.advance(TTL.mul_f64(0.95));
    assert!(cache.get("a").await.is_ok());
    cache
        .until("the revalidation is done", |c| {
            c.status().fetch_attempts == 2
        })
        .await;

    let sent: Vec<Option<String>> = cache
        .issuer
        .requests(JWKS)
        .into_iter()
        .map(|Request { if_none_match, .. }| if_none_match)
        .collect();
    assert_eq!(sent, vec![None, Some("\"v1\"".to_string())]);
    assert_eq!(cache.status().age, Some(Duration::ZERO), "a new lifetime");
    cache.clock.advance(TTL / 2);
    assert_eq!(cache.get("a").await.unwrap().kid, "a");
    assert!(!cache.status().stale);
    assert_eq!(cache.fetches(), (1, 2));
}

#[tokio::test]
async fn concurrent_lookups_of_a_cold_issuer_share_one_fetch() {
    let cache = Cache::cold(&["a"]);
    cache.issuer.slow_down(Duration::from_millis(20));

    let answers = join_all((0..50).map(|_| cache.get("a"))).await;

    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(cache.fetches(), (1, 1));
}

#[tokio::test]
async fn preload_and_force_refresh_agree_on_whether_the_issuer_has_keys() {
    let cache = Cache::cold(&[]);
    assert!(
        !cache.store.preload(&cache.policy).await,
        "a set without a usable key is no keys"
    );
    assert_eq!(cache.store.force_refresh(&cache.policy).await, Ok(()));
    assert!(!cache.status().has_keys);

    cache.publish(&["a"]);
    assert!(cache.store.preload(&cache.policy).await);
    assert!(cache.status().has_keys);

    cache.issuer.fail(JWKS, 500);
    assert_eq!(
        cache.store.force_refresh(&cache.policy).await,
        Err(http_500(JWKS))
    );
    assert!(cache.status().has_keys, "the last good keys are kept");
}

#[tokio::test]
async fn redirects_are_followed_up_to_max_redirects_and_never_off_the_jwks_hosts() {
    const CURRENT: &str = "https://id.example/keys/current";
    const CDN: &str = "https://cdn.example/jwks";
    let mut cache = Cache::build(true, 32, 1, &[]);
    cache.policy = policy_with_jwks_hosts(&["id.example"]);
    cache
        .issuer
        .route(JWKS, Route::Redirect("/keys/current".into()));
    cache.issuer.json(CURRENT, jwk_set(&["a"]));
    assert!(cache.get("a").await.is_ok(), "one hop, within jwks_hosts");

    cache
        .issuer
        .route(CURRENT, Route::Redirect("/keys/next".into()));
    let too_many = cache.store.force_refresh(&cache.policy).await.unwrap_err();
    assert!(
        too_many.to_string().contains("fetch.max_redirects is 1"),
        "{too_many}"
    );

    cache.issuer.route(JWKS, Route::Redirect(CDN.into()));
    let off_host = cache.store.force_refresh(&cache.policy).await.unwrap_err();
    assert_eq!(
        off_host,
        RefreshError::Fetch(FetchError::HostNotAllowed(CDN.into()))
    );
    assert_eq!(cache.issuer.hits(CDN), 0);
}

fn policy_with_jwks_hosts(hosts: &[&str]) -> Arc<IssuerPolicy> {
    let mut policy = Arc::try_unwrap(policy(true)).expect("not shared yet");
    policy.jwks_hosts = Some(hosts.iter().map(|h| h.to_string()).collect());
    Arc::new(policy)
}

#[tokio::test]
async fn concurrent_lookups_of_a_failing_dynamic_issuer_cause_one_fetch() {
    let cache = Cache::down_and_open(4, Duration::from_millis(50));

    let answers = join_all((0..50).map(|_| cache.get("k"))).await;

    assert!(
        answers
            .iter()
            .all(|r| matches!(r, Err(KeysError::Unavailable { .. })))
    );
    assert_eq!(cache.fetches(), (1, 0));
}

#[tokio::test]
async fn evicting_an_issuer_while_its_fetch_is_in_flight_does_not_start_a_second_one() {
    let cache = Cache::down_and_open(1, Duration::from_millis(100));

    let first = cache.get("k");
    let second = async {
        while cache.fetches().0 == 0 {
            tokio::task::yield_now().await;
        }
        cache.store.inner.dynamic.evict(ISSUER);
        cache.get("k").await
    };
    let (first, second) = tokio::join!(first, second);

    assert!(first.is_err() && second.is_err());
    assert_eq!(cache.fetches(), (1, 0));
}

#[tokio::test]
async fn a_failing_dynamic_issuer_stays_backed_off_after_its_entry_is_evicted() {
    let cache = Cache::down_and_open(1, Duration::ZERO);
    assert!(cache.get("k").await.is_err());
    assert_eq!(cache.fetches(), (1, 0));

    cache.store.inner.dynamic.evict(ISSUER);
    let (retry_after, cause) = unavailable_cause(cache.get("k").await);

    assert!(retry_after > Duration::ZERO);
    assert!(cause.to_string().contains("HTTP 500"), "{cause}");
    assert_eq!(cache.fetches(), (1, 0), "still backed off");

    cache.clock.advance(FAILURE_BACKOFF_INITIAL);
    cache.store.inner.dynamic.evict(ISSUER);
    assert!(cache.get("k").await.is_err());
    assert_eq!(cache.fetches(), (2, 0), "retried once the backoff passed");
    assert_eq!(
        cache
            .store
            .inner
            .dynamic
            .remembered_failure(ISSUER)
            .map(|f| f.consecutive_failures),
        Some(2),
        "and the next backoff is longer"
    );
}
