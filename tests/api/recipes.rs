//! The recipes in `config/recipes/`, each loaded as shipped (only addresses and file paths
//! swapped for the test's) and fed a token of the real service's format. The real services
//! cannot be reached from a test: their keys come from a test issuer or a local JWK set file.
//! AWS ALB's recipe has its own chapter (`alb.rs`).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_with_fetcher};
use crate::local_keys::{TempDir, Unreachable};
use crate::tls::{PrivateCa, tls_issuer};
use jwtgate::dev::{DevKey, now};
use jwtgate::settings::Settings;

const SERVER: &str = "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n";

/// The recipe's text with these replacements, as settings on a free port.
fn recipe(name: &str, replacements: &[(&str, String)]) -> Settings {
    Settings::from_toml(&recipe_text(name, replacements)).unwrap()
}

/// The recipe's text with these replacements, on a free port.
pub fn recipe_text(name: &str, replacements: &[(&str, String)]) -> String {
    let path = format!("{}/config/recipes/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in replacements {
        assert!(text.contains(from), "{name}: {from:?} not in the recipe");
        text = text.replace(from, to);
    }
    format!("{SERVER}{text}")
}

/// Swaps a recipe's key URL line for a local JWK set file holding `key`.
fn keys_from_file<'a>(dir: &TempDir, line: &'a str, key: &DevKey) -> (&'a str, String) {
    let file = dir.write(
        "jwks.json",
        json!({"keys": [key.jwk()]}).to_string().as_bytes(),
    );
    (
        line,
        format!("jwks_file = {:?}", file.display().to_string()),
    )
}

fn times() -> Value {
    let now = now();
    json!({"iat": now, "nbf": now, "exp": now + 600})
}

fn with_times(mut claims: Value) -> Value {
    claims
        .as_object_mut()
        .unwrap()
        .extend(times().as_object().unwrap().clone());
    claims
}

#[actix_web::test]
async fn kubernetes_service_account_tokens_verify_against_the_api_server() {
    let (key, ca) = (DevKey::rs256(), PrivateCa::new("cluster"));
    let (iss, api_server) = tls_issuer(&key, &ca, &["127.0.0.1"]).await;
    api_server.set(|b| b.required_bearer = Some("jwtgate-sa-token".into()));
    let dir = TempDir::new("recipe-k8s");
    let ca_file = dir.write("ca.crt", ca.pem.as_bytes());
    let token_file = dir.write("token", b"jwtgate-sa-token");
    let settings = recipe(
        "kubernetes",
        &[
            ("https://kubernetes.default.svc.cluster.local", iss.clone()),
            (
                "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                ca_file.display().to_string(),
            ),
            (
                "/var/run/secrets/kubernetes.io/serviceaccount/token",
                token_file.display().to_string(),
            ),
        ],
    );
    let app = spawn_app(settings).await;
    let token = key.sign(&with_times(json!({
        "aud": ["jwtgate"],
        "iss": iss,
        "sub": "system:serviceaccount:payments:api",
        "jti": "7c5a1b9e-3f0a-4d6c-9a51-0c2f7e1d8b44",
        "kubernetes.io": {
            "namespace": "payments",
            "node": {"name": "node-1", "uid": "0b5e2f1a-7c4d-4e8b-9f3a-1d2c3b4a5e6f"},
            "pod": {"name": "api-7d9f8b6c5-x2x4z", "uid": "a8f1c2d3-e4b5-4c6d-8e7f-9a0b1c2d3e4f"},
            "serviceaccount": {"name": "api", "uid": "f3e2d1c0-b9a8-4765-8432-10fedcba9876"},
            "warnafter": now() + 300,
        },
    })));

    let answer = app.verify(&token).await;

    app.assert_allowed(&answer);
    assert_eq!(
        answer.header("x-auth-subject"),
        Some("system:serviceaccount:payments:api")
    );
    assert_eq!(answer.header("x-auth-namespace"), Some("payments"));
    assert_eq!(answer.header("x-auth-service-account"), Some("api"));
    assert_eq!(answer.header("x-auth-pod"), Some("api-7d9f8b6c5-x2x4z"));
}

