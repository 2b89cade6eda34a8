//! Envoy `ext_authz` over gRPC (`[grpc] bind`): the same decisions as `/verify`, in Envoy's
//! `CheckResponse` envelope, asked the way Envoy asks. Report mode over gRPC: `report_mode.rs`.

use std::collections::HashMap;
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::google::protobuf::value::Kind;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::helpers::{KeyedApp, settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, now};
use jwtgate::settings::{PolicySettings, RouteSettings, Settings, VerifyMode};

mod report_mode;

/// The app under test, its issuer and key.
type Fixture = KeyedApp;

async fn fixture(refuse_identity_headers: bool) -> Fixture {
    fixture_with(refuse_identity_headers, |_| {}).await
}

/// [`fixture`], with these changes to the settings.
async fn fixture_with(
    refuse_identity_headers: bool,
    adjust: impl FnOnce(&mut Settings),
) -> Fixture {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.grpc.bind = Some("127.0.0.1:0".parse().unwrap());
    settings.verify.refuse_identity_headers = refuse_identity_headers;
    settings.policies.insert(
        "admin".into(),
        PolicySettings {
            scopes: vec!["admin".into()],
            claims: [(
                "roles".to_string(),
                vec![jwtgate::settings::ClaimValue::Text("admin".into())],
            )]
            .into_iter()
            .collect(),
            ..PolicySettings::default()
        },
    );
    settings.routes.push(RouteSettings {
        paths: vec!["/admin/*".into()],
        policy: "admin".into(),
        ..RouteSettings::default()
    });
    adjust(&mut settings);
    let app = spawn_app(settings).await;
    Fixture::new(issuer, key, app)
}

impl Fixture {
    /// Asks `Check` as Envoy would for `GET path` with these client headers and route context.
    async fn check(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        context: &[(&str, &str)],
    ) -> CheckResponse {
        let port = self.app.grpc_port.expect("the gRPC listener is on");
        let mut client = connect(port).await;
        check_within(&mut client, check_request(path, headers, context)).await
    }
}

/// How long a test waits for the gRPC listener, so that one that never answers fails the test.
const GRPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of the gRPC listener on `port`, connected within [`GRPC_TIMEOUT`].
pub(crate) async fn connect(port: u16) -> AuthorizationClient<Channel> {
    tokio::time::timeout(
        GRPC_TIMEOUT,
        AuthorizationClient::connect(format!("http://127.0.0.1:{port}")),
    )
    .await
    .expect("connected within the timeout")
    .expect("the gRPC listener answers")
}

/// `Check`, answered within [`GRPC_TIMEOUT`].
pub(crate) async fn check_within(
    client: &mut AuthorizationClient<Channel>,
    request: CheckRequest,
) -> CheckResponse {
    tokio::time::timeout(GRPC_TIMEOUT, client.check(request))
        .await
        .expect("Check answers within the timeout")
        .expect("Check answers")
        .into_inner()
}

impl Fixture {
    /// `Check` of a valid token with a forged identity header (`x_auth_sub`).
    async fn check_with_a_forged_header(&self) -> CheckResponse {
        let bearer = format!("Bearer {}", self.token(json!({})));
        self.check(
            "/app",
            &[("Authorization", &bearer), ("x_auth_sub", "mallory")],
            &[],
        )
        .await
    }
}

/// The `CheckRequest` Envoy sends for `GET path` with these client headers (names lower-cased,
/// as Envoy sends them) and route context.
pub(crate) fn check_request(
    path: &str,
    headers: &[(&str, &str)],
    context: &[(&str, &str)],
) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: path.into(),
                    host: "app.example.com".into(),
                    headers: headers
                        .iter()
                        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                        .collect::<HashMap<_, _>>(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            context_extensions: context
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..AttributeContext::default()
        }),
    }
}

/// (status code, reason) of a denial, or (200, headers set) of an allowance.
fn denial(response: &CheckResponse) -> (u16, String) {
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(denied)) => {
            let body: Value = serde_json::from_str(&denied.body).unwrap_or(Value::Null);
            (
                denied.status.as_ref().map_or(0, |s| s.code as u16),
                body["reason"].as_str().unwrap_or("<none>").to_string(),
            )
        }
        Some(HttpResponse::OkResponse(_)) => (200, String::new()),
        Some(HttpResponse::ErrorResponse(_)) | None => (0, "<no decision>".into()),
    }
}

fn set_headers(response: &CheckResponse) -> HashMap<String, String> {
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect(),
        _ => HashMap::new(),
    }
}

