//! The admin surface, issuer patterns, and graceful shutdown.

use std::time::Duration;

use awc::http::Method;

use crate::helpers::{settings_for, spawn_app, spawn_app_cold};
use jwtgate::dev::{DevIssuer, DevKey, claims};

const ADMIN_TOKEN: &str = "an-admin-token-of-some-length";

#[actix_web::test]
async fn admin_endpoints_do_not_exist_unless_a_token_is_configured() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    assert_eq!(app.get("/issuers").await.status, 404);
    assert_eq!(
        app.request(Method::POST, "/issuers/refresh", None)
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn issuers_lists_the_cache_to_the_admin_only_and_never_key_material() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.admin.token = ADMIN_TOKEN.into();
    let app = spawn_app(settings).await;

    let anonymous = app.get("/issuers").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Bearer realm=\"jwtgate-admin\"")
    );
    let wrong = app
        .request(
            Method::GET,
            "/issuers",
            Some("an-admin-token-of-some-lengtX"),
        )
        .await;
    assert_eq!(wrong.status, 401);

    let answer = app
        .request(Method::GET, "/issuers", Some(ADMIN_TOKEN))
        .await;

    assert_eq!(answer.status, 200);
    let entry = &answer.body["issuers"][0];
    assert_eq!(entry["issuer"], issuer.issuer());
    assert_eq!(entry["key_ids"], serde_json::json!(["rsa-1"]));
    assert_eq!(
        (entry["last_fetch"].as_str(), entry["stale"].as_bool()),
        (Some("ok"), Some(false))
    );
    assert!(entry["next_refresh_secs"].as_u64().unwrap() > 0);
    let text = answer.body.to_string();
    assert!(
        !text.contains(key.jwk()["n"].as_str().unwrap()),
        "no key material"
    );
}

