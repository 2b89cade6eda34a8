//! `GET /readyz`: ready when every *required* configured issuer has keys, so that an optional
//! issuer being down does not keep every new replica out of service; the body lists each
//! configured issuer's state either way.
//!
//! Issuers are required unless configured with `required = false`. Issuers admitted by a
//! pattern or `allow_any_issuer` are never required (they are not known in advance). The body
//! names issuers and states only: no fetch error text, which may carry internal addresses.

use std::collections::HashSet;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::AppState;
use super::lifecycle::Lifecycle;
use crate::keys::IssuerStatus;

/// Which configured issuers readiness waits for. Cheap to share.
#[derive(Debug, Clone, Default)]
pub struct ReadinessRules {
    /// Configured issuers marked `required = false`; every other configured issuer is required.
    pub optional: HashSet<String>,
}

impl ReadinessRules {
    /// Whether `/readyz` waits for this configured issuer.
    pub fn is_required(&self, issuer: &str) -> bool {
        !self.optional.contains(issuer)
    }
}

/// One issuer's state as `/readyz` reports it.
fn state_of(status: Option<&IssuerStatus>) -> &'static str {
    match status {
        Some(s) if s.has_keys && s.stale => "stale",
        Some(s) if s.has_keys => "ready",
        Some(s) if s.fetch_attempts == 0 => "loading",
        _ => "unavailable",
    }
}

/// `GET /readyz`: 200 `ready` when every required issuer has keys (fresh, or stale within
/// `stale_if_error_secs`), else 503 `loading`; 503 `draining` after SIGTERM. The body's
/// `issuers` lists each configured issuer with `required` and `state` (`ready`, `stale`,
/// `loading` before its first fetch completes, `unavailable` after a failed one), sorted by
/// issuer;
/// `issuers_without_keys` names the required issuers still waited for.
pub async fn readyz(state: AppState, lifecycle: web::Data<Lifecycle>) -> HttpResponse {
    let verifier = &state.verifier;
    let mut configured: Vec<_> = verifier.issuers().configured().collect();
    configured.sort_by(|a, b| a.issuer.cmp(&b.issuer));
    let mut waiting: Vec<&str> = Vec::new();
    let issuers: Vec<Value> = configured
        .iter()
        .map(|policy| {
            let status = verifier.keys().issuer_status(&policy.issuer);
            let required = state.readiness.is_required(&policy.issuer);
            if required && status.as_ref().is_none_or(|s| !s.has_keys) {
                waiting.push(&policy.issuer);
            }
            json!({
                "issuer": &*policy.issuer,
                "required": required,
                "state": state_of(status.as_ref()),
            })
        })
        .collect();
    let (ready, status) = match (lifecycle.is_draining(), waiting.is_empty()) {
        (true, _) => (false, "draining"),
        (false, true) => (true, "ready"),
        (false, false) => (false, "loading"),
    };
    let body = json!({
        "status": status,
        "issuers": issuers,
        "issuers_without_keys": waiting,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_required_unless_listed_as_optional() {
        let rules = ReadinessRules {
            optional: HashSet::from(["https://optional.example".to_string()]),
        };
        assert!(rules.is_required("https://a.example"));
        assert!(!rules.is_required("https://optional.example"));
        assert!(ReadinessRules::default().is_required("https://a.example"));
    }
}
