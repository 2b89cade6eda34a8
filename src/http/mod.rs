//! The HTTP API (actix-web): `/verify`, `/key`, `/healthz`, `/readyz`, `/metrics`, and the
//! admin endpoints; on one listener, or split between the data plane and the admin listener
//! (`[admin] bind`): [`routes`], [`data_plane_routes`], [`admin_routes`].
//!
//! Handlers extract the token, call the [`Verifier`], record metrics and turn the outcome into
//! a response; [`error`] is the one place where rejections become status codes.

pub mod admin;
pub mod decision;
pub mod decision_log;
pub mod error;
mod identity;
mod key;
pub mod lifecycle;
pub mod live;
pub mod policy;
pub mod readiness;
pub mod report_mode;
pub mod resource_metadata;
pub mod token_source;

pub(crate) use identity::success_response;
pub use identity::{header_value, payload_header_value};
pub use token_source::TokenSource;

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::HeaderName;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::header_alias::{IDENTITY_HEADER_PREFIX, alias_starts_with, same_alias};
use crate::metrics::Metrics;
use crate::verify::{AttributedRejection, Rejection, Verified, Verifier};
use error::{Endpoint, rejection_response};

/// Header naming the verified token's issuer.
pub const ISSUER_HEADER: &str = "x-auth-issuer";
/// Header naming the verified token's subject (`sub`); empty when the token has no string `sub`.
pub const SUBJECT_HEADER: &str = "x-auth-subject";

/// A request header that turns `refuse_identity_headers` on for this request, whatever the
/// configuration says (any value). A proxy that cannot strip the client's identity headers sets
/// it on its check request (`deploy/nginx/jwtgate.conf` does); a client sending it can only make
/// jwtgate stricter, never looser.
pub const REFUSE_IDENTITY_HEADERS_HEADER: &str = "x-jwtgate-refuse-identity-headers";

/// Claim header values longer than this are not sent (proxies limit header sizes; 4 KiB fits
/// nginx's and Envoy's defaults with room to spare).
pub const MAX_CLAIM_HEADER_BYTES: usize = 4096;

/// Separator used when an array claim is sent as one header value. An array with an element
/// that could be read as a separator (see [`header_value`]) is withheld rather than joined.
pub const CLAIM_ARRAY_SEPARATOR: &str = ",";

/// The `[verify].payload_header` value (base64url JSON of the verified claims) is not sent when
/// longer than this: 8 KiB fits Envoy's and Traefik's defaults, and nginx with the
/// `proxy_buffer_size 16k` of `deploy/nginx/jwtgate.conf`.
pub const MAX_PAYLOAD_HEADER_BYTES: usize = 8192;

/// How `/verify` and `/key` read requests and shape answers, from `[verify]` and the issuers'
/// `headers`. Cheap to share.
#[derive(Debug, Clone)]
pub struct RequestRules {
    /// Where the token may be, in order.
    pub token_sources: Vec<TokenSource>,
    /// The header that carries the verified payload, if one is configured.
    pub payload_header: Option<HeaderName>,
    /// Every claim header any `[[issuers]]` entry maps, once each: all of them are sent on every
    /// 200 (empty when the token's issuer does not map it or the claim is absent), so a proxy
    /// that copies jwtgate's answer headers always overwrites a client's copy.
    pub claim_headers: Vec<HeaderName>,
    /// Refuse requests that already carry an identity header.
    pub refuse_identity_headers: bool,
    /// Named policies and `[[routes]]` rules (`/policy/NAME`, route selection on `/verify`).
    pub policies: Arc<crate::policy::Policies>,
    /// Enforce decisions, or only report them (`[verify] mode`).
    pub mode: report_mode::VerifyMode,
    /// Whether a 200 carries the JSON body (`[verify] success_body`).
    pub success_body: bool,
}

