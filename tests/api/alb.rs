//! AWS ALB (`config/recipes/aws-alb.toml`): tokens of ALB's real format (ES256, every part
//! base64url WITH `=` padding, the load balancer's ARN in the header's `signer`) whose key is a
//! PEM file per `kid` at a key URL. The test issuer plays ALB's `public-keys.auth.elb` host over
//! a real socket; the recipe is loaded as shipped, its key URL pointed at that issuer.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{inspect_json_with_config, jwtgate, stderr, stdout, write_config};
use crate::helpers::{Answer, TestApp, spawn_app, wait_for};
use crate::recipes::recipe_text;
use jwtgate::dev::{DevIssuer, DevKey, now};
use jwtgate::keys::{KeyUrlError, MAX_KEY_URL_KEYS, RefreshError};
use jwtgate::settings::Settings;

const ISSUER: &str = "https://idp.example.com";
const SIGNER: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188";
const KID: &str = "6f1f8e5a-3c2d-4b7a-9e0f-1a2b3c4d5e6f";
const SUB: &str = "b1c2d3e4-5f60-4718-293a-4b5c6d7e8f90";

/// jwtgate with the ALB recipe as shipped (plus `extra` configuration), its key URL pointed at
/// the test issuer `keys` on loopback.
async fn alb_app(keys: &DevIssuer, extra: &str) -> TestApp {
    spawn_app(Settings::from_toml(&alb_config(keys, extra)).unwrap()).await
}

/// The ALB recipe as shipped (plus `extra`), its key URL pointed at `keys`.
fn alb_config(keys: &DevIssuer, extra: &str) -> String {
    let text = recipe_text(
        "aws-alb",
        &[
            (
                "key_url = \"https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}\"",
                format!(
                    "key_url = {:?}\nallow_private_addresses = true",
                    keys.key_url()
                ),
            ),
            ("[verify]", "[fetch]\nhttps_only = false\n\n[verify]".into()),
        ],
    );
    format!("{text}{extra}")
}

/// An ALB token: its header as ALB writes it (`signer` when given), these claims.
fn alb_token(key: &DevKey, signer: Option<&str>, claims: &Value) -> String {
    let mut header = json!({
        "typ": "JWT",
        "iss": ISSUER,
        "client": "3ldmr1fsb0ca4sf7thfbq4k3rk",
        "exp": now() + 120,
    });
    if let Some(signer) = signer {
        header["signer"] = json!(signer);
    }
    key.sign_padded(&header, claims)
}

/// The user claims ALB passes on from the identity provider: no `aud`.
fn user_claims(email: &str) -> Value {
    json!({
        "sub": SUB,
        "email": email,
        "email_verified": "true",
        "username": "alice",
        "exp": now() + 120,
        "iss": ISSUER,
    })
}

async fn from_alb(app: &TestApp, token: &str) -> Answer {
    app.request_with_headers(
        awc::http::Method::GET,
        "/verify",
        &[("x-amzn-oidc-data", token.to_string())],
    )
    .await
}

/// ALB's key (kid [`KID`]), a key host publishing it, and jwtgate with the recipe.
async fn alb() -> (DevKey, DevIssuer, TestApp) {
    let key = DevKey::es256().with_kid(KID);
    let keys = key_host(&key).await;
    let app = alb_app(&keys, "").await;
    (key, keys, app)
}

/// Asserts a 401 with this reason (`context` names the case).
#[track_caller]
fn assert_refused(answer: &Answer, reason: &str, context: &str) {
    assert_eq!(answer.status, 401, "{context:?}: {:?}", answer.body);
    assert_eq!(answer.reason(), reason, "{context:?}");
}

/// The test issuer, publishing `key` as PEM at its key URL.
async fn key_host(key: &DevKey) -> DevIssuer {
    let keys = DevIssuer::serving(&[]).await;
    keys.publish_pem(key);
    keys
}

