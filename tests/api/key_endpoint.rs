//! `/key`: pyjwt-key-fetcher's `get_key`, over HTTP.

use awc::http::Method;
use serde_json::json;

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims, now};

#[actix_web::test]
async fn key_returns_the_public_jwk_issuer_kid_and_algorithms_for_a_token() {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let mut expired = claims(issuer.issuer());
    expired["exp"] = json!(now() - 10_000);

    let answer = app
        .request(Method::GET, "/key", Some(&key.sign(&expired)))
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["issuer"], issuer.issuer());
    assert_eq!(answer.body["kid"], "ec-256");
    assert_eq!(answer.body["algorithms"], json!(["ES256"]));
    assert_eq!(answer.body["jwk"]["x"], key.jwk()["x"]);
    assert!(answer.body["jwk"].get("d").is_none());
}

#[actix_web::test]
async fn key_accepts_the_token_as_a_query_parameter() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    let answer = app
        .get(&format!(
            "/key?token={}",
            key.sign(&claims(issuer.issuer()))
        ))
        .await;

    assert_eq!(
        (answer.status, answer.body["kid"].as_str()),
        (200, Some("rsa-1"))
    );
}

#[actix_web::test]
async fn key_looks_up_by_issuer_and_kid() {
    let key = DevKey::eddsa();
    let issuer = DevIssuer::serving_jwks(json!({"keys": [key.jwk_without_alg()]})).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let query = |kid: &str| format!("/key?iss={}&kid={kid}", urlencode(issuer.issuer()));

    let found = app.get(&query("ed-1")).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["algorithms"], json!(["EdDSA"]));

    let missing = app.get(&query("nope")).await;
    assert_eq!((missing.status, missing.reason()), (404, "unknown_kid"));
}

#[actix_web::test]
async fn key_refuses_untrusted_issuers_and_incomplete_requests() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    let untrusted = app.get("/key?iss=https%3A%2F%2Fevil.example&kid=k").await;
    assert_eq!(
        (untrusted.status, untrusted.reason()),
        (403, "untrusted_issuer")
    );
    let half = app.get("/key?kid=k").await;
    assert_eq!((half.status, half.reason()), (400, "malformed"));
    let nothing = app.get("/key").await;
    assert_eq!((nothing.status, nothing.reason()), (400, "missing_token"));
    let unknown_param = app.get("/key?foo=bar").await;
    assert_eq!(unknown_param.status, 400);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
