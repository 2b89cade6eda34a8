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
