//! Counting and logging one decision, the same way for every transport (`/verify` over HTTP and
//! the gRPC `ext_authz` `Check`): the verified-token cache lookup, the
//! `jwtgate_verifications_total{transport}` sample (`valid`, `invalid` or, in report mode,
//! `would_deny`), the duration, and the decision log line ([`super::decision_log`]).

use std::time::Instant;

use super::AppState;
use super::decision_log::{Decision, Outcome};
use super::report_mode::VerifyMode;
use crate::verify::{AttributedRejection, Rejection, Verified};

/// Where a decision was asked for: the `transport` of its metric sample and log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `/verify` and `/policy/NAME`.
    Http,
    /// The gRPC `ext_authz` listener (`[grpc] bind`).
    Grpc,
}

impl Transport {
    /// The label value and log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Grpc => "grpc",
        }
    }
}

/// One decision, as its handler saw it.
pub struct Decided<'a> {
    /// Where it was asked for.
    pub transport: Transport,
    /// Enforced or only reported (the chosen policy's mode, else `[verify] mode`).
    pub mode: VerifyMode,
    /// The policy that applied to the request (`/policy/NAME`, a `[[routes]]` rule or the
    /// route's `context_extensions`), whatever the outcome, if any.
    pub policy: Option<&'a str>,
    /// Verified, or why not.
    pub outcome: &'a Result<Verified, AttributedRejection>,
    /// The token found, if any (only to name a refused token's `kid` in the log line).
    pub token: Option<&'a str>,
    /// From [`super::decision_log::request_id_from`].
    pub request_id: &'a str,
    /// The HTTP status answered (for gRPC: the status of Envoy's answer to the client).
    pub status: u16,
    /// When the request arrived.
    pub started: Instant,
}

/// Counts the decision, observes its duration and writes its decision line (if the decision
/// log wants it).
pub fn record(state: &AppState, decided: &Decided<'_>) {
    let metrics = &state.metrics;
    let outcome = decided.outcome;
    let transport = decided.transport.as_str();
    if state.verifier.token_cache().is_some()
        && !matches!(outcome, Err(r) if r.rejection == Rejection::MissingToken)
    {
        let result = if matches!(outcome, Ok(v) if v.from_cache) {
            "hit"
        } else {
            "miss"
        };
        metrics
            .verified_token_cache_lookups
            .with_label_values(&[result])
            .inc();
    }
    let kind = match outcome {
        Ok(verified) => {
            metrics
                .verifications
                .with_label_values(&[&*verified.policy.label, "valid", "ok", transport])
                .inc();
            Outcome::Allow
        }
        Err(rejected) => {
            let label = rejected
                .issuer
                .as_ref()
                .map_or(crate::issuer::OTHER_ISSUER_LABEL, |p| &*p.label);
            let reason = rejected.rejection.reason();
            let let_through = decided.mode.lets_through(&rejected.rejection);
            let result = if let_through { "would_deny" } else { "invalid" };
            metrics
                .verifications
                .with_label_values(&[label, result, reason, transport])
                .inc();
            tracing::debug!(issuer = label, reason, result, transport, "token rejected");
            if let_through {
                Outcome::WouldDeny
            } else {
                Outcome::Deny
            }
        }
    };
    let elapsed = decided.started.elapsed();
    metrics.verification_duration.observe(elapsed.as_secs_f64());
    let log = &state.decisions;
    if !log.wants(kind) {
        return;
    }
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    // Only to name the key of a refused token in the log line: the header was already read
    // (and refused) by the verifier; nothing in it is trusted (padded or not).
    let unverified = match outcome {
        Ok(_) => None,
        Err(_) => decided.token.and_then(|t| {
            crate::token::UnverifiedToken::parse_with(t, crate::token::Padding::Tolerated).ok()
        }),
    };
    let decision = match outcome {
        Ok(verified) => Decision {
            request_id: decided.request_id,
            transport,
            policy: Some(decided.policy.unwrap_or(&verified.policy.label)),
            issuer: Some(&*verified.policy.issuer),
            sub: verified.subject(),
            kid: Some(&verified.kid),
            unverified_kid: None,
            outcome: kind,
            status: decided.status,
            reason: "ok",
            token_cache_hit: verified.from_cache,
            latency_us,
        },
        Err(rejected) => Decision {
            request_id: decided.request_id,
            transport,
            policy: decided
                .policy
                .or(rejected.issuer.as_deref().map(|p| &*p.label)),
            issuer: rejected.issuer.as_deref().map(|p| &*p.issuer),
            sub: None,
            kid: None,
            unverified_kid: unverified.as_ref().and_then(|t| t.unverified_kid()),
            outcome: kind,
            status: decided.status,
            reason: rejected.rejection.reason(),
            token_cache_hit: false,
            latency_us,
        },
    };
    log.record_unchecked(&decision);
}