#[actix_web::test]
async fn github_actions_oidc_tokens_pass_repository_ref_and_environment() {
    let key = DevKey::rs256().with_kid("38826b17-6a30-5f9b-b169-8beb8202f723");
    let dir = TempDir::new("recipe-github");
    let settings = recipe(
        "github-actions",
        &[keys_from_file(
            &dir,
            "jwks_hosts = [\"token.actions.githubusercontent.com\"]",
            &key,
        )],
    );
    let app = spawn_app_with_fetcher(settings, Arc::new(Unreachable::default())).await;
    let claims = with_times(json!({
        "jti": "example-id",
        "sub": "repo:my-org/my-repo:environment:prod",
        "environment": "prod",
        "aud": "https://github.com/my-org",
        "ref": "refs/heads/main",
        "sha": "example-sha",
        "repository": "my-org/my-repo",
        "repository_owner": "my-org",
        "actor_id": "12",
        "repository_visibility": "private",
        "repository_id": "74",
        "repository_owner_id": "65",
        "run_id": "example-run-id",
        "run_number": "10",
        "run_attempt": "2",
        "runner_environment": "github-hosted",
        "actor": "octocat",
        "workflow": "example-workflow",
        "head_ref": "",
        "base_ref": "",
        "event_name": "workflow_dispatch",
        "ref_type": "branch",
        "job_workflow_ref": "my-org/my-repo/.github/workflows/deploy.yml@refs/heads/main",
        "workflow_ref": "my-org/my-repo/.github/workflows/deploy.yml@refs/heads/main",
        "iss": "https://token.actions.githubusercontent.com",
    }));

    let answer = app.verify(&key.sign(&claims)).await;

    app.assert_allowed(&answer);
    assert_eq!(answer.header("x-auth-repository"), Some("my-org/my-repo"));
    assert_eq!(answer.header("x-auth-ref"), Some("refs/heads/main"));
    assert_eq!(answer.header("x-auth-environment"), Some("prod"));
    let mut other_org = claims.clone();
    other_org["aud"] = json!("https://github.com/someone-else");
    assert_eq!(
        app.verify(&key.sign(&other_org)).await.reason(),
        "wrong_audience"
    );
}

#[actix_web::test]
async fn google_iap_assertions_are_read_from_their_header() {
    let key = DevKey::es256().with_kid("0oeLcQ");
    let dir = TempDir::new("recipe-iap");
    let settings = recipe(
        "google-iap",
        &[keys_from_file(
            &dir,
            "jwks_uri = \"https://www.gstatic.com/iap/verify/public_key-jwk\"",
            &key,
        )],
    );
    let app = spawn_app_with_fetcher(settings, Arc::new(Unreachable::default())).await;
    let token = key.sign(&with_times(json!({
        "aud": "/projects/123456789012/global/backendServices/1234567890123456789",
        "azp": "/projects/123456789012/global/backendServices/1234567890123456789",
        "email": "alice@example.com",
        "hd": "example.com",
        "identity_source": "GOOGLE",
        "iss": "https://cloud.google.com/iap",
        "sub": "accounts.google.com:118230543917473520981",
    })));

    let answer = app
        .request_with_headers(
            awc::http::Method::GET,
            "/verify",
            &[("x-goog-iap-jwt-assertion", token.clone())],
        )
        .await;

    app.assert_allowed(&answer);
    assert_eq!(answer.header("x-auth-email"), Some("alice@example.com"));
    assert_eq!(answer.header("x-auth-domain"), Some("example.com"));
    let bearer = app.verify(&token).await;
    assert_eq!(
        bearer.reason(),
        "missing_token",
        "only IAP's header is read"
    );
}

#[actix_web::test]
async fn cloudflare_access_assertions_are_read_from_their_header() {
    let key = DevKey::rs256()
        .with_kid("c4c6d2a7f1a33e55f5b3a5f0e2e6b2c1d5f2e7a8b9c0d1e2f3a4b5c6d7e8f9a0");
    let dir = TempDir::new("recipe-cloudflare");
    let settings = recipe(
        "cloudflare-access",
        &[keys_from_file(
            &dir,
            "jwks_uri = \"https://your-team.cloudflareaccess.com/cdn-cgi/access/certs\"",
            &key,
        )],
    );
    let app = spawn_app_with_fetcher(settings, Arc::new(Unreachable::default())).await;
    let token = key.sign(&with_times(json!({
        "aud": ["4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"],
        "email": "alice@example.com",
        "iss": "https://your-team.cloudflareaccess.com",
        "type": "app",
        "identity_nonce": "6ei69kawdKzMIAPF",
        "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
        "country": "FI",
    })));

    let answer = app
        .request_with_headers(
            awc::http::Method::GET,
            "/verify",
            &[("Cf-Access-Jwt-Assertion", token)],
        )
        .await;

    app.assert_allowed(&answer);
    assert_eq!(answer.header("x-auth-email"), Some("alice@example.com"));
    assert_eq!(answer.header("x-auth-country"), Some("FI"));
}
