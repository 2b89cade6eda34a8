//! `/healthz`, `/readyz`, `/metrics`: what operators and orchestrators see.

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

#[actix_web::test]
async fn healthz_answers_while_the_process_serves() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    issuer.set(|b| b.status = 500);
    let app = spawn_app(settings_for(&[&issuer])).await;
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[actix_web::test]
async fn readyz_waits_for_every_configured_issuers_keys() {
    let (k1, k2) = (DevKey::rs256(), DevKey::es256());
    let (up, down) = (
        DevIssuer::serving(&[&k1]).await,
        DevIssuer::serving(&[&k2]).await,
    );
    down.set(|b| b.status = 503);
    let app = spawn_app(settings_for(&[&up, &down])).await;

    let answer = app.get("/readyz").await;
    assert_eq!(answer.status, 503);

    down.set(|b| b.status = 200);
    app.clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(
        app.verify(&DevKey::es256().sign(&claims(down.issuer())))
            .await
            .status,
        200
    );
    app.wait_until_ready().await;
}

#[actix_web::test]
async fn metrics_export_the_documented_names_with_bounded_labels() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    assert_eq!(
        app.verify(&key.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!(app.verify("garbage").await.status, 401);
    assert_eq!(
        app.verify(&key.sign(&claims("https://attacker.example/random-123")))
            .await
            .status,
        401
    );
    assert_eq!(
        app.verify(
            &key.with_kid("random-kid-456")
                .sign(&claims(issuer.issuer()))
        )
        .await
        .status,
        401
    );

    let text = app.get("/metrics").await.body.as_str().unwrap().to_string();

    for name in [
        "jwtgate_verifications_total",
        "jwtgate_verification_duration_seconds_bucket",
        "jwtgate_key_cache_lookups_total",
        "jwtgate_fetches_total",
        "jwtgate_fetch_duration_seconds_bucket",
        "jwtgate_issuer_keys",
        "jwtgate_issuer_keys_age_seconds",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    assert!(
        !text.contains("attacker") && !text.contains("random-kid"),
        "untrusted values never become labels"
    );
    let base = issuer.issuer();
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[("issuer", base), ("result", "valid")]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[("issuer", "other"), ("reason", "malformed")]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[("issuer", "other"), ("reason", "untrusted_issuer")]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[("issuer", base), ("reason", "unknown_kid")]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric(
            "jwtgate_fetches_total",
            &[("issuer", base), ("kind", "jwks"), ("result", "ok")]
        )
        .await,
        1.0
    );
    assert_eq!(
        app.metric("jwtgate_issuer_keys", &[("issuer", base)]).await,
        1.0
    );
    assert_eq!(
        app.metric("jwtgate_key_cache_lookups_total", &[("result", "hit")])
            .await,
        1.0
    );
}

#[actix_web::test]
async fn unknown_paths_are_404_json() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let answer = app.get("/nope").await;
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (404, Some("not_found"))
    );
}