#[actix_web::test]
async fn a_forced_refresh_applies_an_emergency_rotation_at_once() {
    let (old, new) = (DevKey::rs256(), DevKey::es256());
    let issuer = DevIssuer::serving(&[&old]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.admin.token = ADMIN_TOKEN.into();
    let app = spawn_app(settings).await;
    let old_token = old.sign(&claims(issuer.issuer()));
    assert_eq!(app.verify(&old_token).await.status, 200);
    issuer.publish(&[&new]);

    let unknown = app
        .request(
            Method::POST,
            "/issuers/refresh?issuer=https%3A%2F%2Fnope.example",
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let answer = app
        .request(Method::POST, "/issuers/refresh", Some(ADMIN_TOKEN))
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["results"][0]["result"], "ok");
    assert_eq!(
        answer.body["refreshed"],
        serde_json::json!([issuer.issuer()])
    );
    assert_eq!(answer.body["failed"], serde_json::json!([]));
    assert_eq!(
        app.verify(&old_token).await.reason(),
        "unknown_kid",
        "the revoked key stops at once"
    );
    assert_eq!(
        app.verify(&new.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!(issuer.jwks_hits(), 2);
}

#[actix_web::test]
async fn tarpit_tenants_cannot_stall_the_emergency_refresh_of_a_configured_issuer() {
    let key = DevKey::rs256();
    let (configured, tarpit) = (
        DevIssuer::serving(&[&key]).await,
        DevIssuer::serving(&[&key]).await,
    );
    let mut settings = settings_for(&[&configured, &tarpit]);
    settings.issuers[1].issuer = format!("{}/{{tenant}}", tarpit.issuer());
    settings.fetch.timeout_secs = 1;
    settings.admin.token = ADMIN_TOKEN.into();
    let (app, verifier) = spawn_app_cold(settings).await;
    crate::helpers::wait_for(|| {
        verifier
            .keys()
            .issuer_status(configured.issuer())
            .is_some_and(|s| s.keys > 0)
    })
    .await;
    let tenants: Vec<String> = (0..27)
        .map(|i| format!("{}/t{i}", tarpit.issuer()))
        .collect();
    let tokens: Vec<String> = tenants.iter().map(|iss| key.sign(&claims(iss))).collect();
    let admitted = futures_util::future::join_all(tokens.iter().map(|t| app.verify(t))).await;
    assert!(admitted.iter().all(|a| a.status == 200));
    tarpit.set(|b| b.jwks_delay = Duration::from_secs(30));
    let rotated = DevKey::rs256_rotated();
    configured.publish(&[&rotated]);

    let started = std::time::Instant::now();
    let answer = app
        .request(Method::POST, "/issuers/refresh", Some(ADMIN_TOKEN))
        .await;
    let elapsed = started.elapsed();

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let limit = Duration::from_secs_f64(answer.body["time_limit_secs"].as_f64().unwrap());
    assert_eq!(
        limit,
        Duration::from_secs(3),
        "two fetch timeouts of 1 s + 0.5 s grace"
    );
    assert!(
        elapsed < limit + Duration::from_millis(1500),
        "the call took {elapsed:?}"
    );
    let first = &answer.body["results"][0];
    assert_eq!(
        (&first["issuer"], &first["configured"], &first["result"]),
        (
            &serde_json::json!(configured.issuer()),
            &serde_json::json!(true),
            &serde_json::json!("ok")
        ),
        "configured issuers go first"
    );
    assert_eq!(
        answer.body["refreshed"],
        serde_json::json!([configured.issuer()])
    );
    let (failed, timed_out) = (
        answer.body["failed"].as_array().unwrap(),
        answer.body["timed_out"].as_array().unwrap(),
    );
    assert_eq!(failed.len() + timed_out.len(), tenants.len());
    assert!(
        timed_out.len() >= 3,
        "8 at a time, 1 s each: the fourth round cannot start in 3 s ({timed_out:?})"
    );
    assert_eq!(
        app.verify(&rotated.sign(&claims(configured.issuer())))
            .await
            .status,
        200,
        "the configured issuer's rotation is applied"
    );
}

#[actix_web::test]
async fn an_issuer_pattern_admits_each_tenant_with_its_own_discovery_check() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    let pattern = format!("{}/{{tenant}}/v2.0", issuer.issuer());
    settings.issuers[0].issuer = pattern.clone();
    let app = spawn_app_cold(settings).await.0;

    for tenant in ["contoso", "fabrikam"] {
        let iss = format!("{}/{tenant}/v2.0", issuer.issuer());
        let answer = app.verify(&key.sign(&claims(&iss))).await;
        assert_eq!(answer.status, 200, "{tenant}: {:?}", answer.body);
        assert_eq!(
            issuer.hits(&format!("/{tenant}/v2.0/.well-known/openid-configuration")),
            1
        );
    }
    assert_eq!(
        app.verify(&key.sign(&claims(&format!("{}/a/b/v2.0", issuer.issuer()))))
            .await
            .reason(),
        "untrusted_issuer"
    );
    assert_eq!(
        app.metric(
            "jwtgate_verifications_total",
            &[("issuer", &pattern), ("result", "valid")]
        )
        .await,
        2.0
    );

    issuer.set(|b| {
        b.discovery =
            Some(serde_json::json!({"issuer": "https://impostor.example", "jwks_uri": "x"}))
    });
    let answer = app
        .verify(&key.sign(&claims(&format!("{}/other/v2.0", issuer.issuer()))))
        .await;
    assert_eq!(
        answer.reason(),
        "keys_unavailable",
        "every tenant passes the discovery issuer check"
    );
}

#[actix_web::test]
async fn an_issuer_pattern_instance_cannot_make_jwtgate_fetch_outside_the_pattern() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].issuer = format!("{}/t/{{tenant}}/v2", issuer.issuer());
    let app = spawn_app_cold(settings).await.0;

    for tenant in ["..", ".", "%2e%2e", "%2E", "a%2F..", "a@b", "a\\b"] {
        let iss = format!("{}/t/{tenant}/v2", issuer.issuer());
        // Whatever is served outside the pattern would vouch for this iss.
        issuer.set(|b| {
            b.discovery = Some(serde_json::json!({
                "issuer": iss,
                "jwks_uri": format!("{}/jwks", issuer.issuer()),
            }))
        });

        let answer = app.verify(&key.sign(&claims(&iss))).await;

        assert_eq!(
            (answer.status, answer.reason()),
            (401, "untrusted_issuer"),
            "{iss}: {:?}",
            answer.body
        );
    }
    assert_eq!(issuer.hits("/v2/.well-known/openid-configuration"), 0);
    assert_eq!(issuer.total_hits(), 0, "nothing was fetched at all");
}

#[actix_web::test]
async fn shutdown_drains_readiness_first_and_finishes_in_flight_requests() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.jwks_delay = Duration::from_millis(1500));
    let mut settings = settings_for(&[&issuer]);
    settings.server.drain_secs = 1;
    let (app, _) = spawn_app_cold(settings).await;
    let token = key.sign(&claims(issuer.issuer()));

    let in_flight = app.verify(&token);
    let shutdown = async {
        // Shut down only once the request is in flight: jwtgate is fetching the issuer's keys.
        crate::helpers::wait_for(|| issuer.jwks_hits() == 1).await;
        let handle = app.shutdown.clone();
        let stopping = actix_web::rt::spawn(async move { handle.shutdown().await });
        let ready = app.get("/readyz").await;
        assert_eq!(
            (ready.status, ready.body["status"].as_str()),
            (503, Some("draining"))
        );
        assert_eq!(
            app.get("/healthz").await.status,
            200,
            "still serving while draining"
        );
        stopping.await.unwrap();
    };
    let (answer, ()) = tokio::join!(in_flight, shutdown);

    assert_eq!(answer.status, 200, "the in-flight request completed");
    let refused = awc::Client::default()
        .get(format!("{}/healthz", app.address))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections after shutdown");
}
