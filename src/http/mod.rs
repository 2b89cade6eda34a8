//! The HTTP API (actix-web): `/verify`, `/key`, `/healthz`, `/readyz`, `/metrics`.
//!
//! Handlers extract the token, call the [`Verifier`], record metrics and turn the outcome into
//! a response; [`error`] is the one place where rejections become status codes.

pub mod error;

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::metrics::Metrics;
use crate::verify::{Rejected, Rejection, Verified, Verifier};
use error::{Endpoint, rejection_response};

/// Header naming the verified token's issuer.
pub const ISSUER_HEADER: &str = "x-auth-issuer";
/// Header naming the verified token's subject (`sub`), when it has one.
pub const SUBJECT_HEADER: &str = "x-auth-subject";

/// Claim header values longer than this are not sent (proxies limit header sizes; 4 KiB fits
/// nginx's and Envoy's defaults with room to spare).
pub const MAX_CLAIM_HEADER_BYTES: usize = 4096;

/// Separator used when an array claim is sent as one header value.
pub const CLAIM_ARRAY_SEPARATOR: &str = ",";

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The verifier (issuers, keys).
    pub verifier: Arc<Verifier>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

/// Registers every route on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/verify", web::route().to(verify))
        .route("/verify/{tail:.*}", web::route().to(verify))
        .route("/key", web::get().to(key))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(not_found));
}

/// `/verify` and `/verify/...`, any method (Envoy's `ext_authz` forwards the client's method).
async fn verify(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let started = Instant::now();
    let outcome = match bearer_token(&req) {
        Some(token) => state.verifier.verify(token).await,
        None => Err(Rejected::from(Rejection::MissingToken)),
    };
    let metrics = &state.metrics;
    let response = match outcome {
        Ok(verified) => {
            metrics
                .verifications
                .with_label_values(&[&*verified.policy.label, "valid", "ok"])
                .inc();
            success_response(&verified)
        }
        Err(rejected) => {
            let label = rejected
                .issuer
                .as_ref()
                .map_or(crate::issuer::OTHER_ISSUER_LABEL, |p| &*p.label);
            let reason = rejected.rejection.reason();
            metrics
                .verifications
                .with_label_values(&[label, "invalid", reason])
                .inc();
            tracing::debug!(issuer = label, reason, "token rejected");
            rejection_response(&rejected.rejection, Endpoint::Verify)
        }
    };
    metrics
        .verification_duration
        .observe(started.elapsed().as_secs_f64());
    response
}

fn success_response(verified: &Verified) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((ISSUER_HEADER, &*verified.policy.issuer));
    if let Some(value) = verified
        .subject()
        .and_then(|s| header_value(&Value::String(s.to_string())))
    {
        response.insert_header((SUBJECT_HEADER, value));
    }
    for (claim, name) in &verified.policy.headers {
        let value = verified.claims.get(claim).and_then(header_value);
        if let (Ok(name), Some(value)) = (HeaderName::try_from(name.as_str()), value) {
            response.insert_header((name, value));
        }
    }
    let claims = &verified.claims;
    response.json(json!({
        "active": true,
        "iss": &*verified.policy.issuer,
        "sub": claims.get("sub"),
        "aud": claims.get("aud"),
        "exp": claims.get("exp"),
        "claims": claims,
    }))
}

/// A claim as a header value: strings as they are, numbers and booleans in JSON form, arrays of
/// those joined with [`CLAIM_ARRAY_SEPARATOR`]. Objects, nulls, values with control characters
/// (no header injection) and values over [`MAX_CLAIM_HEADER_BYTES`] are not sent.
pub fn header_value(claim: &Value) -> Option<HeaderValue> {
    fn scalar(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    let text = match claim {
        Value::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()?
            .join(CLAIM_ARRAY_SEPARATOR),
        other => scalar(other)?,
    };
    if text.len() > MAX_CLAIM_HEADER_BYTES || text.chars().any(char::is_control) {
        return None;
    }
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// Query parameters of `/key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyQuery {
    token: Option<String>,
    iss: Option<String>,
    kid: Option<String>,
}

/// `/key`: the public JWK a token (or `iss` + `kid`) refers to, without verifying anything.
async fn key(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let query = match web::Query::<KeyQuery>::from_query(req.query_string()) {
        Ok(q) => q.into_inner(),
        Err(e) => {
            return rejection_response(
                &Rejection::Malformed(format!("bad query: {e}")),
                Endpoint::Key,
            );
        }
    };
    let found = match (
        &query.iss,
        &query.kid,
        query.token.as_deref().or_else(|| bearer_token(&req)),
    ) {
        (Some(iss), Some(kid), _) => state.verifier.key_by_id(iss, kid).await,
        (None, None, Some(token)) => state.verifier.key_for_token(token).await,
        (Some(_), None, _) | (None, Some(_), _) => {
            return rejection_response(
                &Rejection::Malformed("give both iss and kid".into()),
                Endpoint::Key,
            );
        }
        (None, None, None) => return rejection_response(&Rejection::MissingToken, Endpoint::Key),
    };
    match found {
        Ok(info) => HttpResponse::Ok().json(json!({
            "issuer": &*info.issuer,
            "kid": info.key.kid,
            "algorithms": info.key.algorithms,
            "jwk": info.key.jwk,
        })),
        Err(rejected) => rejection_response(&rejected.rejection, Endpoint::Key),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready once every configured issuer has keys (fresh or, after failures, a cached copy).
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let verifier = &state.verifier;
    let waiting: Vec<&str> = verifier
        .issuers()
        .configured()
        .filter(|p| {
            verifier
                .keys()
                .issuer_status(&p.issuer)
                .is_none_or(|s| s.age.is_none())
        })
        .map(|p| &*p.issuer)
        .collect();
    if waiting.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "loading", "issuers_without_keys": waiting}))
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let verifier = &state.verifier;
    for policy in verifier.issuers().configured() {
        if let Some(status) = verifier.keys().issuer_status(&policy.issuer) {
            state
                .metrics
                .issuer_keys
                .with_label_values(&[&*policy.label])
                .set(status.keys as i64);
            if let Some(age) = status.age {
                state
                    .metrics
                    .issuer_keys_age
                    .with_label_values(&[&*policy.label])
                    .set(age.as_secs_f64());
            }
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(
        json!({"error": "not_found", "message": "see /verify, /key, /healthz, /readyz, /metrics"}),
    )
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750
/// §2.1), if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_matches(' ');
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        let token = |value: &str| {
            let req = TestRequest::default()
                .insert_header((header::AUTHORIZATION, value))
                .to_http_request();
            bearer_token(&req).map(str::to_string)
        };
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("bearer  abc").as_deref(), Some("abc"));
        assert_eq!(token("Basic abc"), None);
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Bearer"), None);
    }

    #[test]
    fn claim_header_values_are_flattened_and_sanitised() {
        let v = |value: Value| {
            header_value(&value).map(|h| h.to_str().unwrap_or("<non-ascii>").to_string())
        };
        assert_eq!(v(json!("alice")).as_deref(), Some("alice"));
        assert_eq!(v(json!(42)).as_deref(), Some("42"));
        assert_eq!(v(json!(true)).as_deref(), Some("true"));
        assert_eq!(v(json!(["a", "b", 3])).as_deref(), Some("a,b,3"));
        assert_eq!(v(json!({"a": 1})), None);
        assert_eq!(v(json!(null)), None);
        assert_eq!(v(json!("evil\r\nX-Injected: 1")), None);
        assert_eq!(v(json!("x".repeat(MAX_CLAIM_HEADER_BYTES + 1))), None);
    }
}
