//! The claims real platforms put in tokens: an audience in another claim (Cognito's
//! `client_id`), a required token type (RFC 9068 `at+jwt`), nested claims for headers
//! (Keycloak's `realm_access.roles`).

use serde_json::json;

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

#[actix_web::test]
async fn a_cognito_access_token_is_checked_against_its_client_id() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].audience_claim = Some("client_id".into());
    let app = spawn_app(settings).await;
    // Cognito access tokens carry no aud: the app client is in client_id.
    let access_token = |client_id: Option<&str>| {
        let mut c = claims(issuer.issuer());
        c.as_object_mut().unwrap().remove("aud");
        c["token_use"] = json!("access");
        if let Some(id) = client_id {
            c["client_id"] = json!(id);
        }
        key.sign(&c)
    };

    let answer = app.verify(&access_token(Some("my-api"))).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        app.verify(&access_token(Some("another-client")))
            .await
            .reason(),
        "wrong_audience"
    );
    assert_eq!(
        app.verify(&access_token(None)).await.reason(),
        "missing_claim"
    );
    let mut with_aud_only = claims(issuer.issuer());
    with_aud_only["aud"] = json!("my-api");
    assert_eq!(
        app.verify(&key.sign(&with_aud_only)).await.reason(),
        "missing_claim",
        "aud no longer stands in for the audience claim"
    );
}

#[actix_web::test]
async fn an_issuer_requiring_at_jwt_refuses_id_tokens_and_untyped_tokens() {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].typ = Some("at+jwt".into());
    let app = spawn_app(settings).await;
    let c = claims(issuer.issuer());

    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let answer = app.verify(&key.sign_with_typ(Some(typ), &c)).await;
        assert_eq!(answer.status, 200, "{typ}: {:?}", answer.body);
    }
    for typ in [Some("JWT"), None, Some("application/jwt")] {
        let answer = app.verify(&key.sign_with_typ(typ, &c)).await;
        assert_eq!(answer.status, 401, "{typ:?}");
        assert_eq!(answer.reason(), "wrong_token_type", "{typ:?}");
    }
}

#[actix_web::test]
async fn a_nested_claim_path_maps_keycloak_realm_roles_to_a_header() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].headers.extend([
        ("realm_access.roles".to_string(), "X-Auth-Roles".to_string()),
        (
            "resource_access.my-api.roles".to_string(),
            "X-Auth-Client-Roles".to_string(),
        ),
    ]);
    let app = spawn_app(settings).await;
    let mut c = claims(issuer.issuer());
    c["realm_access"] = json!({"roles": ["admin", "user"]});
    c["resource_access"] = json!({"my-api": {"roles": {"not": "an array"}}});

    let answer = app.verify(&key.sign(&c)).await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("x-auth-roles"), Some("admin,user"));
    assert_eq!(
        answer.header("x-auth-client-roles"),
        Some(""),
        "an object is withheld, nested or not"
    );
}
