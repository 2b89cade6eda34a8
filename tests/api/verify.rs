//! `/verify`: every algorithm, every reason code, every status, and the success answer.

use awc::http::Method;
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::helpers::{TestApp, settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims, hs256_token, now, unsigned_token};

async fn app_with(keys: &[&DevKey]) -> (DevIssuer, TestApp) {
    let issuer = DevIssuer::serving(keys).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    (issuer, app)
}

#[actix_web::test]
async fn tokens_of_every_supported_algorithm_verify() {
    let keys = [
        DevKey::rs256(),
        DevKey::es256(),
        DevKey::es384(),
        DevKey::eddsa(),
    ];
    let (issuer, app) = app_with(&keys.iter().collect::<Vec<_>>()).await;
    for key in &keys {
        let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;
        assert_eq!(answer.status, 200, "{:?}: {:?}", key.alg(), answer.body);
    }
}

#[actix_web::test]
async fn a_jwk_without_alg_accepts_every_algorithm_its_key_type_allows() {
    let rsa = DevKey::rs256();
    let issuer = DevIssuer::serving_jwks(json!({"keys": [rsa.jwk_without_alg()]})).await;
    let app = spawn_app(settings_for(&[&issuer])).await;

    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::RS512,
        Algorithm::PS384,
    ] {
        assert_eq!(
            app.verify(&rsa.with_alg(alg).sign(&claims(issuer.issuer())))
                .await
                .status,
            200,
            "{alg:?}"
        );
    }
}

#[actix_web::test]
async fn the_issuers_algorithm_list_narrows_what_a_key_allows() {
    let rsa = DevKey::rs256();
    let issuer = DevIssuer::serving_jwks(json!({"keys": [rsa.jwk_without_alg()]})).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].algorithms = Some(vec![Algorithm::PS256]);
    let app = spawn_app(settings).await;

    assert_eq!(
        app.verify(&DevKey::ps256().sign(&claims(issuer.issuer())))
            .await
            .status,
        200
    );
    assert_eq!(
        app.verify(&rsa.sign(&claims(issuer.issuer())))
            .await
            .reason(),
        "unsupported_alg"
    );
}

#[actix_web::test]
async fn an_algorithm_the_jwk_does_not_declare_is_rejected() {
    let rsa = DevKey::rs256(); // its JWK declares RS256
    let (issuer, app) = app_with(&[&rsa]).await;

    let answer = app
        .verify(
            &rsa.with_alg(Algorithm::RS512)
                .sign(&claims(issuer.issuer())),
        )
        .await;

    assert_eq!((answer.status, answer.reason()), (401, "unsupported_alg"));
}

#[actix_web::test]
async fn alg_none_and_hmac_forgeries_with_the_public_key_are_rejected() {
    let rsa = DevKey::rs256();
    let (issuer, app) = app_with(&[&rsa]).await;
    let payload = claims(issuer.issuer());

    let none = unsigned_token(&json!({"alg": "none", "kid": rsa.kid()}), &payload, b"sig");
    assert_eq!(app.verify(&none).await.reason(), "unsupported_alg");
    let forged = hs256_token(&rsa.public_key_bytes(), rsa.kid(), &payload);
    assert_eq!(app.verify(&forged).await.reason(), "unsupported_alg");
    let es_with_rsa_kid = DevKey::es256().with_kid(rsa.kid()).sign(&payload);
    assert_eq!(
        app.verify(&es_with_rsa_kid).await.reason(),
        "unsupported_alg"
    );
}

#[actix_web::test]
async fn jku_x5u_and_jwk_headers_are_ignored() {
    let (rsa, attacker) = (DevKey::rs256(), DevKey::rs256_rotated().with_kid("rsa-1"));
    let (issuer, app) = app_with(&[&rsa]).await;
    let elsewhere = DevIssuer::serving(&[&attacker]).await;
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(rsa.kid().to_string());
    header.jku = Some(format!("{}/jwks", elsewhere.issuer()));
    header.x5u = Some(format!("{}/jwks", elsewhere.issuer()));
    let forged = jsonwebtoken::encode(
        &header,
        &claims(issuer.issuer()),
        &jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../keys/rsa2.pem")).unwrap(),
    )
    .unwrap();

    assert_eq!(app.verify(&forged).await.reason(), "bad_signature");
    assert_eq!(elsewhere.total_hits(), 0);
}

