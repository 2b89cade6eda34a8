//! Keys from a key URL (`key_url`, AWS ALB): one PEM public key per `kid`, fetched when a token
//! names a kid the issuer's set does not hold. No discovery, no JWK set.
//!
//! - [`super::KeyStore::get_key`] refuses a kid that is not [`is_url_safe_kid`] before anything
//!   else (`invalid_kid`), so the attacker's text never shapes a request; the scheme, host and
//!   path are the operator's, and redirects may not leave that host
//!   ([`IssuerPolicy::jwks_host_allowed`]). The fetcher's limits apply as to any fetch (scheme,
//!   addresses, timeout), with the body bounded by [`MAX_PEM_BYTES`].
//! - A kid not held is fetched under the unknown-kid rule: at most one such fetch per
//!   `cache.min_refresh_interval_secs` per issuer (counted from the last one, see
//!   [`super::state::IssuerState::last_kid_fetch`]), never during a failure backoff, one at a
//!   time; so a flood of random kids costs one fetch per window. The set holds at most
//!   [`MAX_KEY_URL_KEYS`] keys, the oldest leaving first.
//! - `404` or `410` means the kid has no key: not a failure; the lookup answers `unknown_kid`.
//!   Any other failure is a failed fetch (backoff, the held keys serve on).
//! - The key must be an EC P-256 key, verifying ES256 only; anything else fails the fetch.
//! - A refresh (the set's lifetime is `cache.ttl_secs`) fetches every held kid again; a kid that
//!   now answers `404` leaves the set.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::load::Kind;
use super::pem::{MAX_PEM_BYTES, PemError, jwk_from_pem};
use super::state::{KeySet, random_fraction};
use super::{KeyStore, RefreshError, VerifyingKey, parse_jwk_set};
use crate::fetch::{Body, CacheHeaders, FetchError, Fetched};
use crate::issuer::{IssuerPolicy, KeyUrl};

#[cfg(doc)]
use crate::issuer::is_url_safe_kid;

/// Most keys one key URL issuer holds (AWS ALB uses a few per region at a time). At the bound,
/// the key added first leaves to make room for a new one.
pub const MAX_KEY_URL_KEYS: usize = 16;

/// Why a key URL's answer is not a usable key.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyUrlError {
    /// Not one PEM public key.
    #[error("{url}: {source}")]
    Pem {
        /// The key's URL.
        url: String,
        /// Why.
        #[source]
        source: PemError,
    },
    /// A public key, but not EC P-256.
    #[error("{url}: not an EC P-256 public key (a key URL's keys verify ES256 only)")]
    NotP256 {
        /// The key's URL.
        url: String,
    },
    /// Refused by the checks every published key gets (weak, off its curve, algorithm).
    #[error("{url}: the key is not usable ({reason})")]
    Unusable {
        /// The key's URL.
        url: String,
        /// The skip reason's label.
        reason: &'static str,
    },
}

impl KeyStore {
    /// The issuer's keys after fetching `kid` (when given and not held). With the held keys
    /// fresh, only `kid` is fetched and added; otherwise (first load, refresh, expired set)
    /// every held kid is fetched again, plus `kid`.
    pub(super) async fn load_key_url(
        &self,
        policy: &IssuerPolicy,
        key_url: &KeyUrl,
        previous: Option<&KeySet>,
        kid: Option<&str>,
    ) -> Result<KeySet, RefreshError> {
        let now = self.inner.clock.now();
        let wanted = kid.filter(|kid| previous.is_none_or(|p| p.get(kid).is_none()));
        let held = previous
            .and_then(|p| p.added_kids.clone())
            .unwrap_or_default();
        if let (Some(kid), Some(fresh)) = (wanted, previous.filter(|p| now < p.expires_at)) {
            let mut keys = Bounded {
                keys: fresh.keys.clone(),
                order: held,
            };
            if let Some(key) = self.fetch_kid(policy, key_url, kid).await? {
                keys.add(policy, kid, key);
            }
            return Ok(KeySet {
                keys: keys.keys,
                jwks_uri: fresh.jwks_uri.clone(),
                etag: None,
                added_kids: Some(keys.order),
                ..*fresh
            });
        }
        let mut keys = Bounded::default();
        for kid in held.iter().map(String::as_str).chain(wanted) {
            if let Some(key) = self.fetch_kid(policy, key_url, kid).await? {
                keys.add(policy, kid, key);
            }
        }
        let mut set = KeySet::new(
            keys.keys,
            key_url.base().clone(),
            CacheHeaders::default(),
            self.inner.clock.now(),
            &self.inner.rules,
            random_fraction(),
        );
        set.added_kids = Some(keys.order);
        Ok(set)
    }

