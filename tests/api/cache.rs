//! The key cache: refetch rules, single-flight, rotation, failures. Time moves through the
//! app's manual clock; nothing sleeps.

use std::time::Duration;

use futures_util::future::join_all;

use crate::helpers::{eventually, settings_for, spawn_app, spawn_app_cold, wait_for};
use jwtgate::dev::{DevIssuer, DevKey, claims};

const MIN_REFRESH: Duration = Duration::from_secs(300);
const TTL: Duration = Duration::from_secs(3600);

#[actix_web::test]
async fn an_unseen_kid_is_rejected_inside_the_refresh_window_and_accepted_after_it() {
    let (old, new) = (DevKey::rs256(), DevKey::rs256_rotated());
    let issuer = DevIssuer::serving(&[&old]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    app.wait_until_ready().await;
    issuer.publish(&[&old, &new]);
    let (old_token, new_token) = (
        old.sign(&claims(issuer.issuer())),
        new.sign(&claims(issuer.issuer())),
    );

    let inside = app.verify(&new_token).await;
    assert_eq!((inside.status, inside.reason()), (401, "unknown_kid"));
    assert_eq!(issuer.jwks_hits(), 1, "no refetch inside the window");

    app.clock.advance(MIN_REFRESH - Duration::from_secs(1));
    assert_eq!(app.verify(&new_token).await.reason(), "unknown_kid");
    assert_eq!(issuer.jwks_hits(), 1);

    app.clock.advance(Duration::from_secs(2));
    assert_eq!(app.verify(&new_token).await.status, 200);
    assert_eq!(app.verify(&old_token).await.status, 200);
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 2));
}

#[actix_web::test]
async fn a_flood_of_unknown_kids_inside_the_window_causes_no_fetch() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    app.wait_until_ready().await;

    for i in 0..50 {
        let answer = app
            .verify(
                &key.with_kid(&format!("random-{i}"))
                    .sign(&claims(issuer.issuer())),
            )
            .await;
        assert_eq!(answer.reason(), "unknown_kid");
    }

    assert_eq!(issuer.jwks_hits(), 1);
}

#[actix_web::test]
async fn a_key_removed_from_the_set_stops_verifying_after_the_refetch_that_drops_it() {
    let (old, new) = (DevKey::rs256(), DevKey::es256());
    let issuer = DevIssuer::serving(&[&old]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let old_token = old.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&old_token).await.status, 200);

    issuer.publish(&[&new]);
    app.clock.advance(MIN_REFRESH + Duration::from_secs(1));
    assert_eq!(
        app.verify(&new.sign(&claims(issuer.issuer()))).await.status,
        200,
        "the new kid triggers a refetch"
    );

    let answer = app.verify(&old_token).await;
    assert_eq!((answer.status, answer.reason()), (401, "unknown_kid"));
    assert_eq!(issuer.jwks_hits(), 2);
}

#[actix_web::test]
async fn keys_are_refreshed_in_the_background_before_they_expire() {
    let (old, new) = (DevKey::rs256(), DevKey::eddsa());
    let issuer = DevIssuer::serving(&[&old]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let old_token = old.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&old_token).await.status, 200);
    issuer.publish(&[&new]);

    app.clock.advance(TTL.mul_f64(0.7));
    assert_eq!(app.verify(&old_token).await.status, 200);
    assert_eq!(issuer.jwks_hits(), 1, "not due before 75 % of the lifetime");

    app.clock.advance(TTL.mul_f64(0.21));
    assert_eq!(
        app.verify(&old_token).await.status,
        200,
        "the request that finds the set due does not wait"
    );
    eventually(|| async { app.verify(&old_token).await.reason() == "unknown_kid" }).await;
    assert_eq!(
        app.verify(&new.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 2));
}

#[actix_web::test]
async fn keys_past_their_ttl_are_refetched_with_discovery() {
    let (old, new) = (DevKey::rs256(), DevKey::eddsa());
    let issuer = DevIssuer::serving(&[&old]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let old_token = old.sign(&claims(issuer.issuer()));
    issuer.publish(&[&new]);

    app.clock.advance(TTL + Duration::from_secs(1));

    eventually(|| async { app.verify(&old_token).await.reason() == "unknown_kid" }).await;
    assert_eq!(
        app.verify(&new.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (2, 2));
}

#[actix_web::test]
async fn cache_control_max_age_sets_the_lifetime_within_bounds() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.cache_control = Some("public, max-age=600".into()));
    let app = spawn_app(settings_for(&[&issuer])).await;
    let token = key.sign(&claims(issuer.issuer()));

    app.clock.advance(Duration::from_secs(400));
    assert_eq!(app.verify(&token).await.status, 200);
    assert_eq!(issuer.jwks_hits(), 1, "not due at 400 of 600 s");

    app.clock.advance(Duration::from_secs(150));
    assert_eq!(app.verify(&token).await.status, 200);
    wait_for(|| issuer.jwks_hits() == 2).await;
}

