//! The admin surface: `GET /issuers` (what the key cache holds) and `POST /issuers/refresh`
//! (refetch now, for emergency key rotation, bounded in parallelism and time). Both answer 404
//! unless `[admin].token` is set, and 401 unless the request carries it as a bearer token
//! (compared in constant time).
//! Nothing private is ever shown: issuers, kids, ages, URLs and fetch outcomes only.

use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::keys::{IssuerStatus, RefreshOutcome};
use crate::settings::Secret;

use super::AppState;
use super::token_source::header_token;

/// The admin token, when the admin surface is on.
#[derive(Clone, Default)]
pub struct AdminState {
    token: Option<Arc<Secret>>,
}

impl AdminState {
    /// Admin endpoints on with this token; off when it is empty.
    pub fn new(token: &Secret) -> Self {
        Self {
            token: (!token.is_empty()).then(|| Arc::new(token.clone())),
        }
    }

    /// `None` when the request may proceed, else the answer (404 off, 401 wrong token).
    fn refuse(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let Some(expected) = &self.token else {
            return Some(HttpResponse::NotFound().json(json!({"error": "not_found"})));
        };
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| header_token(v, Some("Bearer")))
            .unwrap_or_default();
        if constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
            return None;
        }
        Some(
            HttpResponse::Unauthorized()
                .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"jwtgate-admin\""))
                .json(json!({"error": "invalid_token", "message": "the admin token is missing or wrong"})),
        )
    }
}

/// Compares without an early exit, so the time taken does not reveal how much of a guess was
/// right (only whether the lengths match).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

fn describe(issuer: &str, status: &IssuerStatus, configured: bool) -> Value {
    json!({
        "issuer": issuer,
        "configured": configured,
        "key_ids": status.kids,
        "keys": status.keys,
        "key_age_secs": status.age.map(|a| a.as_secs()),
        "next_refresh_secs": status.refresh_in.map(|r| r.as_secs()),
        "stale": status.stale,
        "jwks_uri": status.jwks_uri.as_ref().map(|u| u.as_str()),
        "last_fetch": match (&status.last_error, status.fetch_attempts) {
            (_, 0) => "none",
            (None, _) => "ok",
            (Some(_), _) => "error",
        },
        "last_error": status.last_error.as_ref().map(|e| e.to_string()),
        "fetch_attempts": status.fetch_attempts,
    })
}

/// `GET /issuers`.
pub async fn issuers(
    state: AppState,
    admin: web::Data<AdminState>,
    req: HttpRequest,
) -> HttpResponse {
    if let Some(refusal) = admin.refuse(&req) {
        return refusal;
    }
    let verifier = &state.verifier;
    let issuers: Vec<Value> = verifier
        .keys()
        .statuses()
        .iter()
        .map(|(issuer, status)| {
            describe(
                issuer,
                status,
                verifier.keys().issuer_status(issuer).is_some(),
            )
        })
        .collect();
    let patterns: Vec<&str> = verifier.issuers().patterns().map(|p| &**p.text()).collect();
    HttpResponse::Ok().json(json!({"issuers": issuers, "patterns": patterns}))
}

/// Query of `POST /issuers/refresh`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshQuery {
    issuer: Option<String>,
}

/// `POST /issuers/refresh[?issuer=...]`: refetch one issuer's keys, or every known issuer's,
/// concurrently and within a time limit ([`KeyStore::refresh_all`]), configured issuers first.
/// The answer lists each issuer's outcome (`ok`, `error` or `timed_out`), then the issuers
/// refreshed, failed and timed out.
///
/// [`KeyStore::refresh_all`]: crate::keys::KeyStore::refresh_all
pub async fn refresh(
    state: AppState,
    admin: web::Data<AdminState>,
    req: HttpRequest,
) -> HttpResponse {
    if let Some(refusal) = admin.refuse(&req) {
        return refusal;
    }
    let Ok(query) = web::Query::<RefreshQuery>::from_query(req.query_string()) else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "message": "only ?issuer= is accepted"}));
    };
    let verifier = &state.verifier;
    let known: Vec<Arc<str>> = verifier
        .keys()
        .statuses()
        .into_iter()
        .map(|(issuer, _)| issuer)
        .collect();
    let targets: Vec<Arc<str>> = match &query.issuer {
        Some(wanted) => match known.iter().find(|k| ***k == **wanted) {
            Some(issuer) => vec![issuer.clone()],
            None => {
                return HttpResponse::NotFound().json(
                    json!({"error": "not_found", "message": "no such issuer in the key cache"}),
                );
            }
        },
        None => known,
    };
    let policies = targets
        .iter()
        .filter_map(|issuer| verifier.issuers().lookup(issuer).ok())
        .collect();
    let limit = verifier.keys().refresh_all_time_limit();
    let outcomes = verifier.keys().refresh_all(policies).await;
    let (mut refreshed, mut failed, mut timed_out) = (Vec::new(), Vec::new(), Vec::new());
    let results: Vec<Value> = outcomes
        .iter()
        .map(|(policy, outcome)| {
            let issuer = &*policy.issuer;
            let (result, error) = match outcome {
                RefreshOutcome::Refreshed => {
                    refreshed.push(issuer);
                    ("ok", None)
                }
                RefreshOutcome::Failed(error) => {
                    failed.push(issuer);
                    ("error", Some(error.to_string()))
                }
                RefreshOutcome::TimedOut { started } => {
                    timed_out.push(issuer);
                    let what = if *started { "not done" } else { "not started" };
                    (
                        "timed_out",
                        Some(format!("{what} within the {limit:?} limit")),
                    )
                }
            };
            json!({
                "issuer": issuer,
                "configured": policy.configured,
                "result": result,
                "error": error,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "results": results,
        "refreshed": refreshed,
        "failed": failed,
        "timed_out": timed_out,
        "time_limit_secs": limit.as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"secret-token-123", b"secret-token-123"));
        assert!(!constant_time_eq(b"secret-token-123", b"secret-token-124"));
        assert!(!constant_time_eq(b"secret", b"secret-token-123"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
