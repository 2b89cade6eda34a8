//! The verified-token cache: repeats skip the signature check, but never outlive the token,
//! the cap, or the key that verified them.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims, now};

async fn lookups(app: &TestApp) -> (f64, f64) {
    let hits = app
        .metric(
            "jwtgate_verified_token_cache_lookups_total",
            &[("result", "hit")],
        )
        .await;
    let misses = app
        .metric(
            "jwtgate_verified_token_cache_lookups_total",
            &[("result", "miss")],
        )
        .await;
    (hits, misses)
}

#[actix_web::test]
async fn a_repeated_token_is_answered_from_the_cache_with_the_same_identity() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].headers = [("email".to_string(), "X-Auth-Email".to_string())].into();
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));

    let first = app.verify(&token).await;
    let second = app.verify(&token).await;

    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.body, second.body);
    assert_eq!(second.header("x-auth-email"), Some("alice@example.com"));
    assert_eq!(lookups(&app).await, (1.0, 1.0));
}

/// Everything of an answer but what differs per request (its id and date).
fn comparable(answer: &crate::helpers::Answer) -> (u16, Vec<(String, String)>, serde_json::Value) {
    let mut headers: Vec<(String, String)> = answer
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
        .collect();
    headers.sort();
    (answer.status, headers, answer.body.clone())
}

/// A hit keeps only the subject and the issuer's header claims; everything else is read from
/// the token when asked for. Every part of every answer must still be what a full verification
/// gives: issuer headers (nested, arrays, numbers, absent), the payload header, the JSON body,
/// a policy's claim rules (met and not) and headers, and the query's requirements.
#[actix_web::test]
async fn a_cache_hit_answers_exactly_as_the_full_verification_did_whatever_the_answer_reads() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].headers = [
        ("email", "X-Auth-Email"),
        ("realm_access.roles", "X-Auth-Roles"),
        ("level", "X-Auth-Level"),
        ("absent", "X-Auth-Absent"),
    ]
    .map(|(claim, name)| (claim.to_string(), name.to_string()))
    .into();
    settings.verify.payload_header = Some("X-Auth-Payload".into());
    settings.verify.success_body = true;
    let policies = jwtgate::settings::Settings::from_toml(&format!(
        r#"
allow_any_issuer = true
[policies.tenant]
claims = {{ tid = ["1234"] }}
headers = {{ tid = "X-Auth-Tenant", "org.unit" = "X-Auth-Unit" }}
[policies.other_tenant]
claims = {{ tid = ["9"] }}
[policies.issuer_only]
issuers = ["{}"]
"#,
        issuer.issuer()
    ))
    .unwrap();
    settings.policies = policies.policies;
    let app = spawn_app(settings).await;
    let mut body = claims(issuer.issuer());
    body["realm_access"] = json!({"roles": ["admin", "dev"]});
    body["level"] = json!(3);
    body["tid"] = json!("1234");
    body["org"] = json!({"unit": "r&d"});
    let token = key.sign(&body);

    for path in [
        "/verify",
        "/policy/tenant",
        "/policy/other_tenant",
        "/policy/issuer_only",
        "/verify?claim.tid=1234",
        "/verify?claim.tid=5&scope=api:read",
        "/verify?aud=other",
    ] {
        let (hits_before, _) = lookups(&app).await;
        let first = app
            .request(awc::http::Method::GET, path, Some(&token))
            .await;
        app.request(awc::http::Method::GET, "/verify", Some("not-a-token"))
            .await;
        let again = app
            .request(awc::http::Method::GET, path, Some(&token))
            .await;
        let (hits_after, _) = lookups(&app).await;

        // (A hit is counted when the answer is allowed; the token stays cached either way.)
        if again.status == 200 {
            assert!(
                hits_after - hits_before >= 1.0,
                "{path}: answered from the cache"
            );
        }
        assert_eq!(comparable(&first), comparable(&again), "{path}");
    }
    let answer = app.verify(&token).await;
    assert_eq!(answer.header("x-auth-roles"), Some("admin,dev"));
    assert_eq!(answer.header("x-auth-level"), Some("3"));
    assert_eq!(answer.header("x-auth-absent"), Some(""));
    assert_eq!(answer.body["claims"]["tid"], "1234");
    let tenant = app
        .request(awc::http::Method::GET, "/policy/tenant", Some(&token))
        .await;
    assert_eq!(tenant.header("x-auth-unit"), Some("r&d"));
    let other = app
        .request(awc::http::Method::GET, "/policy/other_tenant", Some(&token))
        .await;
    assert_eq!((other.status, other.reason()), (403, "claim_mismatch"));
    let query = app
        .request(awc::http::Method::GET, "/verify?claim.tid=5", Some(&token))
        .await;
    assert_eq!((query.status, query.reason()), (403, "claim_mismatch"));
    let issuer_only = app
        .request(awc::http::Method::GET, "/policy/issuer_only", Some(&token))
        .await;
    assert_eq!(issuer_only.status, 200);
}

#[actix_web::test]
async fn a_cached_token_is_rejected_once_a_refetch_drops_its_key() {
    let (old, new) = (DevKey::rs256(), DevKey::es256());
    let issuer = DevIssuer::serving(&[&old]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let token = old.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(lookups(&app).await.0, 1.0, "cached");

    issuer.publish(&[&new]);
    app.clock.advance(Duration::from_secs(301));
    assert_eq!(
        app.verify(&new.sign(&claims(issuer.issuer()))).await.status,
        200,
        "refetch"
    );

    assert_eq!(app.verify(&token).await.reason(), "unknown_kid");
}

#[actix_web::test]
async fn a_cached_token_is_rejected_when_its_kid_now_names_another_key() {
    let (original, replacement) = (DevKey::rs256(), DevKey::rs256_rotated().with_kid("rsa-1"));
    let issuer = DevIssuer::serving(&[&original]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let token = original.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(app.verify(&token).await.status, 200);

    issuer.publish(&[&replacement]);
    app.clock.advance(Duration::from_secs(3600 + 1));

    crate::helpers::eventually(|| async { app.verify(&token).await.reason() == "bad_signature" })
        .await;
}

#[actix_web::test]
async fn an_entry_never_outlives_the_configured_cap() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.cache.verified_token_ttl_secs = 60;
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(lookups(&app).await, (1.0, 1.0));

    app.clock.advance(Duration::from_secs(61));

    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(
        lookups(&app).await,
        (1.0, 2.0),
        "past the cap: verified again"
    );
}

#[actix_web::test]
async fn a_token_past_its_exp_is_never_cached_even_inside_the_leeway() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let mut c = claims(issuer.issuer());
    c["exp"] = json!(now() - 10);
    let token = key.sign(&c);

    assert_eq!(app.verify(&token).await.status, 200, "inside the leeway");
    assert_eq!(app.verify(&token).await.status, 200);

    assert_eq!(lookups(&app).await, (0.0, 2.0));
}

#[actix_web::test]
async fn the_cache_can_be_turned_off() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.cache.verified_tokens = 0;
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));

    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(app.verify(&token).await.status, 200);

    let text = app.get("/metrics").await.body.as_str().unwrap().to_string();
    assert!(
        !text.contains("jwtgate_verified_token_cache_lookups_total{"),
        "no lookups when off"
    );
}