#[actix_web::test]
async fn alb_tokens_verify_with_the_pem_key_their_kid_names_fetched_once() {
    let (key, keys, app) = alb().await;
    let token = alb_token(&key, Some(SIGNER), &user_claims("alice@example.com"));
    assert!(token.ends_with("=="), "ALB pads: {token}");

    let answer = from_alb(&app, &token).await;
    let again = from_alb(
        &app,
        &alb_token(&key, Some(SIGNER), &user_claims("a@b.example")),
    )
    .await;

    app.assert_allowed(&answer);
    assert_eq!(answer.header("x-auth-issuer"), Some(ISSUER));
    assert_eq!(answer.header("x-auth-subject"), Some(SUB));
    assert_eq!(answer.header("x-auth-email"), Some("alice@example.com"));
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.header("x-auth-email"), Some("a@b.example"));
    assert_eq!(
        keys.key_url_hits(),
        1,
        "the key is fetched once, then cached"
    );
    assert_eq!(keys.hits(&format!("/public-keys/{KID}")), 1);
}

#[actix_web::test]
async fn the_same_padded_token_again_is_answered_from_the_verified_token_cache() {
    let (key, _keys, app) = alb().await;
    let mut claims = user_claims("alice@example.com");
    // A payload whose part is padded, so the cache hit must read it with padding too.
    let token = loop {
        let token = alb_token(&key, Some(SIGNER), &claims);
        if token.split('.').nth(1).is_some_and(|p| p.ends_with('=')) {
            break token;
        }
        claims["name"] = json!(format!("{}a", claims["name"].as_str().unwrap_or("")));
    };

    let first = from_alb(&app, &token).await;
    let again = from_alb(&app, &token).await;

    app.assert_allowed(&first);
    app.assert_allowed(&again);
    assert_eq!(again.header("x-auth-email"), Some("alice@example.com"));
    let hits = app
        .metric(
            "jwtgate_verified_token_cache_lookups_total",
            &[("result", "hit")],
        )
        .await;
    assert_eq!(hits, 1.0, "the second answer came from the cache");
}

#[actix_web::test]
async fn a_token_of_another_load_balancer_or_of_none_is_refused_before_any_fetch() {
    let (key, keys, app) = alb().await;
    let claims = user_claims("alice@example.com");
    let other = SIGNER.replace("my-alb", "their-alb");

    let wrong = from_alb(&app, &alb_token(&key, Some(&other), &claims)).await;
    let missing = from_alb(&app, &alb_token(&key, None, &claims)).await;
    let not_a_string = {
        let header = json!({"typ": "JWT", "signer": [SIGNER]});
        from_alb(&app, &key.sign_padded(&header, &claims)).await
    };

    for answer in [&wrong, &missing, &not_a_string] {
        assert_refused(answer, "wrong_signer", "");
    }
    assert_eq!(keys.total_hits(), 0, "no key was fetched for them");
}

#[actix_web::test]
async fn a_kid_that_could_change_the_key_url_is_refused_without_any_fetch() {
    let (key, keys, app) = alb().await;

    for kid in [
        "../jwks",
        "..",
        "a/b",
        "a%2Fb",
        "a?b=c",
        "a#b",
        "@evil.example",
        "a.b",
        "",
        &"a".repeat(129),
    ] {
        let forged = key.with_kid(kid);
        let answer = from_alb(&app, &alb_token(&forged, Some(SIGNER), &user_claims("e@x"))).await;

        assert_refused(&answer, "invalid_kid", kid);
    }
    let lookup = app
        .get("/key?iss=https%3A%2F%2Fidp.example.com&kid=..%2Fjwks")
        .await;
    assert_eq!(lookup.status, 400, "{:?}", lookup.body);
    assert_eq!(lookup.reason(), "invalid_kid");
    assert_eq!(keys.total_hits(), 0, "no request left jwtgate");
}

