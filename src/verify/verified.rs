//! [`Verified`]: a token whose signature and claims checked out, and what the answer reads from
//! it.
//!
//! A token verified in full carries its parsed claims. A verified-token cache hit carries the
//! [`Identity`] stored when the same bytes were first verified (the subject, and the values of the
//! issuer's `headers` claims): the usual answer (identity headers, decision line) is built from
//! that alone, without reading the token again. Anything that needs more (a policy's claim
//! rules, the payload header, the JSON body, gRPC's metadata) asks [`Verified::claims`], which
//! decodes the payload once, on first use, under the padding rule of the issuer it verified for.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::token_cache::CachedVerification;
use crate::issuer::{IssuerPolicy, claim_at};
use crate::token::claims_of_verified_payload;

/// A token whose signature and claims checked out.
#[derive(Debug)]
pub struct Verified {
    /// The issuer's policy (headers to send, label for metrics).
    pub policy: Arc<IssuerPolicy>,
    /// Whether the verified-token cache answered (no signature check this time).
    pub from_cache: bool,
    /// The key that verified it.
    pub kid: String,
    claims: Claims,
}

#[derive(Debug)]
enum Claims {
    /// Parsed while verifying.
    Parsed(Map<String, Value>),
    /// A cache hit: the identity stored with the entry; the claims decoded on first use.
    Cached {
        entry: Arc<CachedVerification>,
        payload: Box<str>,
        decoded: OnceLock<Map<String, Value>>,
    },
}

impl Verified {
    /// A token verified in full now, with its claims.
    pub fn new(policy: Arc<IssuerPolicy>, kid: String, claims: Map<String, Value>) -> Self {
        Self {
            policy,
            from_cache: false,
            kid,
            claims: Claims::Parsed(claims),
        }
    }

    /// A cache hit on `raw`, whose bytes verified before as `entry` records.
    pub(super) fn cached(entry: Arc<CachedVerification>, raw: &str) -> Self {
        let payload = raw.split('.').nth(1).unwrap_or_default().into();
        Self {
            policy: entry.policy.clone(),
            from_cache: true,
            kid: entry.key.kid.clone(),
            claims: Claims::Cached {
                entry,
                payload,
                decoded: OnceLock::new(),
            },
        }
    }

    /// The `sub` claim, when it is a string.
    pub fn subject(&self) -> Option<&str> {
        match &self.claims {
            Claims::Parsed(claims) => claims.get("sub").and_then(Value::as_str),
            Claims::Cached { entry, .. } => entry.identity.subject.as_deref(),
        }
    }

    /// The issuer's `headers` (claim path, header name), each with the claim's value in this
    /// token, if any.
    pub fn issuer_header_claims(&self) -> impl Iterator<Item = (&str, Option<&Value>)> {
        self.policy
            .headers
            .iter()
            .enumerate()
            .map(move |(i, (claim, name))| {
                let value = match &self.claims {
                    Claims::Parsed(claims) => claim_at(claims, claim),
                    Claims::Cached { entry, .. } => {
                        entry.identity.header_claims.get(i).and_then(Option::as_ref)
                    }
                };
                (name.as_str(), value)
            })
    }

    /// All claims, now trustworthy. On a cache hit, decoded from the token on first use.
    pub fn claims(&self) -> &Map<String, Value> {
        match &self.claims {
            Claims::Parsed(claims) => claims,
            Claims::Cached {
                entry,
                payload,
                decoded,
            } => decoded.get_or_init(|| {
                // The same bytes decoded under the same rule when they were verified, so this
                // cannot fail; were it to, no claim is trusted (every claim rule then fails).
                claims_of_verified_payload(payload, entry.policy.padding).unwrap_or_else(|_| {
                    tracing::error!("a cached token's claims could not be decoded again");
                    Map::new()
                })
            }),
        }
    }

    /// The claims when they were parsed now (a full verification), for the cache entry.
    pub(super) fn parsed_claims(&self) -> Option<&Map<String, Value>> {
        match &self.claims {
            Claims::Parsed(claims) => Some(claims),
            Claims::Cached { .. } => None,
        }
    }
}

/// What a cache entry keeps for the usual answer: the subject and the values of the issuer's
/// `headers` claims (in the policy's order). Small: nothing else of the token is kept.
#[derive(Debug)]
pub(super) struct Identity {
    subject: Option<Box<str>>,
    header_claims: Box<[Option<Value>]>,
}

impl Identity {
    /// The identity in `claims`, for the headers of `policy`.
    pub(super) fn of(claims: &Map<String, Value>, policy: &IssuerPolicy) -> Self {
        Self {
            subject: claims.get("sub").and_then(Value::as_str).map(Box::from),
            header_claims: policy
                .headers
                .iter()
                .map(|(claim, _)| claim_at(claims, claim).cloned())
                .collect(),
        }
    }
}
