//! Finding an issuer's keys: discovery, static configuration, and the issuer allow-list.

use serde_json::json;

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

#[actix_web::test]
async fn a_token_verifies_with_one_discovery_fetch_and_one_jwks_fetch() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("x-auth-subject"), Some("alice"));
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 1));
}

#[actix_web::test]
async fn jwks_url_is_used_when_the_discovery_document_has_no_jwks_uri() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| {
        b.discovery = Some(
            json!({"issuer": issuer.issuer(), "jwks_url": format!("{}/jwks", issuer.issuer())}),
        )
    });
    let app = spawn_app(settings_for(&[&issuer])).await;

    assert_eq!(
        app.verify(&key.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 1));
}

#[actix_web::test]
async fn one_known_kid_is_fetched_only_once_however_many_tokens_use_it() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    for sub in ["a", "b", "c"] {
        let mut c = claims(issuer.issuer());
        c["sub"] = json!(sub);
        let token = key.sign(&c);
        for _ in 0..2 {
            assert_eq!(app.verify(&token).await.status, 200);
        }
    }

    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 1));
}

#[actix_web::test]
async fn each_issuer_costs_its_own_discovery_and_jwks_fetch() {
    let (k1, k2) = (DevKey::rs256(), DevKey::es256());
    let (i1, i2) = (
        DevIssuer::serving(&[&k1]).await,
        DevIssuer::serving(&[&k2]).await,
    );
    let app = spawn_app(settings_for(&[&i1, &i2])).await;

    assert_eq!(app.verify(&k1.sign(&claims(i1.issuer()))).await.status, 200);
    assert_eq!(app.verify(&k2.sign(&claims(i2.issuer()))).await.status, 200);

    assert_eq!(
        (
            i1.discovery_hits(),
            i1.jwks_hits(),
            i2.discovery_hits(),
            i2.jwks_hits()
        ),
        (1, 1, 1, 1)
    );
}

#[actix_web::test]
async fn an_untrusted_issuer_is_rejected_without_any_outbound_request() {
    let key = DevKey::rs256();
    let (trusted, untrusted) = (
        DevIssuer::serving(&[&key]).await,
        DevIssuer::serving(&[&key]).await,
    );
    let app = spawn_app(settings_for(&[&trusted])).await;

    let answer = app.verify(&key.sign(&claims(untrusted.issuer()))).await;

    assert_eq!(answer.status, 401);
    assert_eq!(answer.reason(), "untrusted_issuer");
    assert_eq!(untrusted.total_hits(), 0);
    assert_eq!(
        app.verify(&key.sign(&claims(trusted.issuer())))
            .await
            .status,
        200
    );
    assert_eq!((trusted.discovery_hits(), trusted.jwks_hits()), (1, 1));
}

#[actix_web::test]
async fn a_static_jwks_uri_skips_discovery() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].jwks_uri = Some(format!("{}/jwks", issuer.issuer()).parse().unwrap());
    let app = spawn_app(settings).await;

    assert_eq!(
        app.verify(&key.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (0, 1));
}

#[actix_web::test]
async fn a_per_issuer_config_path_replaces_the_discovery_path() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].config_path = Some("/custom-discovery".into());
    let app = spawn_app(settings).await;

    assert_eq!(
        app.verify(&key.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!(
        (issuer.hits("/custom-discovery"), issuer.discovery_hits()),
        (1, 0)
    );
}

#[actix_web::test]
async fn trailing_slashes_of_the_issuer_are_trimmed_for_discovery_only() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let iss = format!("{}/tenant/", issuer.issuer());
    issuer.set(|b| {
        b.discovery = Some(json!({"issuer": iss, "jwks_uri": format!("{}/jwks", issuer.issuer())}))
    });
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].issuer = iss.clone();
    let app = spawn_app(settings).await;

    assert_eq!(app.verify(&key.sign(&claims(&iss))).await.status, 200);
    assert_eq!(issuer.hits("/tenant/.well-known/openid-configuration"), 1);
    assert_eq!(
        app.verify(&key.sign(&claims(issuer.issuer())))
            .await
            .reason(),
        "untrusted_issuer"
    );
}

#[actix_web::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.discovery = Some(json!({"issuer": "https://impostor.example", "jwks_uri": format!("{}/jwks", issuer.issuer())})));
    let app = spawn_app(settings_for(&[&issuer])).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.status, 503);
    assert_eq!(answer.reason(), "keys_unavailable");
    assert!(app.fetch_errors().contains("impostor"), "{:?}", answer.body);
    assert_eq!(
        issuer.jwks_hits(),
        0,
        "keys are never fetched from an impostor's document"
    );
}

