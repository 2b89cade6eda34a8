//! Envoy `ext_authz` over gRPC (`envoy.service.auth.v3.Authorization/Check`), on its own
//! listener (`[grpc] bind`, off by default), built on `tonic` and the published Envoy protobuf
//! types (`envoy-types`).
//!
//! The same verifier, token sources, policies, reason codes and metrics as `/verify`; only the
//! envelope differs. The request is Envoy's description of the client's request: its headers
//! (token sources, forged identity headers), path, host and method (the `[[routes]]` rules). The
//! policy comes from the route's `context_extensions` (`policy = NAME`, plus the requirement keys
//! `aud`, `scope`, `iss`, `claim.<path>`, which a client cannot touch), else from the
//! `[[routes]]` rules. The client's own query is not read as requirements here.
//!
//! Allowed: `OkHttpResponse` with every identity header set (empty when there is no value) and
//! every client header that is an identity header in any spelling in `headers_to_remove` (with
//! `refuse_identity_headers` on, or an `x-jwtgate-refuse-identity-headers` request header, such a
//! request is refused instead, as over HTTP); the verified
//! claims as `dynamic_metadata` (`issuer`, `policy`, `claims`). Denied: `DeniedHttpResponse` with
//! the status, RFC 6750 challenge, headers and JSON body `/verify` would answer (503 with
//! `Retry-After` when keys are unavailable). Envoy's `failure_mode_allow` must stay `false`.
//!
//! Like `/verify`, each `Check` is counted and written to the decision log
//! ([`crate::http::decision`], `transport = grpc`) with the request id of the client's
//! `x-request-id` or `traceparent` header, echoed in the answer; and report mode (`[verify] mode`,
//! a policy's `mode`) lets a would-be refusal through as an `OkHttpResponse` without an identity.

pub(crate) mod listener;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, HeaderAppendAction,
    HttpStatusCode,
};
use envoy_types::ext_authz::v3::{
    CheckResponseExt, DeniedHttpResponseBuilder, OkHttpResponseBuilder,
};
use envoy_types::pb::google::protobuf::{ListValue, Struct, Value as PbValue, value::Kind};
use serde_json::Value;
use tonic::{Request, Response, Status};

use crate::header_alias::{IDENTITY_HEADER_PREFIX, alias_starts_with, same_alias};
use crate::http::decision::{self, Decided, Transport};
use crate::http::decision_log;
use crate::http::live::LiveState;
use crate::http::report_mode::VerifyMode;
use crate::http::{RequestRules, TokenSource, token_source};
use crate::policy::{OriginalRequest, Policy, Requirement, check_all_verified, query};
use crate::verify::{AttributedRejection, Rejection, Verified};

/// The `context_extensions` key naming the policy of an Envoy route.
pub const POLICY_KEY: &str = "policy";

/// The `Check` service. Cheap to clone; reads the HTTP server's live state, so a configuration
/// reload applies to gRPC calls too.
#[derive(Clone)]
pub struct CheckService {
    live: Arc<LiveState>,
}

impl CheckService {
    /// A service over the same (live) verifier, metrics and rules as the HTTP API.
    pub fn new(live: Arc<LiveState>) -> Self {
        Self { live }
    }
}

/// Serves `Check` on `listener` until `shutdown` completes.
///
/// # Errors
/// The gRPC server failed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: CheckService,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    // TCP_NODELAY: without it, a small answer written behind an unacknowledged one waits for
    // the client's delayed ACK (Nagle), and every call took ~40 ms whatever its work (measured
    // with h2load, BENCHMARKS.md). `TcpIncoming::from` leaves the option unset.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(AuthorizationServer::new(service))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let attributes = request.into_inner().attributes.unwrap_or_default();
        let http = attributes.request.and_then(|r| r.http).unwrap_or_default();
        let mut headers = http.headers;
        if headers.is_empty()
            && let Some(map) = http.header_map
        {
            // `encode_raw_headers: true` sends them here instead.
            for header in map.headers {
                let value = String::from_utf8_lossy(&header.raw_value).into_owned();
                headers.insert(header.key.to_ascii_lowercase(), value);
            }
        }
        let described = Described {
            headers: &headers,
            path: &http.path,
            host: &http.host,
            method: &http.method,
            context: &attributes.context_extensions,
        };
        Ok(Response::new(self.decide(&described).await))
    }
}

/// Envoy's description of the client's request.
struct Described<'a> {
    headers: &'a HashMap<String, String>,
    path: &'a str,
    host: &'a str,
    method: &'a str,
    context: &'a HashMap<String, String>,
}

