//! Report-only mode (`[verify] mode = "report"`): `/verify` lets every request through that it
//! would have refused, with empty identity headers, and counts and logs the refusal as
//! `would_deny`, for moving a route onto jwtgate without an outage.
//!
//! A request carrying a forged identity header is still refused (403): letting it through
//! would hand the upstream an identity no token proved.

use actix_web::HttpResponse;
use actix_web::http::header::HeaderValue;
use serde_json::json;

use super::decision::Transport;
use super::{ISSUER_HEADER, RequestRules, SUBJECT_HEADER};
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::verify::{REASON_CODES, Rejection};

/// Whether `/verify` enforces its decisions (`[verify] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Refusals are answered 401, 403 or 503.
    #[default]
    Enforce,
    /// Refusals other than a forged identity header are answered 200 without an identity,
    /// counted as `result="would_deny"` and logged with outcome `would_deny`.
    Report,
}

impl VerifyMode {
    /// The mode of a request: a policy in report mode reports instead of refusing, whatever
    /// `[verify] mode` (`default`) says.
    pub fn for_policy(default: VerifyMode, policy: Option<&Policy>) -> VerifyMode {
        match policy {
            Some(chosen) if chosen.report_only => VerifyMode::Report,
            _ => default,
        }
    }

    /// Whether this refusal is let through (report mode, and not a forged identity header).
    pub fn lets_through(self, rejection: &Rejection) -> bool {
        self == VerifyMode::Report && !matches!(rejection, Rejection::ForgedIdentityHeader(_))
    }
}

/// Creates, at 0, the `would_deny` series of each of these issuer labels for every reason code
/// a refusal let through can have, on each of these transports, so dashboards see them from the
/// first scrape (report mode only: in enforce mode they would be series that never move).
pub fn init_metrics<'a>(
    metrics: &Metrics,
    labels: impl IntoIterator<Item = &'a str>,
    transports: &[Transport],
) {
    for label in labels {
        for reason in REASON_CODES
            .iter()
            .filter(|r| **r != "forged_identity_header")
        {
            for transport in transports {
                metrics
                    .verifications
                    .with_label_values(&[label, "would_deny", reason, transport.as_str()])
                    .reset();
            }
        }
    }
}

/// The 200 of a would-be refusal: every identity header present and empty (so no client copy
/// survives a proxy that copies them), and a body saying what would have happened.
pub fn would_deny_response(rejection: &Rejection, rules: &RequestRules) -> HttpResponse {
    let empty = || HeaderValue::from_static("");
    let mut response = HttpResponse::Ok();
    response.insert_header((ISSUER_HEADER, empty()));
    response.insert_header((SUBJECT_HEADER, empty()));
    for name in rules.claim_headers.iter().chain(&rules.payload_header) {
        response.insert_header((name.clone(), empty()));
    }
    response.json(json!({
        "active": false,
        "mode": "report",
        "would_deny": true,
        "reason": rejection.reason(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_mode_lets_every_refusal_through_but_a_forged_identity_header() {
        assert!(VerifyMode::Report.lets_through(&Rejection::Expired));
        assert!(VerifyMode::Report.lets_through(&Rejection::MissingToken));
        assert!(
            !VerifyMode::Report.lets_through(&Rejection::ForgedIdentityHeader("x-auth-sub".into()))
        );
        assert!(!VerifyMode::Enforce.lets_through(&Rejection::Expired));
    }
}