#[actix_web::test]
async fn each_token_problem_has_its_reason_code_and_a_bearer_challenge() {
    let key = DevKey::es256();
    let (issuer, app) = app_with(&[&key]).await;
    let with = |change: serde_json::Value| {
        let mut c = claims(issuer.issuer());
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        key.sign(&c)
    };
    let valid = key.sign(&claims(issuer.issuer()));
    let (head, _) = valid.rsplit_once('.').unwrap();
    let other_signature = DevKey::es256().with_kid("x").sign(&claims(issuer.issuer()));
    let cases = [
        ("not-a-jwt".to_string(), "malformed"),
        ("a".repeat(16 * 1024 + 1), "token_too_large"),
        (
            format!("{head}.{}", other_signature.rsplit_once('.').unwrap().1),
            "bad_signature",
        ),
        (with(json!({"exp": now() - 120})), "expired"),
        (with(json!({"nbf": now() + 120})), "not_yet_valid"),
        (with(json!({"aud": "someone-else"})), "wrong_audience"),
        (with(json!({"aud": null})), "missing_claim"),
        (with(json!({"exp": null})), "missing_claim"),
        (with(json!({"iss": null})), "missing_claim"),
        (with(json!({"exp": "tomorrow"})), "malformed"),
        (
            with(json!({"iss": "https://untrusted.example"})),
            "untrusted_issuer",
        ),
        (
            key.with_kid("unknown").sign(&claims(issuer.issuer())),
            "unknown_kid",
        ),
    ];
    for (token, reason) in cases {
        let answer = app.verify(&token).await;
        assert_eq!(
            (answer.status, answer.reason()),
            (401, reason),
            "{:?}",
            answer.body
        );
        assert_eq!(answer.body["error"], "invalid_token");
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with(
                "Bearer realm=\"jwtgate\", error=\"invalid_token\", error_description=\""
            ),
            "{challenge}"
        );
    }
}

#[actix_web::test]
async fn leeway_tolerates_small_clock_skew() {
    let key = DevKey::rs256();
    let (issuer, app) = app_with(&[&key]).await;
    let mut c = claims(issuer.issuer());
    c["exp"] = json!(now() - 30);
    c["nbf"] = json!(now() + 30);
    assert_eq!(app.verify(&key.sign(&c)).await.status, 200);
}

#[actix_web::test]
async fn a_request_without_a_token_gets_a_challenge_without_an_error_code() {
    let (_issuer, app) = app_with(&[&DevKey::rs256()]).await;

    let answer = app.get("/verify").await;

    assert_eq!((answer.status, answer.reason()), (401, "missing_token"));
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"jwtgate\"")
    );
}

#[actix_web::test]
async fn required_claims_must_be_present() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].required_claims = vec!["tenant".into()];
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;
    assert_eq!((answer.status, answer.reason()), (401, "missing_claim"));
    assert_eq!(answer.body["message"], "the token lacks a required claim");

    let mut c = claims(issuer.issuer());
    c["tenant"] = json!("t1");
    assert_eq!(app.verify(&key.sign(&c)).await.status, 200);
}

#[actix_web::test]
async fn a_missing_scope_is_403_insufficient_scope() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].required_scopes = vec!["api:read".into(), "api:admin".into()];
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(
        (answer.status, answer.reason()),
        (403, "insufficient_scope")
    );
    assert_eq!(answer.body["error"], "insufficient_scope");
    let challenge = answer.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"api:admin\""),
        "{challenge}"
    );
    let mut c = claims(issuer.issuer());
    c["scp"] = json!(["api:read", "api:admin"]);
    assert_eq!(app.verify(&key.sign(&c)).await.status, 200);
}

#[actix_web::test]
async fn success_carries_the_identity_in_headers_and_no_body_by_default() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.issuers[0].headers = [("email", "X-Auth-Email"), ("roles", "X-Auth-Roles")]
        .into_iter()
        .map(|(a, b)| (a.into(), b.into()))
        .collect();
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-auth-issuer"), Some(issuer.issuer()));
    assert_eq!(answer.header("x-auth-subject"), Some("alice"));
    assert_eq!(answer.header("x-auth-email"), Some("alice@example.com"));
    assert_eq!(answer.header("x-auth-roles"), Some("admin,dev"));
    assert_eq!(answer.header("content-length"), Some("0"));
    assert_eq!(
        answer.body, "",
        "no body unless [verify] success_body = true"
    );
}

#[actix_web::test]
async fn with_success_body_on_a_200_also_carries_the_claims_as_json() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.verify.success_body = true;
    let app = spawn_app(settings).await;

    let answer = app.verify(&key.sign(&claims(issuer.issuer()))).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-auth-subject"), Some("alice"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body["active"], true);
    assert_eq!(answer.body["iss"], issuer.issuer());
    assert_eq!(answer.body["sub"], "alice");
    assert_eq!(answer.body["aud"], "my-api");
    assert_eq!(answer.body["claims"]["email"], "alice@example.com");
}

