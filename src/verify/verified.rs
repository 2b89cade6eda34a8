//! [`Verified`]: a token whose signature and claims checked out, and what the answer reads from
//! it.
//!
//! A token verified in full now carries the claims its issuer's checks read (the registered ones,
//! scopes, required claims, the paths of the audience and header claims), built from the payload
//! while the rest stayed JSON. A verified-token cache hit carries the [`Identity`] stored when the
//! same bytes were first verified (the subject, and the values of the issuer's `headers`
//! claims). The usual answer (identity headers, decision line) is built from those alone. Anything
//! that needs every claim (a policy's claim rules, the payload header, the JSON body, gRPC's
//! metadata) asks [`Verified::claims`], which builds them once, on first use (on a hit, from the
//! token's payload under the padding rule of the issuer it verified for).

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::token_cache::CachedVerification;
use crate::issuer::{IssuerPolicy, claim_at};
use crate::token::{Padding, claims_of_verified_payload};

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
    /// Every claim, parsed.
    Parsed(Map<String, Value>),
    /// Verified now: the claims the issuer's checks read; every claim on first use.
    Read { read: Map<String, Value>, all: Lazy },
    /// A cache hit: the identity stored with the entry; every claim on first use.
    Cached {
        entry: Arc<CachedVerification>,
        all: Lazy,
    },
}

/// Every claim, built from the payload on first use.
#[derive(Debug)]
struct Lazy {
    source: Source,
    built: OnceLock<Map<String, Value>>,
}

#[derive(Debug)]
enum Source {
    /// The decoded payload JSON, checked by the token parser.
    Json(Vec<u8>),
    /// The payload part of a token that verified before, and its issuer's padding rule.
    Part(Box<str>, Padding),
}

impl Lazy {
    fn new(source: Source) -> Self {
        Self {
            source,
            built: OnceLock::new(),
        }
    }

    fn get(&self) -> &Map<String, Value> {
        self.built.get_or_init(|| {
            // The same bytes were read under the same rules when the token was verified, so
            // this cannot fail; were it to, no claim is trusted (every claim rule then fails).
            let built = match &self.source {
                Source::Json(json) => serde_json::from_slice(json).ok(),
                Source::Part(part, padding) => claims_of_verified_payload(part, *padding).ok(),
            };
            built.unwrap_or_else(|| {
                tracing::error!("a verified token's claims could not be read again");
                Map::new()
            })
        })
    }
}

impl Verified {
    /// A token verified in full now, with every claim.
    pub fn new(policy: Arc<IssuerPolicy>, kid: String, claims: Map<String, Value>) -> Self {
        Self {
            policy,
            from_cache: false,
            kid,
            claims: Claims::Parsed(claims),
        }
    }

    /// A token verified in full now: `read`, the claims its issuer's checks read, and `payload`,
    /// its decoded payload JSON as the token parser checked it.
    pub(super) fn read(
        policy: Arc<IssuerPolicy>,
        kid: String,
        read: Map<String, Value>,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            policy,
            from_cache: false,
            kid,
            claims: Claims::Read {
                read,
                all: Lazy::new(Source::Json(payload)),
            },
        }
    }

    /// A cache hit on `raw`, whose bytes verified before as `entry` records.
    pub(super) fn cached(entry: Arc<CachedVerification>, raw: &str) -> Self {
        let part = raw.split('.').nth(1).unwrap_or_default().into();
        let padding = entry.policy.padding;
        Self {
            policy: entry.policy.clone(),
            from_cache: true,
            kid: entry.key.kid.clone(),
            claims: Claims::Cached {
                entry,
                all: Lazy::new(Source::Part(part, padding)),
            },
        }
    }

    /// The `sub` claim, when it is a string.
    pub fn subject(&self) -> Option<&str> {
        match &self.claims {
            Claims::Parsed(claims) | Claims::Read { read: claims, .. } => {
                claims.get("sub").and_then(Value::as_str)
            }
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
                    Claims::Parsed(claims) | Claims::Read { read: claims, .. } => {
                        claim_at(claims, claim)
                    }
                    Claims::Cached { entry, .. } => {
                        entry.identity.header_claims.get(i).and_then(Option::as_ref)
                    }
                };
                (name.as_str(), value)
            })
    }

    /// Every claim, now trustworthy; built on first use unless they were all parsed already.
    pub fn claims(&self) -> &Map<String, Value> {
        match &self.claims {
            Claims::Parsed(claims) => claims,
            Claims::Read { all, .. } | Claims::Cached { all, .. } => all.get(),
        }
    }

    /// The claims read while verifying now (every registered claim, the subject and the issuer's
    /// header claims among them), for the cache entry; `None` on a cache hit.
    pub(super) fn read_claims(&self) -> Option<&Map<String, Value>> {
        match &self.claims {
            Claims::Parsed(claims) | Claims::Read { read: claims, .. } => Some(claims),
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
