//! The HTTP API (actix-web): `/verify`, `/key`, `/healthz`, `/readyz`, `/metrics`.
//!
//! Handlers extract the token, call the [`Verifier`], record metrics and turn the outcome into
//! a response; [`error`] is the one place where rejections become status codes.

pub mod admin;
pub mod error;
pub mod lifecycle;
pub mod token_source;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::metrics::Metrics;
use crate::settings::{TokenSource, VerifySettings};
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

/// The `[verify].payload_header` value (base64url JSON of the verified claims) is not sent when
/// longer than this: 8 KiB fits Envoy's and Traefik's defaults, and nginx with the
/// `proxy_buffer_size 16k` of `deploy/nginx/jwtgate.conf`.
pub const MAX_PAYLOAD_HEADER_BYTES: usize = 8192;

/// How `/verify` and `/key` read requests and shape answers, from `[verify]`. Cheap to share.
#[derive(Debug, Clone)]
pub struct RequestRules {
    /// Where the token may be, in order.
    pub token_sources: Vec<TokenSource>,
    /// The header that carries the verified payload, if one is configured.
    pub payload_header: Option<HeaderName>,
    /// Refuse requests that already carry an identity header.
    pub refuse_identity_headers: bool,
}

impl From<&VerifySettings> for RequestRules {
    fn from(settings: &VerifySettings) -> Self {
        Self {
            token_sources: settings.token_sources.clone(),
            refuse_identity_headers: settings.refuse_identity_headers,
            // Settings validation has already refused invalid names.
            payload_header: settings
                .payload_header
                .as_deref()
                .and_then(|name| HeaderName::try_from(name).ok()),
        }
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The verifier (issuers, keys).
    pub verifier: Arc<Verifier>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Token sources and answer headers.
    pub rules: Arc<RequestRules>,
}

/// Registers every route on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/verify", web::route().to(verify))
        .route("/verify/{tail:.*}", web::route().to(verify))
        .route("/key", web::get().to(key))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/issuers", web::get().to(admin::issuers))
        .route("/issuers/refresh", web::post().to(admin::refresh))
        .default_service(web::to(not_found));
}

/// `/verify` and `/verify/...`, any method (Envoy's `ext_authz` forwards the client's method).
async fn verify(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let started = Instant::now();
    let forged = state
        .rules
        .refuse_identity_headers
        .then(|| forged_identity_header(&req, &state.rules))
        .flatten();
    let outcome = match (
        forged,
        token_source::find_token(&req, &state.rules.token_sources),
    ) {
        (Some(name), _) => Err(Rejected::from(Rejection::ForgedIdentityHeader(name))),
        (None, Some(token)) => state.verifier.verify(&token).await,
        (None, None) => Err(Rejected::from(Rejection::MissingToken)),
    };
    let metrics = &state.metrics;
    if state.verifier.token_cache().is_some()
        && !matches!(&outcome, Err(r) if r.rejection == Rejection::MissingToken)
    {
        let result = if matches!(&outcome, Ok(v) if v.from_cache) {
            "hit"
        } else {
            "miss"
        };
        metrics
            .verified_token_cache_lookups
            .with_label_values(&[result])
            .inc();
    }
    let response = match outcome {
        Ok(verified) => {
            metrics
                .verifications
                .with_label_values(&[&*verified.policy.label, "valid", "ok"])
                .inc();
            success_response(&verified, &state.rules)
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

fn success_response(verified: &Verified, rules: &RequestRules) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((ISSUER_HEADER, &*verified.policy.issuer));
    if let Some(value) = verified
        .claims
        .get("sub")
        .filter(|s| s.is_string())
        .and_then(header_value)
    {
        response.insert_header((SUBJECT_HEADER, value));
    }
    for (claim, name) in &verified.policy.headers {
        let value = verified.claims.get(claim).and_then(header_value);
        if let (Ok(name), Some(value)) = (HeaderName::try_from(name.as_str()), value) {
            response.insert_header((name, value));
        }
    }
    if let Some(name) = &rules.payload_header
        && let Some(value) = payload_header_value(&verified.claims)
    {
        response.insert_header((name.clone(), value));
    }
    let claims = &verified.claims;
    // Serialized straight from the claims (json! would deep-copy them first).
    response.json(SuccessBody {
        active: true,
        iss: &verified.policy.issuer,
        sub: claims.get("sub"),
        aud: claims.get("aud"),
        exp: claims.get("exp"),
        claims,
    })
}

/// The JSON body of a 200 from `/verify`.
#[derive(serde::Serialize)]
struct SuccessBody<'a> {
    active: bool,
    iss: &'a str,
    sub: Option<&'a Value>,
    aud: Option<&'a Value>,
    exp: Option<&'a Value>,
    claims: &'a serde_json::Map<String, Value>,
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

/// The verified claims as unpadded base64url JSON (the encoding of the token's own payload, so
/// upstreams decode it the way they would a JWT part); `None` beyond
/// [`MAX_PAYLOAD_HEADER_BYTES`].
pub fn payload_header_value(claims: &serde_json::Map<String, Value>) -> Option<HeaderValue> {
    use base64::Engine as _;
    let json = serde_json::to_vec(claims).ok()?;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    if text.len() > MAX_PAYLOAD_HEADER_BYTES {
        return None;
    }
    HeaderValue::from_str(&text).ok()
}

/// The first request header only jwtgate may set (`X-Auth-*`, or the payload header), if any.
fn forged_identity_header(req: &HttpRequest, rules: &RequestRules) -> Option<String> {
    req.headers()
        .keys()
        .find(|name| {
            name.as_str().starts_with("x-auth-") || rules.payload_header.as_ref() == Some(*name)
        })
        .map(|name| name.as_str().to_string())
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
        query
            .token
            .as_deref()
            .map(Cow::Borrowed)
            .or_else(|| token_source::find_token(&req, &state.rules.token_sources)),
    ) {
        (Some(iss), Some(kid), _) => state.verifier.key_by_id(iss, kid).await,
        (None, None, Some(token)) => state.verifier.key_for_token(&token).await,
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
async fn readyz(
    state: web::Data<AppState>,
    lifecycle: web::Data<lifecycle::Lifecycle>,
) -> HttpResponse {
    if lifecycle.is_draining() {
        return HttpResponse::ServiceUnavailable().json(json!({"status": "draining"}));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_payload_header_is_the_claims_as_unpadded_base64url_json_and_bounded() {
        use base64::Engine as _;
        let claims = json!({"sub": "alice", "roles": ["a", "b"], "n": 1});
        let claims = claims.as_object().unwrap();

        let value = payload_header_value(claims).unwrap();

        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value.as_bytes())
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&decoded).unwrap(),
            json!(claims)
        );
        let huge = json!({"blob": "x".repeat(MAX_PAYLOAD_HEADER_BYTES)});
        assert_eq!(payload_header_value(huge.as_object().unwrap()), None);
    }
}