    /// Fetches and checks `kid`'s key; `None` when the URL answers that it has none (404, 410).
    async fn fetch_kid(
        &self,
        policy: &IssuerPolicy,
        key_url: &KeyUrl,
        kid: &str,
    ) -> Result<Option<Arc<VerifyingKey>>, RefreshError> {
        // get_key refused unsafe kids already; this keeps the rule where the URL is built.
        let Some(url) = key_url.for_kid(kid) else {
            return Ok(None);
        };
        let started = Instant::now();
        let body = Body::Pem {
            max_bytes: MAX_PEM_BYTES,
        };
        let outcome = self
            .follow(policy, Kind::Jwks, &url, None, None, body)
            .await;
        self.inner
            .metrics
            .fetch_duration
            .with_label_values(&["jwks"])
            .observe(started.elapsed().as_secs_f64());
        let body = match outcome {
            Ok(Fetched::Document { body, .. }) => body,
            Err(FetchError::Status {
                status: 404 | 410, ..
            }) => {
                self.count_fetch_jwks(policy, true);
                return Ok(None);
            }
            Ok(_) => {
                self.count_fetch_jwks(policy, false);
                return Err(RefreshError::UnexpectedNotModified);
            }
            Err(error) => {
                self.count_fetch_jwks(policy, false);
                return Err(error.into());
            }
        };
        let key = key_from_pem(policy, kid, url.as_str(), &body);
        self.count_fetch_jwks(policy, key.is_ok());
        Ok(Some(key?))
    }
}

/// A key URL issuer's keys and the order they were added in, at most [`MAX_KEY_URL_KEYS`].
#[derive(Default)]
struct Bounded {
    keys: HashMap<String, Arc<VerifyingKey>>,
    order: Vec<String>,
}

impl Bounded {
    /// Adds `key`; at the bound, the key added first leaves (the oldest is the least likely to
    /// be in use: a load balancer signs with its newest key).
    fn add(&mut self, policy: &IssuerPolicy, kid: &str, key: Arc<VerifyingKey>) {
        if self.keys.len() >= MAX_KEY_URL_KEYS && !self.order.is_empty() {
            let oldest = self.order.remove(0);
            self.keys.remove(&oldest);
            tracing::info!(issuer = %policy.label, limit = MAX_KEY_URL_KEYS, "key URL issuer at its key bound: the oldest key leaves");
        }
        self.keys.insert(kid.to_string(), key);
        self.order.push(kid.to_string());
    }
}

/// The verifying key in a key URL's PEM answer: EC P-256 only, through the checks every
/// published key gets.
fn key_from_pem(
    policy: &IssuerPolicy,
    kid: &str,
    url: &str,
    pem: &[u8],
) -> Result<Arc<VerifyingKey>, KeyUrlError> {
    let jwk = jwk_from_pem(kid, pem).map_err(|source| KeyUrlError::Pem {
        url: url.to_string(),
        source,
    })?;
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return Err(KeyUrlError::NotP256 {
            url: url.to_string(),
        });
    }
    let set = serde_json::json!({ "keys": [jwk] }).to_string();
    let unusable = |reason: &'static str| KeyUrlError::Unusable {
        url: url.to_string(),
        reason,
    };
    let mut parsed =
        parse_jwk_set(set.as_bytes(), &policy.validation).map_err(|_| unusable("malformed"))?;
    if let Some(reason) = parsed.skipped.first() {
        return Err(unusable(reason.label()));
    }
    parsed.keys.remove(kid).ok_or_else(|| unusable("malformed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::DevKey;
    use crate::issuer::{IssuerConfig, TrustConfig, TrustedIssuers};

    fn alb_policy() -> Arc<IssuerPolicy> {
        let issuers = TrustedIssuers::new(TrustConfig {
            issuers: vec![IssuerConfig {
                issuer: "https://idp.example".into(),
                key_url: Some(KeyUrl::parse("https://keys.example/{kid}", true).unwrap()),
                algorithms: Some(vec![jsonwebtoken::Algorithm::ES256]),
                ..IssuerConfig::default()
            }],
            allow_any_issuer: false,
            https_only: true,
            algorithms: crate::issuer::SUPPORTED_ALGORITHMS.to_vec(),
            leeway_secs: 0,
            max_admitted: 1,
            config_path: None,
        })
        .unwrap();
        issuers.lookup("https://idp.example").unwrap()
    }

    #[test]
    fn a_p256_pem_becomes_an_es256_key() {
        let key = DevKey::es256().with_kid("k1");

        let parsed = key_from_pem(&alb_policy(), "k1", "u", key.public_key_pem().as_bytes());

        let parsed = parsed.unwrap();
        assert_eq!(parsed.kid, "k1");
        assert_eq!(parsed.algorithms, vec![jsonwebtoken::Algorithm::ES256]);
    }

    #[test]
    fn other_keys_and_garbage_are_refused() {
        let policy = alb_policy();
        for other in [DevKey::rs256(), DevKey::es384(), DevKey::eddsa()] {
            assert_eq!(
                key_from_pem(&policy, "k", "u", other.public_key_pem().as_bytes()).unwrap_err(),
                KeyUrlError::NotP256 { url: "u".into() },
                "{:?}",
                other.alg()
            );
        }
        assert!(matches!(
            key_from_pem(&policy, "k", "u", b"<html>not found</html>"),
            Err(KeyUrlError::Pem { .. })
        ));
    }
}