impl CheckService {
    async fn decide(&self, request: &Described<'_>) -> CheckResponse {
        let started = Instant::now();
        // The state current when the call arrived, kept to its end (as HTTP requests do).
        let state = self.live.load();
        let rules = &state.rules;
        let request_id =
            decision_log::request_id_from(|name| request.headers.get(name).map(String::as_str));
        let forged: Vec<&String> = request
            .headers
            .keys()
            .filter(|name| is_identity_header(name, rules))
            .collect();
        // As over HTTP, the proxy's `x-jwtgate-refuse-identity-headers` can only make this
        // stricter: such headers refuse the request instead of being removed.
        let refuse = rules.refuse_identity_headers
            || request
                .headers
                .contains_key(crate::http::REFUSE_IDENTITY_HEADERS_HEADER);
        let token = find_token(request.headers, request.path, &rules.token_sources);
        let requirements = requirements(rules, request);
        let mode = VerifyMode::for_policy(
            rules.mode,
            requirements.as_ref().ok().and_then(|(p, _)| p.as_deref()),
        );
        let asked = requirements
            .as_ref()
            .ok()
            .and_then(|(p, _)| p.as_ref())
            .map(|p| p.name.clone());
        let mut chosen = None;
        let outcome =
            match (forged.first(), requirements) {
                (Some(name), _) if refuse => Err(AttributedRejection::from(
                    Rejection::ForgedIdentityHeader((*name).clone()),
                )),
                (_, Err(rejection)) => Err(AttributedRejection::from(rejection)),
                (_, Ok((policy, list))) => match &token {
                    None => Err(AttributedRejection::from(Rejection::MissingToken)),
                    Some(token) => state.verifier.verify(token).await.and_then(|verified| {
                        match check_all_verified(&list, &verified) {
                            Ok(()) => {
                                chosen = policy;
                                Ok(verified)
                            }
                            Err(rejection) => Err(AttributedRejection {
                                rejection,
                                issuer: Some(verified.policy),
                            }),
                        }
                    }),
                },
            };
        let mut http = crate::http::answer(&outcome, mode, chosen.as_deref(), rules);
        crate::http::add_resource_metadata(&state, asked.as_deref(), &mut http);
        let status = http.status().as_u16();
        let response = match &outcome {
            Ok(verified) => allowed(
                &http,
                rules,
                &forged,
                &request_id,
                verified_metadata(verified, chosen.as_deref()),
            ),
            // Report mode: let through without an identity.
            Err(rejected) if mode.lets_through(&rejected.rejection) => allowed(
                &http,
                rules,
                &forged,
                &request_id,
                would_deny_metadata(&rejected.rejection),
            ),
            Err(rejected) => denied(http, &rejected.rejection, &request_id),
        };
        decision::record(
            &state,
            &Decided {
                transport: Transport::Grpc,
                mode,
                policy: asked.as_deref(),
                outcome: &outcome,
                token: token.as_deref(),
                request_id: &request_id,
                status,
                started,
            },
        );
        response
    }
}

fn nonempty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// The chosen policy and every requirement: the route's `context_extensions`, else the
/// `[[routes]]` rules on the request attributes.
fn requirements(
    rules: &RequestRules,
    request: &Described<'_>,
) -> Result<(Option<std::sync::Arc<Policy>>, Vec<Requirement>), Rejection> {
    let policies = &rules.policies;
    let policy = match request.context.get(POLICY_KEY) {
        Some(name) => Some(policies.named(name)?),
        None if policies.has_routes() || policies.denies_unmatched() => {
            policies.for_request(&OriginalRequest {
                uri: nonempty(request.path),
                host: nonempty(request.host),
                method: nonempty(request.method),
            })?
        }
        None => None,
    };
    let mut list = policy
        .as_ref()
        .map(|p| p.requirements.clone())
        .unwrap_or_default();
    list.extend(query::from_pairs(
        request
            .context
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    )?);
    Ok((policy, list))
}

/// The token of the first configured source that has one, from Envoy's headers (lower-case
/// names) and the client's path.
fn find_token(
    headers: &HashMap<String, String>,
    path: &str,
    sources: &[TokenSource],
) -> Option<String> {
    sources.iter().find_map(|source| match source {
        TokenSource::Header { name, scheme } => headers
            .get(name.as_str())
            .and_then(|value| token_source::header_token(value, scheme.as_deref()))
            .map(str::to_string),
        TokenSource::Cookie { name } => headers
            .get("cookie")
            .and_then(|value| token_source::cookie_token(value, name))
            .map(str::to_string),
        TokenSource::Query { name } => path
            .split_once('?')
            .and_then(|(_, query)| token_source::query_token(query, name)),
    })
}

/// Whether a client header is an identity header in some spelling (see `http`).
fn is_identity_header(name: &str, rules: &RequestRules) -> bool {
    alias_starts_with(name, IDENTITY_HEADER_PREFIX)
        || rules
            .payload_header
            .iter()
            .chain(&rules.claim_headers)
            .any(|identity| same_alias(name, identity.as_str()))
}