#[actix_web::test]
async fn unseen_kids_are_fetched_at_most_once_per_refetch_window() {
    let (key, keys, app) = alb().await;
    let claims = user_claims("alice@example.com");
    let random = |n: u32| key.with_kid(&format!("00000000-0000-4000-8000-00000000000{n}"));

    let first = from_alb(&app, &alb_token(&random(1), Some(SIGNER), &claims)).await;
    let second = from_alb(&app, &alb_token(&random(2), Some(SIGNER), &claims)).await;
    assert_eq!(first.reason(), "unknown_kid", "{:?}", first.body);
    assert_eq!(second.reason(), "unknown_kid", "{:?}", second.body);
    assert_eq!(keys.key_url_hits(), 1, "inside the window: no second fetch");

    app.clock.advance(Duration::from_secs(301));
    let real = from_alb(&app, &alb_token(&key, Some(SIGNER), &claims)).await;

    app.assert_allowed(&real);
    assert_eq!(keys.key_url_hits(), 2);
    assert!(app.fetch_errors().is_empty(), "a 404 is not a failure");
}

#[actix_web::test]
async fn a_key_the_host_no_longer_serves_stops_verifying_after_the_next_refresh() {
    let (key, keys, app) = alb().await;
    let claims = user_claims("alice@example.com");
    app.assert_allowed(&from_alb(&app, &alb_token(&key, Some(SIGNER), &claims)).await);
    keys.set(|b| b.pem_keys.clear());

    app.clock.advance(Duration::from_secs(3600));
    let status = || app.verifier.keys().issuer_status(ISSUER).unwrap();
    wait_for(|| status().fetch_attempts >= 3).await;
    let answer = from_alb(&app, &alb_token(&key, Some(SIGNER), &user_claims("b@x"))).await;

    assert_eq!(
        status().keys,
        0,
        "the refresh dropped the kid that now answers 404"
    );
    assert!(status().last_error.is_none(), "a 404 is not a failure");
    assert_eq!(answer.reason(), "unknown_kid", "{:?}", answer.body);
}

#[actix_web::test]
async fn an_issuer_holds_a_bounded_number_of_keys_the_oldest_leaving_first() {
    let (key, keys, app) = alb().await;
    let kid = |n: usize| format!("kid-{n:03}");
    let answers = {
        let mut answers = Vec::new();
        for n in 0..=MAX_KEY_URL_KEYS {
            let numbered = key.with_kid(&kid(n));
            keys.publish_pem(&numbered);
            app.clock.advance(Duration::from_secs(301));
            let token = alb_token(&numbered, Some(SIGNER), &user_claims("e@x"));
            answers.push(from_alb(&app, &token).await);
        }
        answers
    };

    for answer in &answers {
        app.assert_allowed(answer);
    }
    let status = app.verifier.keys().issuer_status(ISSUER).unwrap();
    assert_eq!(status.keys, MAX_KEY_URL_KEYS);
    assert!(!status.kids.contains(&kid(0)), "the oldest left");
    assert!(
        status.kids.contains(&kid(MAX_KEY_URL_KEYS)),
        "the newest is held"
    );
}

/// Serves `other`'s public key at [`KID`]'s URL.
fn serve_as_kid(keys: &DevIssuer, other: &DevKey) {
    let pem = other.public_key_pem();
    keys.set(|b| {
        b.pem_keys.insert(KID.into(), pem);
    });
}

/// How a key host misbehaves, and the fetch error that must follow.
type Misbehave = fn(&DevIssuer);
type Expected = fn(&RefreshError) -> bool;