#[actix_web::test]
async fn a_valid_token_is_allowed_with_the_identity_headers_and_the_claims_as_metadata() {
    let f = fixture(true).await;
    let bearer = format!("Bearer {}", f.token(json!({})));

    let response = f
        .check("/app?x=1", &[("Authorization", &bearer)], &[])
        .await;

    assert_eq!(response.status.as_ref().map(|s| s.code), Some(0));
    let headers = set_headers(&response);
    assert_eq!(
        headers.get("x-auth-subject").map(String::as_str),
        Some("alice")
    );
    assert_eq!(headers.get("x-auth-issuer"), Some(&f.iss));
    let metadata = response.dynamic_metadata.expect("dynamic metadata");
    let Some(Kind::StructValue(claims)) = metadata.fields["claims"].kind.clone() else {
        panic!("claims are a struct");
    };
    assert_eq!(
        claims.fields["sub"].kind,
        Some(Kind::StringValue("alice".into()))
    );
    let metric = "jwtgate_verifications_total";
    let grpc = [("result", "valid"), ("transport", "grpc")];
    let http = [("result", "valid"), ("transport", "http")];
    assert_eq!(
        f.app.metric(metric, &grpc).await,
        1.0,
        "counted once, as gRPC"
    );
    assert_eq!(f.app.metric(metric, &http).await, 0.0);
}

#[actix_web::test]
async fn denials_carry_the_status_challenge_and_reason_of_verify() {
    let f = fixture(true).await;
    let expired = format!("Bearer {}", f.token(json!({"exp": now() - 3600})));
    let wrong_aud = format!("Bearer {}", f.token(json!({"aud": "other"})));

    let cases = [
        (f.check("/app", &[], &[]).await, (401, "missing_token")),
        (
            f.check("/app", &[("Authorization", &expired)], &[]).await,
            (401, "expired"),
        ),
        (
            f.check("/app", &[("Authorization", &wrong_aud)], &[]).await,
            (401, "wrong_audience"),
        ),
    ];
    for (response, (status, reason)) in cases {
        assert_eq!(denial(&response), (status, reason.to_string()));
        assert_ne!(response.status.as_ref().map(|s| s.code), Some(0));
        let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
            panic!("denied");
        };
        assert!(
            denied
                .headers
                .iter()
                .filter_map(|h| h.header.as_ref())
                .any(|h| h.key == "www-authenticate" && h.value.starts_with("Bearer realm=")),
            "{reason}: {:?}",
            denied.headers
        );
    }
}

#[actix_web::test]
async fn the_policy_comes_from_context_extensions_else_from_the_routes() {
    let f = fixture(true).await;
    let user = format!("Bearer {}", f.token(json!({})));
    let admin_no_role = format!(
        "Bearer {}",
        f.token(json!({"scope": "admin", "roles": ["dev"]}))
    );
    let user_h = [("Authorization", user.as_str())];
    let no_role_h = [("Authorization", admin_no_role.as_str())];

    assert_eq!(denial(&f.check("/app", &user_h, &[]).await).0, 200);
    assert_eq!(
        denial(&f.check("/app", &user_h, &[("policy", "admin")]).await),
        (403, "insufficient_scope".into())
    );
    assert_eq!(
        denial(&f.check("/app", &no_role_h, &[("policy", "admin")]).await),
        (403, "claim_mismatch".into())
    );
    assert_eq!(
        denial(&f.check("/admin/users", &user_h, &[]).await),
        (403, "insufficient_scope".into()),
        "the [[routes]] rules on the request path"
    );
    assert_eq!(
        denial(&f.check("/app/../admin", &user_h, &[]).await),
        (400, "invalid_path".into())
    );
    assert_eq!(
        denial(&f.check("/app", &user_h, &[("policy", "nope")]).await),
        (404, "unknown_policy".into())
    );
    assert_eq!(
        denial(
            &f.check("/app", &user_h, &[("claim.email", "bob@example.com")])
                .await
        ),
        (403, "claim_mismatch".into()),
        "requirement keys in context_extensions"
    );
    assert_eq!(
        denial(
            &f.check("/app?scope=&aud=x", &user_h, &[("policy", "admin")])
                .await
        )
        .1,
        "insufficient_scope",
        "the client's query changes nothing"
    );
}