#[actix_web::test]
async fn verify_accepts_any_method_and_any_path_suffix() {
    let key = DevKey::rs256();
    let (issuer, app) = app_with(&[&key]).await;
    let token = key.sign(&claims(issuer.issuer()));
    for (method, path) in [
        (Method::POST, "/verify"),
        (Method::HEAD, "/verify"),
        (Method::PUT, "/verify/api/orders/7"),
        (Method::DELETE, "/verify/x"),
    ] {
        let answer = app.request(method.clone(), path, Some(&token)).await;
        assert_eq!(answer.status, 200, "{method} {path}");
        assert_eq!(answer.header("x-auth-subject"), Some("alice"));
    }
}

#[actix_web::test]
async fn hostile_tokens_get_a_4xx_never_a_500() {
    let key = DevKey::rs256();
    let (issuer, app) = app_with(&[&key]).await;
    let kid = key.kid();
    let hostile = [
        unsigned_token(
            &json!({"alg": "RS256", "kid": kid}),
            &json!({"iss": 12}),
            b"s",
        ),
        unsigned_token(
            &json!({"alg": "RS256", "kid": 5}),
            &json!({"iss": issuer.issuer()}),
            b"s",
        ),
        unsigned_token(
            &json!({"alg": "RS256", "kid": kid, "crit": ["x"]}),
            &json!({"iss": issuer.issuer()}),
            b"s",
        ),
        unsigned_token(
            &json!({"alg": "RS256"}),
            &json!({"iss": issuer.issuer()}),
            b"s",
        ),
        unsigned_token(
            &json!({"alg": "RS256", "kid": kid}),
            &json!({"iss": issuer.issuer(), "exp": 1e300}),
            b"s",
        ),
        unsigned_token(
            &json!({"alg": "RS256", "kid": kid}),
            &json!({"iss": issuer.issuer(), "exp": -1}),
            b"s",
        ),
        format!(
            "{}.{}.c2ln",
            "eyJhbGciOiJSUzI1NiJ9",
            "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1d"
        ),
        "..".into(),
        "a.b.c".into(),
    ];
    for token in hostile {
        let answer = app.verify(&token).await;
        assert_eq!(answer.status, 401, "{token}: {:?}", answer.body);
    }
    assert_eq!(
        issuer.jwks_hits(),
        1,
        "none of them caused a fetch beyond the preload"
    );
}

#[actix_web::test]
async fn refuse_identity_headers_turns_a_forged_identity_header_into_403() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut settings = settings_for(&[&issuer]);
    settings.verify.refuse_identity_headers = true;
    settings.verify.payload_header = Some("X-Auth-Payload".into());
    let app = spawn_app(settings).await;
    let bearer = (
        "Authorization",
        format!("Bearer {}", key.sign(&claims(issuer.issuer()))),
    );

    for forged in ["X-Auth-Subject", "X-Auth-Anything", "x_auth_payload"] {
        let answer = app
            .request_with_headers(
                Method::GET,
                "/verify",
                &[bearer.clone(), (forged, "admin".into())],
            )
            .await;
        assert_eq!(
            (answer.status, answer.reason()),
            (403, "forged_identity_header"),
            "{forged}"
        );
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(
            challenge.contains("error=\"invalid_request\""),
            "{challenge}"
        );
    }
    let clean = app
        .request_with_headers(Method::GET, "/verify", &[bearer])
        .await;
    assert_eq!(clean.status, 200);
}

#[actix_web::test]
async fn identity_headers_in_the_request_are_refused_by_default_and_ignored_when_allowed() {
    let key = DevKey::rs256();
    let (issuer, app) = app_with(&[&key]).await;
    let headers = [
        (
            "Authorization",
            format!("Bearer {}", key.sign(&claims(issuer.issuer()))),
        ),
        ("X-Auth-Subject", "admin".to_string()),
    ];

    let answer = app
        .request_with_headers(Method::GET, "/verify", &headers)
        .await;
    assert_eq!(
        (answer.status, answer.reason()),
        (403, "forged_identity_header")
    );

    let mut settings = settings_for(&[&issuer]);
    settings.verify.refuse_identity_headers = false;
    let lenient = spawn_app(settings).await;
    let answer = lenient
        .request_with_headers(Method::GET, "/verify", &headers)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("x-auth-subject"),
        Some("alice"),
        "jwtgate's own value, never the client's"
    );
}
