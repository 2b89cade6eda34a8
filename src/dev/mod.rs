//! The in-process OpenID Connect issuer and the test kit: `jwtgate dev`, the unit tests, the
//! integration and end-to-end tests, the benches and the fuzz targets all use this one.
//!
//! Always compiled (`jwtgate dev` needs it):
//! - [`DevIssuer`]: an issuer on a real loopback socket serving a discovery document and a JWK
//!   set, and minting tokens in process ([`DevIssuer::mint`]) or over HTTP (`GET /mint`);
//!   how it answers is its [`IssuerBehaviour`];
//! - [`DevKey`]: a signing key pair with its public JWK, generated fresh at start
//!   ([`DevKey::generate`], aws-lc-rs). Nothing is written to disk: the private key lives in
//!   memory and dies with the process.
//!
//! With the `test-helpers` feature (the crate's own tests, benches and fuzz targets turn it on
//! through a dev-dependency on themselves), the test kit:
//! - `DevIssuer::serving` / `serving_jwks` (an issuer for fixed keys or a hand-made JWK set),
//!   `set` (change its behaviour: status, delays, raw body, redirect, discovery document,
//!   `Cache-Control`, `ETag`), `publish` (rotate keys), `publish_pem` (a PEM key per kid, as
//!   AWS ALB serves them), and request counters per path;
//! - the fixed test keys `DevKey::{rs256, rs256_rotated, ps256, es256, es384, eddsa}`
//!   (`tests/keys/`), with `with_kid`, `with_alg`, `jwk_without_alg`, `sign` and
//!   `public_key_bytes`, and `sign_padded` (AWS ALB's padded tokens);
//! - `claims`, `now`, `unsigned_token`, `hs256_token`: tokens relative to now, hand-made and
//!   forged;
//! - `InMemoryFetcher`: a [`crate::fetch::JsonFetcher`] without sockets.
//!
//! It is a development tool, not an identity provider: `/mint` signs whatever `sub` and `aud`
//! it is asked for, so it only ever binds to a loopback address.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use jsonwebtoken::Algorithm;

mod issuer;
mod key;

pub use issuer::{DevIssuer, IssuerBehaviour, MintRequest};
pub use key::DevKey;

#[cfg(any(test, feature = "test-helpers"))]
mod in_memory;
#[cfg(any(test, feature = "test-helpers"))]
mod tokens;

#[cfg(any(test, feature = "test-helpers"))]
pub use in_memory::InMemoryFetcher;
#[cfg(any(test, feature = "test-helpers"))]
pub use tokens::{claims, hs256_token, now, unsigned_token};

/// Path of the discovery document the issuer serves (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// A second discovery path the issuer answers, for issuers configured with their own
/// `config_path`.
pub const CUSTOM_DISCOVERY_PATH: &str = "/custom-discovery";

/// A third discovery path the issuer answers: an IOXIO dataspace party configuration
/// (pyjwt-key-fetcher's flagship custom `config_path`).
pub const PARTY_CONFIGURATION_PATH: &str = "/.well-known/dataspace/party-configuration.json";

/// Path of the JWK set the issuer serves.
pub const JWKS_PATH: &str = "/jwks";

/// Path under which the issuer serves PEM public keys by kid (`<this><kid>`), as AWS ALB's key
/// host does at `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>`.
pub const KEY_URL_PATH: &str = "/public-keys/";

/// Path of the minting endpoint: `GET /mint?sub=..&aud=..&ttl=..` answers a fresh token.
pub const MINT_PATH: &str = "/mint";

/// Subject of minted tokens unless another is asked for.
pub const DEFAULT_SUBJECT: &str = "dev-user";

/// Audience of minted tokens unless another is asked for.
pub const DEFAULT_AUDIENCE: &str = "jwtgate-dev";

/// Lifetime of minted tokens unless another is asked for: one hour, like most access tokens.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// Longest lifetime `/mint` grants: one day, so a pasted dev token cannot live on for long.
pub const MAX_TTL_SECS: u64 = 86_400;

/// Why the dev issuer could not do something.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The algorithm has no key type jwtgate can verify (HS*, or unknown).
    #[error(
        "{0:?} is not an asymmetric algorithm jwtgate verifies; use RS*, PS*, ES256, ES384 or EdDSA"
    )]
    UnsupportedAlgorithm(Algorithm),
    /// The crypto library could not generate or encode a key.
    #[error("could not generate a {0:?} key pair")]
    KeyGeneration(Algorithm),
    /// The key could not be turned into a JWK or could not sign.
    #[error("could not sign with the dev key")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// The address is not a loopback address: `/mint` must not be reachable from elsewhere.
    #[error("the dev issuer only listens on loopback, not {0}")]
    NotLoopback(SocketAddr),
    /// The listener could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A requested lifetime is out of range.
    #[error("ttl must be between 1 and {MAX_TTL_SECS} seconds, not {0}")]
    Ttl(u64),
}

/// Locks `mutex`, going on after a panic elsewhere: the issuer's and the fetcher's maps hold
/// plain values, never left half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::jwk::Jwk;
    use serde_json::{Map, Value, json};

    use super::*;

    #[test]
    fn every_supported_algorithm_gets_a_fresh_key_whose_jwk_verifies_its_tokens() {
        for alg in crate::issuer::SUPPORTED_ALGORITHMS {
            let key = DevKey::generate(alg).unwrap();
            let again = DevKey::generate(alg).unwrap();
            assert_ne!(key.kid(), again.kid(), "{alg:?}: keys are fresh");

            let mut claims = Map::new();
            claims.insert("sub".into(), json!("a"));
            claims.insert("exp".into(), json!(u32::MAX));
            let token = key.try_sign(&claims).unwrap();
            let jwk: Jwk = serde_json::from_value(key.jwk()).unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.validate_aud = false;
            jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        }
    }

    #[test]
    fn symmetric_algorithms_are_refused() {
        assert!(matches!(
            DevKey::generate(Algorithm::HS256),
            Err(DevError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn the_issuer_only_listens_on_loopback() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(
            DevIssuer::start(addr, Algorithm::ES256),
            Err(DevError::NotLoopback(_))
        ));
    }

    #[test]
    fn the_fixed_test_keys_sign_tokens_their_public_jwks_verify_and_publish_no_private_part() {
        for key in [
            DevKey::rs256(),
            DevKey::rs256_rotated(),
            DevKey::ps256(),
            DevKey::es256(),
            DevKey::es384(),
            DevKey::eddsa(),
            DevKey::rs256().with_alg(Algorithm::RS512),
        ] {
            let token = key.sign(&claims("https://issuer.example"));
            let jwk: Jwk = serde_json::from_value(key.jwk()).unwrap();
            let mut validation = jsonwebtoken::Validation::new(key.alg());
            validation.set_audience(&["my-api"]);
            jsonwebtoken::decode::<Value>(
                &token,
                &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
                &validation,
            )
            .unwrap_or_else(|e| panic!("{:?}: {e}", key.alg()));
            assert_eq!(key.jwk()["kid"], key.kid());
            assert!(
                key.jwk().get("d").is_none(),
                "{:?}: no private member",
                key.alg()
            );
        }
        assert_eq!(DevKey::rs256().with_kid("other").jwk()["kid"], "other");
        assert!(DevKey::es256().jwk_without_alg().get("alg").is_none());
    }
}