#[actix_web::test]
async fn a_key_url_serving_garbage_an_oversized_body_or_a_wrong_key_is_refused_never_500() {
    let key = DevKey::es256().with_kid(KID);
    let cases: [(&str, Misbehave, Expected); 4] = [
        (
            "garbage",
            |keys| keys.set(|b| b.raw_body = Some("<html>Service Unavailable</html>".into())),
            |e| matches!(e, RefreshError::KeyUrl(KeyUrlError::Pem { .. })),
        ),
        (
            "oversized",
            |keys| keys.set(|b| b.raw_body = Some("A".repeat(64 * 1024))),
            |e| e.to_string().contains("more than"),
        ),
        (
            "an RSA key",
            |keys| serve_as_kid(keys, &DevKey::rs256()),
            |e| matches!(e, RefreshError::KeyUrl(KeyUrlError::NotP256 { .. })),
        ),
        (
            "a P-384 key",
            |keys| serve_as_kid(keys, &DevKey::es384()),
            |e| matches!(e, RefreshError::KeyUrl(KeyUrlError::NotP256 { .. })),
        ),
    ];
    for (case, serve, expected) in cases {
        let keys = key_host(&key).await;
        serve(&keys);
        let app = alb_app(&keys, "").await;

        let answer = from_alb(&app, &alb_token(&key, Some(SIGNER), &user_claims("e@x"))).await;

        assert!(
            answer.reason() == "unknown_kid" || answer.reason() == "keys_unavailable",
            "{case}: {} {:?}",
            answer.status,
            answer.body
        );
        assert_ne!(answer.status, 500, "{case}");
        let status = app.verifier.keys().issuer_status(ISSUER).unwrap();
        let error = status.last_error.expect("the fetch failed");
        assert!(expected(&error), "{case}: {error}");
        assert_eq!(status.keys, 0, "{case}: no key was added");
    }
}

#[actix_web::test]
async fn padded_tokens_of_any_other_issuer_are_still_malformed() {
    let alb_key = DevKey::es256().with_kid(KID);
    let keys = key_host(&alb_key).await;
    let other_key = DevKey::es256();
    let other = DevIssuer::serving(&[&other_key]).await;
    let extra = format!(
        "\n[[issuers]]\nissuer = {:?}\naudiences = [\"my-api\"]\nallow_private_addresses = true\n",
        other.issuer()
    );
    let app = alb_app(&keys, &extra).await;
    let claims = jwtgate::dev::claims(other.issuer());

    let unpadded = from_alb(&app, &other_key.sign(&claims)).await;
    let padded = from_alb(
        &app,
        &other_key.sign_padded(&json!({"typ": "JWT"}), &claims),
    )
    .await;
    let padded_untrusted = {
        let claims = jwtgate::dev::claims("https://nobody.example");
        from_alb(
            &app,
            &other_key.sign_padded(&json!({"typ": "JWT"}), &claims),
        )
        .await
    };

    app.assert_allowed(&unpadded);
    assert_eq!(padded.status, 401);
    assert_eq!(padded.reason(), "malformed", "{:?}", padded.body);
    assert_eq!(
        padded_untrusted.reason(),
        "malformed",
        "{:?}",
        padded_untrusted.body
    );
}

#[actix_web::test]
async fn jwtgate_inspect_shows_a_padded_token_and_verifies_it_with_the_recipe() {
    let key = DevKey::es256().with_kid(KID);
    let keys = key_host(&key).await;
    let config = write_config("inspect-alb", &alb_config(&keys, ""));
    let token = alb_token(&key, Some(SIGNER), &user_claims("alice@example.com"));

    let with_recipe = inspect_json_with_config(&token, &config).await;
    let without = jwtgate(&["inspect", &token, "--json"], "", &[]).await;

    assert_eq!(
        with_recipe.status.code(),
        Some(0),
        "{}",
        stderr(&with_recipe)
    );
    let report: Value = serde_json::from_str(&stdout(&with_recipe)).unwrap();
    assert_eq!(report["verdict"]["valid"], true, "{report}");
    assert_eq!(report["token"]["header"]["signer"], SIGNER);
    let report: Value = serde_json::from_str(&stdout(&without)).unwrap();
    assert_eq!(report["token"]["header"]["signer"], SIGNER, "shown even so");
    assert_eq!(report["verdict"]["reason"], "malformed", "{report}");
    assert_eq!(
        keys.key_url_hits(),
        1,
        "only the check with the recipe fetched"
    );
}