#[actix_web::test]
async fn an_etag_revalidates_with_if_none_match_and_a_304_keeps_the_keys() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.etag = Some("\"v1\"".into()));
    let app = spawn_app(settings_for(&[&issuer])).await;
    let token = key.sign(&claims(issuer.issuer()));

    app.clock.advance(TTL.mul_f64(0.95));
    assert_eq!(app.verify(&token).await.status, 200);
    wait_for(|| issuer.hits("304 /jwks") == 1).await;

    assert_eq!(
        app.verify(&token).await.status,
        200,
        "the revalidated keys still verify"
    );
    assert_eq!(issuer.jwks_hits(), 2);
    app.clock.advance(TTL.mul_f64(0.5));
    assert_eq!(
        app.verify(&token).await.status,
        200,
        "a 304 renews the lifetime"
    );
    assert_eq!(issuer.jwks_hits(), 2);
}

#[actix_web::test]
async fn two_hundred_concurrent_first_requests_cause_one_discovery_and_one_jwks_fetch() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.jwks_delay = Duration::from_millis(300));
    let (app, _) = spawn_app_cold(settings_for(&[&issuer])).await;
    let token = key.sign(&claims(issuer.issuer()));

    let answers = join_all((0..200).map(|_| app.verify(&token))).await;

    assert!(
        answers.iter().all(|a| a.status == 200),
        "{:?}",
        answers.iter().find(|a| a.status != 200)
    );
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 1));
}

#[actix_web::test]
async fn a_failing_issuer_is_not_refetched_on_every_request() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.status = 500);
    let app = spawn_app(settings_for(&[&issuer])).await;
    let token = key.sign(&claims(issuer.issuer()));

    for _ in 0..20 {
        let answer = app.verify(&token).await;
        assert_eq!((answer.status, answer.reason()), (503, "keys_unavailable"));
        assert!(
            answer
                .header("retry-after")
                .is_some_and(|s| s.parse::<u64>().unwrap() >= 1)
        );
    }
    assert_eq!(
        issuer.discovery_hits(),
        1,
        "the backoff holds further attempts"
    );

    app.clock.advance(Duration::from_secs(2));
    assert_eq!(app.verify(&token).await.status, 503);
    assert_eq!(
        issuer.discovery_hits(),
        2,
        "one more attempt once the backoff has passed"
    );

    issuer.set(|b| b.status = 200);
    app.clock.advance(Duration::from_secs(5));
    assert_eq!(
        app.verify(&token).await.status,
        200,
        "recovers once the issuer does"
    );
}

#[actix_web::test]
async fn the_last_good_keys_serve_while_refreshing_fails_until_stale_if_error_runs_out() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.cache.stale_if_error_secs = 600;
    let app = spawn_app(settings).await;
    let token = key.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&token).await.status, 200);

    issuer.set(|b| b.status = 500);
    app.clock.advance(TTL + Duration::from_secs(1));
    assert_eq!(app.verify(&token).await.status, 200, "stale keys serve");
    assert_eq!(issuer.discovery_hits(), 2, "a refresh was attempted");
    assert!(app.metric("jwtgate_stale_keys_served_total", &[]).await >= 1.0);
    assert!(
        app.metric(
            "jwtgate_fetches_total",
            &[("kind", "discovery"), ("result", "error")]
        )
        .await
            >= 1.0
    );

    app.clock.advance(Duration::from_secs(600));
    let answer = app.verify(&token).await;
    assert_eq!((answer.status, answer.reason()), (503, "keys_unavailable"));
}

#[actix_web::test]
async fn concurrent_tokens_of_a_failing_open_issuer_cost_one_fetch_then_back_off() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.status = 500);
    let app = spawn_app(settings_for(&[])).await;
    let token = key.sign(&claims(issuer.issuer()));

    let answers = join_all((0..20).map(|_| app.verify(&token))).await;

    assert!(answers.iter().all(|a| a.reason() == "keys_unavailable"));
    assert_eq!(issuer.discovery_hits(), 1, "single-flight, then backoff");
    app.clock.advance(jwtgate::keys::FAILURE_BACKOFF_INITIAL);
    assert_eq!(app.verify(&token).await.reason(), "keys_unavailable");
    assert_eq!(
        issuer.discovery_hits(),
        2,
        "retried once the backoff passed"
    );
}

#[test]
fn an_open_issuer_list_without_room_for_dynamic_issuers_is_refused_at_startup() {
    let toml = |max_issuers: u64| {
        format!(
            "allow_any_issuer = true\n[cache]\nmax_issuers = {max_issuers}\n\
             [[issuers]]\nissuer = \"https://a.example\"\naudiences = [\"api\"]\n\
             [[issuers]]\nissuer = \"https://b.example\"\naudiences = [\"api\"]\n"
        )
    };

    let refused = jwtgate::settings::Settings::from_toml(&toml(2));

    match refused {
        Err(jwtgate::settings::SettingsError::Invalid { key, problem, .. }) => {
            assert_eq!(key, "cache.max_issuers");
            assert!(problem.contains("allow_any_issuer"), "{problem}");
        }
        other => panic!("expected cache.max_issuers to be refused, got {other:?}"),
    }
    assert!(jwtgate::settings::Settings::from_toml(&toml(3)).is_ok());
}