#[actix_web::test]
async fn broken_jwk_set_entries_are_skipped_and_counted_while_good_keys_verify() {
    let (good, no_kid, enc) = (DevKey::rs256(), DevKey::es256(), DevKey::eddsa());
    let mut without_kid = no_kid.jwk();
    without_kid.as_object_mut().unwrap().remove("kid");
    let mut for_encryption = enc.jwk();
    for_encryption["use"] = json!("enc");
    let issuer = DevIssuer::serving_jwks(json!({"keys": [
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        without_kid,
        for_encryption,
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0c2VjcmV0"},
        good.jwk(),
    ]}))
    .await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    assert_eq!(
        app.verify(&good.sign(&claims(issuer.issuer())))
            .await
            .status,
        200
    );
    assert_eq!(
        app.verify(&enc.sign(&claims(issuer.issuer())))
            .await
            .reason(),
        "unknown_kid"
    );
    let hmac = jwtgate::dev::hs256_token(b"secretsecret", "hmac", &claims(issuer.issuer()));
    assert_eq!(app.verify(&hmac).await.reason(), "unsupported_alg");

    for reason in ["malformed", "missing_kid", "not_for_signing", "symmetric"] {
        assert_eq!(
            app.metric("jwtgate_jwks_keys_skipped_total", &[("reason", reason)])
                .await,
            1.0,
            "{reason}"
        );
    }
}

#[actix_web::test]
async fn allow_any_issuer_restores_the_open_behaviour_with_a_bounded_label() {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[])).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("x-auth-issuer"), Some(issuer.issuer()));
    let valid = app
        .metric(
            "jwtgate_verifications_total",
            &[("issuer", "other"), ("result", "valid")],
        )
        .await;
    assert_eq!(valid, 1.0);
}

/// An IOXIO dataspace party configuration: names the keys, has no `issuer` member.
fn party_configuration(issuer: &DevIssuer) -> serde_json::Value {
    json!({
        "jwks_uri": format!("{}/jwks", issuer.issuer()),
        "party_name": "Example Ltd",
        "dataspace": "https://sandbox.ioxio-dataspace.com",
    })
}

#[actix_web::test]
async fn an_ioxio_style_document_without_issuer_is_accepted_at_a_custom_config_path() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.discovery = Some(party_configuration(&issuer)));
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].config_path = Some(jwtgate::dev::PARTY_CONFIGURATION_PATH.into());
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(
        answer.status,
        200,
        "{:?} {}",
        answer.body,
        app.fetch_errors()
    );
    assert_eq!(
        (
            issuer.hits(jwtgate::dev::PARTY_CONFIGURATION_PATH),
            issuer.jwks_hits()
        ),
        (1, 1)
    );
}

#[actix_web::test]
async fn a_document_at_a_custom_config_path_that_names_another_issuer_is_still_refused() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut document = party_configuration(&issuer);
    document["issuer"] = json!("https://impostor.example");
    issuer.set(|b| b.discovery = Some(document));
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].config_path = Some(jwtgate::dev::PARTY_CONFIGURATION_PATH.into());
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.reason(), "keys_unavailable");
    assert!(app.fetch_errors().contains("impostor"));
    assert_eq!(issuer.jwks_hits(), 0);
}

#[actix_web::test]
async fn a_document_without_issuer_at_the_standard_path_is_still_refused() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    issuer.set(|b| b.discovery = Some(party_configuration(&issuer)));
    let app = spawn_app(settings_for(&[&issuer])).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.reason(), "keys_unavailable");
    assert_eq!(issuer.jwks_hits(), 0);
}

#[actix_web::test]
async fn the_top_level_config_path_applies_to_configured_and_open_issuers() {
    let (k1, k2) = (DevKey::rs256(), DevKey::es256());
    let (configured, open) = (
        DevIssuer::serving(&[&k1]).await,
        DevIssuer::serving(&[&k2]).await,
    );
    for issuer in [&configured, &open] {
        issuer.set(|b| b.discovery = Some(party_configuration(issuer)));
    }
    let mut settings = settings_for(&[&configured]);
    settings.allow_any_issuer = true;
    settings.config_path = Some(jwtgate::dev::PARTY_CONFIGURATION_PATH.into());
    let app = spawn_app(settings).await;

    for (key, issuer) in [(&k1, &configured), (&k2, &open)] {
        let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;
        assert_eq!(
            answer.status,
            200,
            "{:?} {}",
            answer.body,
            app.fetch_errors()
        );
        assert_eq!(
            (
                issuer.hits(jwtgate::dev::PARTY_CONFIGURATION_PATH),
                issuer.discovery_hits()
            ),
            (1, 0)
        );
    }
}
