//! RFC 9728 protected resource metadata on a running server: the document at its well-known
//! URL, and `resource_metadata` in every 401 challenge (RFC 9728 sections 3 and 5.1).

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};
use serde_json::json;

#[actix_web::test]
async fn the_metadata_lists_the_resource_its_issuers_and_how_tokens_are_sent() {
    let (a, b) = (
        DevIssuer::serving(&[&DevKey::rs256()]).await,
        DevIssuer::serving(&[&DevKey::es256()]).await,
    );
    let mut settings = settings_for(&[&a, &b]);
    settings.resource_metadata.resource = Some("https://resource.example.com".parse().unwrap());
    settings.resource_metadata.scopes_supported = vec!["profile".into(), "email".into()];
    let app = spawn_app(settings).await;

    let answer = app.get("/.well-known/oauth-protected-resource").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(
        answer.body,
        json!({
            "resource": "https://resource.example.com",
            "authorization_servers": [a.issuer(), b.issuer()],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["profile", "email"],
        })
    );
}

#[actix_web::test]
async fn every_401_challenge_names_the_metadata_url() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.resource_metadata.resource = Some("https://resource.example.com".parse().unwrap());
    let app = spawn_app(settings).await;
    let mut expired = claims(issuer.issuer());
    expired["exp"] = (jwtgate::dev::now() - 3600).into();
    let forged = DevKey::rs256_rotated()
        .with_kid(key.kid())
        .sign(&claims(issuer.issuer()));

    for answer in [
        app.get("/verify").await,
        app.verify(&key.sign(&expired)).await,
        app.verify(&forged).await,
        app.verify("not-a-token").await,
    ] {
        assert_eq!(answer.status, 401);
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(
            challenge.ends_with(
                ", resource_metadata=\"https://resource.example.com/.well-known/oauth-protected-resource\""
            ),
            "{challenge}"
        );
    }
}

#[actix_web::test]
async fn a_resource_with_a_path_is_published_under_the_well_known_suffix_only() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.resource_metadata.resource =
        Some("https://resource.example.com/resource1".parse().unwrap());
    settings.admin.bind = Some("127.0.0.1:0".parse().unwrap());
    let app = spawn_app(settings).await;

    let answer = app
        .get("/.well-known/oauth-protected-resource/resource1")
        .await;

    assert_eq!(answer.status, 200, "served on the data plane");
    assert_eq!(
        answer.body["resource"],
        "https://resource.example.com/resource1"
    );
    assert_eq!(
        app.get("/.well-known/oauth-protected-resource")
            .await
            .status,
        404
    );
    assert_eq!(
        app.get("/.well-known/oauth-protected-resource/other")
            .await
            .status,
        404
    );
    let challenge = app.get("/verify").await;
    assert!(
        challenge
            .header("www-authenticate")
            .unwrap()
            .contains("resource_metadata=\"https://resource.example.com/.well-known/oauth-protected-resource/resource1\"")
    );
}

#[actix_web::test]
async fn without_a_resource_there_is_no_metadata_and_no_resource_metadata_parameter() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    assert_eq!(
        app.get("/.well-known/oauth-protected-resource")
            .await
            .status,
        404
    );
    let answer = app.get("/verify").await;
    assert!(
        !answer
            .header("www-authenticate")
            .unwrap()
            .contains("resource_metadata")
    );
}

#[actix_web::test]
async fn a_policy_with_its_own_resource_publishes_it_and_names_it_in_its_401s() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.resource_metadata.resource = Some("https://api.example.com".parse().unwrap());
    settings.policies.insert(
        "billing".into(),
        jwtgate::settings::PolicySettings {
            scopes: vec!["invoices:write".into()],
            resource: Some("https://api.example.com/billing".parse().unwrap()),
            ..Default::default()
        },
    );
    let app = spawn_app(settings).await;

    let document = app
        .get("/.well-known/oauth-protected-resource/billing")
        .await;
    let under_policy = app
        .request(awc::http::Method::GET, "/policy/billing", None)
        .await;
    let elsewhere = app.request(awc::http::Method::GET, "/verify", None).await;

    assert_eq!(document.status, 200);
    assert_eq!(document.body["resource"], "https://api.example.com/billing");
    assert_eq!(document.body["scopes_supported"], json!(["invoices:write"]));
    let challenge = |answer: &crate::helpers::Answer| {
        answer
            .header("www-authenticate")
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        challenge(&under_policy).contains(
            "resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/billing\""
        ),
        "{}",
        challenge(&under_policy)
    );
    assert!(
        challenge(&elsewhere).contains(
            "resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\""
        ),
        "{}",
        challenge(&elsewhere)
    );
}
