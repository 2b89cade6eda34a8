//! Envoy `ext_authz` over gRPC (`[grpc] bind`): the same decisions as `/verify`, in Envoy's
//! `CheckResponse` envelope, asked the way Envoy asks.

use std::collections::HashMap;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::google::protobuf::value::Kind;
use serde_json::{Value, json};

use crate::helpers::{TestApp, settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims, now};
use jwtgate::settings::{PolicySettings, RouteSettings};

struct Fixture {
    _issuer: DevIssuer,
    app: TestApp,
    key: DevKey,
    iss: String,
}

async fn fixture(refuse_identity_headers: bool) -> Fixture {
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
    let app = spawn_app(settings).await;
    Fixture {
        iss: issuer.issuer().to_string(),
        _issuer: issuer,
        app,
        key,
    }
}

impl Fixture {
    fn token(&self, extra: Value) -> String {
        let mut c = claims(&self.iss);
        for (name, value) in extra.as_object().unwrap() {
            c[name] = value.clone();
        }
        self.key.sign(&c)
    }

    /// Asks `Check` as Envoy would for `GET path` with these client headers and route context.
    async fn check(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        context: &[(&str, &str)],
    ) -> CheckResponse {
        let port = self.app.grpc_port.expect("the gRPC listener is on");
        let mut client = AuthorizationClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .expect("the gRPC listener answers");
        let request = CheckRequest {
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
        };
        client
            .check(request)
            .await
            .expect("Check answers")
            .into_inner()
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
    let bearer = format!("Bearer {}", refusing.token(json!({})));
    let response = refusing
        .check(
            "/app",
            &[("Authorization", &bearer), ("x_auth_sub", "mallory")],
            &[],
        )
        .await;
    assert_eq!(denial(&response), (403, "forged_identity_header".into()));
}