/// `OkHttpResponse`: the identity headers of `http` (the answer `/verify` gives: the token's
/// identity, or report mode's empty one) set on the request (overwriting), the client's identity
/// headers removed, the request id on the client's response, and `metadata` as dynamic metadata.
fn allowed(
    http: &actix_web::HttpResponse,
    rules: &RequestRules,
    forged: &[&String],
    request_id: &str,
    metadata: Struct,
) -> CheckResponse {
    let mut ok = OkHttpResponseBuilder::new();
    let mut set = Vec::new();
    for (name, value) in http.headers() {
        if alias_starts_with(name.as_str(), IDENTITY_HEADER_PREFIX)
            || rules.payload_header.as_ref() == Some(name)
        {
            set.push(name.as_str());
            ok.add_header(
                name.as_str(),
                String::from_utf8_lossy(value.as_bytes()),
                Some(HeaderAppendAction::OverwriteIfExistsOrAdd),
                true,
            );
        }
    }
    // Envoy removes after it sets: a header jwtgate sets is overwritten, not removed.
    for name in forged.iter().filter(|name| !set.contains(&name.as_str())) {
        ok.remove_header(name.as_str());
    }
    // Added only if the upstream's answer has none (Envoy usually set the same id already).
    ok.add_response_header(
        decision_log::REQUEST_ID_HEADER,
        request_id,
        Some(HeaderAppendAction::AddIfAbsent),
        false,
    );
    let mut response = CheckResponse::with_status(Status::ok("allowed"));
    response
        .set_http_response(ok.build())
        .set_dynamic_metadata(Some(metadata));
    response
}

/// The dynamic metadata of a verified token: `issuer`, `policy` (if one was chosen), `claims`.
fn verified_metadata(verified: &Verified, policy: Option<&Policy>) -> Struct {
    let mut metadata = Struct::default();
    metadata.fields.insert(
        "issuer".into(),
        string_value(verified.policy.issuer.to_string()),
    );
    if let Some(policy) = policy {
        metadata
            .fields
            .insert("policy".into(), string_value(policy.name.to_string()));
    }
    metadata.fields.insert(
        "claims".into(),
        PbValue {
            kind: Some(Kind::StructValue(to_struct(verified.claims()))),
        },
    );
    metadata
}

/// The dynamic metadata of a refusal report mode lets through: what `/verify`'s body says
/// (`mode`, `would_deny`, `reason`), and no identity.
fn would_deny_metadata(rejection: &Rejection) -> Struct {
    let mut metadata = Struct::default();
    metadata
        .fields
        .insert("mode".into(), string_value("report".into()));
    metadata.fields.insert(
        "would_deny".into(),
        PbValue {
            kind: Some(Kind::BoolValue(true)),
        },
    );
    metadata
        .fields
        .insert("reason".into(), string_value(rejection.reason().into()));
    metadata
}

/// `DeniedHttpResponse`: exactly what `/verify` answers (status, challenge, `Retry-After`,
/// `Cache-Control`, JSON body), plus the request id.
fn denied(http: actix_web::HttpResponse, rejection: &Rejection, request_id: &str) -> CheckResponse {
    let status = http.status().as_u16();
    let mut denied = DeniedHttpResponseBuilder::new();
    denied.set_http_status(
        HttpStatusCode::try_from(i32::from(status)).unwrap_or(HttpStatusCode::Forbidden),
    );
    for (name, value) in http.headers() {
        denied.add_header(
            name.as_str(),
            String::from_utf8_lossy(value.as_bytes()),
            Some(HeaderAppendAction::OverwriteIfExistsOrAdd),
            false,
        );
    }
    denied.add_header(
        decision_log::REQUEST_ID_HEADER,
        request_id,
        Some(HeaderAppendAction::OverwriteIfExistsOrAdd),
        false,
    );
    // A JSON answer's body is one buffer: taken without polling (the actix body is not Send).
    let body = actix_web::body::MessageBody::try_into_bytes(http.into_body())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    denied.set_body(body);
    let status = match status {
        503 => Status::unavailable("keys unavailable"),
        401 => Status::unauthenticated(rejection.reason()),
        _ => Status::permission_denied(rejection.reason()),
    };
    let mut response = CheckResponse::with_status(status);
    response.set_http_response(denied.build());
    response
}

fn string_value(text: String) -> PbValue {
    PbValue {
        kind: Some(Kind::StringValue(text)),
    }
}

/// JSON claims as a protobuf `Struct` (numbers become doubles, as protobuf JSON does).
fn to_struct(map: &serde_json::Map<String, Value>) -> Struct {
    Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
    }
}

fn to_value(value: &Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(to_struct(map)),
    };
    PbValue { kind: Some(kind) }
}