#[actix_web::test]
async fn client_identity_headers_are_removed_in_every_spelling_or_refused() {
    let removing = fixture(false).await;
    let bearer = format!("Bearer {}", removing.token(json!({})));
    let forged = [
        "x-auth-subject",
        "x_auth_sub",
        "x.auth.admin",
        "x-auth_email",
    ];
    let mut headers: Vec<(&str, &str)> = vec![("Authorization", &bearer)];
    headers.extend(forged.iter().map(|n| (*n, "mallory")));

    let response = removing.check("/app", &headers, &[]).await;

    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("allowed: {:?}", response.http_response);
    };
    for name in forged.iter().filter(|n| **n != "x-auth-subject") {
        assert!(
            ok.headers_to_remove.iter().any(|r| r == name),
            "{name}: {:?}",
            ok.headers_to_remove
        );
    }
    assert!(
        !ok.headers_to_remove.iter().any(|r| r == "x-auth-subject"),
        "a header jwtgate sets is overwritten, not removed (Envoy removes after it sets)"
    );
    assert_eq!(
        set_headers(&response)
            .get("x-auth-subject")
            .map(String::as_str),
        Some("alice")
    );

    let refusing = fixture(true).await;
    let response = refusing.check_with_a_forged_header().await;
    assert_eq!(denial(&response), (403, "forged_identity_header".into()));

    // As over HTTP, the proxy can ask for refusal per request; it only ever makes jwtgate
    // stricter.
    headers.push(("x-jwtgate-refuse-identity-headers", "1"));
    let response = removing.check("/app", &headers, &[]).await;
    assert_eq!(denial(&response), (403, "forged_identity_header".into()));
}

/// An answer written in two parts (headers and message, then trailers) waits, under Nagle's
/// algorithm, for the client's delayed ACK (~40 ms on Linux): the listener sets TCP_NODELAY.
#[actix_web::test]
async fn checks_on_one_connection_are_not_held_back_by_delayed_acks() {
    let f = fixture(true).await;
    let mut client = connect(f.app.grpc_port.expect("the gRPC listener is on")).await;
    check_within(&mut client, check_request("/app", &[], &[])).await;

    let started = std::time::Instant::now();
    for _ in 0..20 {
        check_within(&mut client, check_request("/app", &[], &[])).await;
    }
    let elapsed = started.elapsed();

    assert!(
        elapsed < Duration::from_millis(400),
        "20 Checks took {elapsed:?}: ~40 ms each is a delayed ACK"
    );
}

/// The listener runs on threads of its own, as many as `[server] workers`, so gRPC uses as many
/// cores as HTTP does (actix-web's runtimes are single-threaded; on the main one, gRPC used one
/// core whatever the workers).
#[actix_web::test]
async fn the_grpc_listener_has_as_many_threads_as_the_http_server_has_workers() {
    let f = fixture_with(true, |s| s.server.workers = 3).await;
    let port = f.app.grpc_port.expect("the gRPC listener is on");
    let name = format!("grpc-{port}");

    let threads = std::fs::read_dir("/proc/self/task")
        .expect("Linux: /proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count();
    let mut client = connect(port).await;
    let answer = check_within(&mut client, check_request("/app", &[], &[])).await;

    assert!(threads >= 3, "{threads} threads named {name}");
    assert!(answer.status.is_some(), "and it answers");
}

/// RFC 9728 over gRPC too: with `[resource_metadata] resource` set, a 401 `DeniedHttpResponse`'s
/// challenge names the metadata document, as `/verify`'s does; a 403 does not.
#[actix_web::test]
async fn grpc_401_challenges_name_the_protected_resource_metadata() {
    let f = fixture_with(true, |s| {
        s.resource_metadata.resource = Some("https://resource.example.com".parse().unwrap());
    })
    .await;
    let user = format!("Bearer {}", f.token(json!({})));
    let challenge = |response: &CheckResponse| {
        let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
            panic!("denied");
        };
        denied
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .find(|h| h.key == "www-authenticate")
            .map(|h| h.value.clone())
            .unwrap_or_default()
    };

    let missing = f.check("/app", &[], &[]).await;
    let forbidden = f.check("/admin/x", &[("Authorization", &user)], &[]).await;

    assert_eq!(denial(&missing).0, 401);
    assert!(
        challenge(&missing).contains(
            "resource_metadata=\"https://resource.example.com/.well-known/oauth-protected-resource\""
        ),
        "{}",
        challenge(&missing)
    );
    assert_eq!(denial(&forbidden).0, 403);
    assert!(!challenge(&forbidden).contains("resource_metadata"));
}