/// What every handler shares. Cheap to clone. Handlers take it as an extractor: the state
/// current when the request arrived ([`live::LiveState`]; a reload swaps it whole).
#[derive(Clone)]
pub struct AppState {
    /// The verifier (issuers, keys).
    pub verifier: Arc<Verifier>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Token sources and answer headers.
    pub rules: Arc<RequestRules>,
    /// What the decision log writes.
    pub decisions: Arc<decision_log::DecisionLog>,
    /// Which issuers `/readyz` waits for.
    pub readiness: Arc<readiness::ReadinessRules>,
    /// The protected resource metadata (RFC 9728), when `[resource_metadata] resource` is set.
    pub resource_metadata: Option<Arc<resource_metadata::ResourceMetadata>>,
    /// Each policy's own metadata (`[policies.NAME] resource`), by policy name.
    pub policy_resource_metadata:
        Arc<std::collections::HashMap<String, Arc<resource_metadata::ResourceMetadata>>>,
}

/// Registers every route on an actix `App`: the data plane and the operations endpoints on one
/// listener (no `[admin] bind`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    data_plane(cfg);
    operations(cfg);
    cfg.default_service(web::to(not_found));
}

/// The data-plane listener's routes when `[admin] bind` is set: `/verify`, `/key` and the
/// protected resource metadata only.
pub fn data_plane_routes(cfg: &mut web::ServiceConfig) {
    data_plane(cfg);
    cfg.default_service(web::to(not_found_data_plane));
}

/// The admin listener's routes (`[admin] bind`): `/metrics`, `/issuers`, `/issuers/refresh`,
/// `/healthz`, `/readyz`.
pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    operations(cfg);
    cfg.default_service(web::to(not_found_admin));
}

fn data_plane(cfg: &mut web::ServiceConfig) {
    cfg.route("/verify", web::route().to(verify))
        .route("/verify/{tail:.*}", web::route().to(verify))
        .route("/policy/{name}", web::route().to(verify_policy))
        .route("/policy/{name}/{tail:.*}", web::route().to(verify_policy))
        .route("/key", web::get().to(key::key))
        .route(
            resource_metadata::WELL_KNOWN_PATH,
            web::get().to(resource_metadata::document),
        )
        .route(
            &format!("{}/{{tail:.*}}", resource_metadata::WELL_KNOWN_PATH),
            web::get().to(resource_metadata::document),
        );
}

fn operations(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readiness::readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/issuers", web::get().to(admin::issuers))
        .route("/issuers/refresh", web::post().to(admin::refresh));
}

/// `/verify` and `/verify/...`, any method (Envoy's `ext_authz` forwards the client's method):
/// the policy of the first matching `[[routes]]` rule, if any.
async fn verify(state: AppState, req: HttpRequest) -> HttpResponse {
    decide(state, req, policy::Selection::Routes).await
}

/// `/policy/NAME` and `/policy/NAME/...`, any method: the named policy (404 `unknown_policy`).
async fn verify_policy(state: AppState, req: HttpRequest) -> HttpResponse {
    decide(state, req, policy::Selection::Named).await
}

/// Verifies the request's token, then its policy's and query's requirements; answers, counts and
/// logs the decision.
async fn decide(state: AppState, req: HttpRequest, selection: policy::Selection) -> HttpResponse {
    let started = Instant::now();
    let request_id = decision_log::request_id(&req);
    let token = token_source::find_token(&req, &state.rules.token_sources);
    let refuse = state.rules.refuse_identity_headers
        || req.headers().contains_key(REFUSE_IDENTITY_HEADERS_HEADER);
    let forged = refuse
        .then(|| forged_identity_header(&req, &state.rules))
        .flatten();
    let requirements = policy::requirements(&req, &state.rules.policies, selection);
    let mode = report_mode::VerifyMode::for_policy(
        state.rules.mode,
        requirements
            .as_ref()
            .ok()
            .and_then(|r| r.policy())
            .map(|p| &**p),
    );
    let policy_name = requirements
        .as_ref()
        .ok()
        .and_then(|r| r.policy())
        .map(|p| p.name.clone());
    let mut chosen_policy = None;
    let outcome = match (forged, requirements) {
        (Some(name), _) => Err(AttributedRejection::from(Rejection::ForgedIdentityHeader(
            name,
        ))),
        (None, Err(rejection)) => Err(AttributedRejection::from(rejection)),
        (None, Ok(requirements)) => match &token {
            Some(token) => state.verifier.verify(token).await.and_then(|verified| {
                match crate::policy::check_all_verified(requirements.as_slice(), &verified) {
                    Ok(()) => {
                        chosen_policy = requirements.policy().cloned();
                        Ok(verified)
                    }
                    Err(rejection) => Err(AttributedRejection {
                        rejection,
                        issuer: Some(verified.policy),
                    }),
                }
            }),
            None => Err(AttributedRejection::from(Rejection::MissingToken)),
        },
    };
    let mut response = answer(&outcome, mode, chosen_policy.as_deref(), &state.rules);
    add_resource_metadata(&state, policy_name.as_deref(), &mut response);
    decision::record(
        &state,
        &decision::Decided {
            transport: decision::Transport::Http,
            mode,
            policy: policy_name.as_deref(),
            outcome: &outcome,
            token: token.as_deref(),
            request_id: &request_id,
            status: response.status().as_u16(),
            started,
        },
    );
    response.headers_mut().insert(
        HeaderName::from_static(decision_log::REQUEST_ID_HEADER),
        decision_log::request_id_header(&request_id),
    );
    response
}

/// A 401's challenge names the protected resource metadata (RFC 9728) of the policy that asked,
/// else the service's, when one is configured (over HTTP and gRPC alike).
pub(crate) fn add_resource_metadata(
    state: &AppState,
    policy: Option<&str>,
    response: &mut HttpResponse,
) {
    let metadata = policy
        .and_then(|name| state.policy_resource_metadata.get(name))
        .or(state.resource_metadata.as_ref());
    if let Some(metadata) = metadata
        && response.status() == actix_web::http::StatusCode::UNAUTHORIZED
    {
        metadata.add_to_challenge(response);
    }
}

/// The answer to a decision, whatever the transport (gRPC wraps it in Envoy's envelope): 200 with
/// the identity (and the policy's headers), report mode's 200 without one, or the refusal.
pub(crate) fn answer(
    outcome: &Result<Verified, AttributedRejection>,
    mode: report_mode::VerifyMode,
    policy: Option<&crate::policy::Policy>,
    rules: &RequestRules,
) -> HttpResponse {
    match outcome {
        Ok(verified) => {
            let mut response = success_response(verified, rules);
            if let Some(chosen) = policy {
                policy::set_policy_headers(&mut response, chosen, verified);
            }
            response
        }
        Err(rejected) if mode.lets_through(&rejected.rejection) => {
            report_mode::would_deny_response(&rejected.rejection, rules)
        }
        Err(rejected) => rejection_response(&rejected.rejection, Endpoint::Verify),
    }
}

/// The first request header only jwtgate may set, in any spelling: a name that, read the way
/// CGI, WSGI, PHP and nginx read header names, is an `X-Auth-*` header, a configured claim
/// header or the payload header.
fn forged_identity_header(req: &HttpRequest, rules: &RequestRules) -> Option<String> {
    req.headers()
        .keys()
        .find(|name| {
            let name = name.as_str();
            alias_starts_with(name, IDENTITY_HEADER_PREFIX)
                || rules
                    .payload_header
                    .iter()
                    .chain(&rules.claim_headers)
                    .any(|identity| same_alias(name, identity.as_str()))
        })
        .map(|name| name.as_str().to_string())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn metrics(state: AppState) -> HttpResponse {
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

async fn not_found_data_plane() -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "error": "not_found",
        "message": "see /verify and /key (operations endpoints are on the admin listener)",
    }))
}

async fn not_found_admin() -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "error": "not_found",
        "message": "see /healthz, /readyz, /metrics, /issuers, /issuers/refresh",
    }))
}

#[cfg(test)]
mod tests;
