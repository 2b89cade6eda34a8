//! Abuse resistance: floods and forged tokens, each counting the requests the issuer saw.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::helpers::{settings_for, spawn_app};
use jwtgate::dev::{DevIssuer, DevKey, claims};

const MIN_REFRESH: Duration = Duration::from_secs(300);

#[actix_web::test]
async fn a_random_kid_flood_costs_at_most_one_jwks_fetch_per_refresh_interval() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let flood = |round: u32| {
        let app = &app;
        let key = key.clone();
        let iss = issuer.issuer().to_string();
        async move {
            for i in 0..100 {
                let token = key.with_kid(&format!("r{round}-{i}")).sign(&claims(&iss));
                assert_eq!(app.verify(&token).await.reason(), "unknown_kid");
            }
        }
    };

    flood(0).await;
    assert_eq!(issuer.jwks_hits(), 1, "inside the window: no fetch at all");
    app.clock.advance(MIN_REFRESH + Duration::from_secs(1));
    flood(1).await;
    assert_eq!(
        issuer.jwks_hits(),
        2,
        "one fetch for the first unknown kid after the window"
    );
    app.clock.advance(MIN_REFRESH + Duration::from_secs(1));
    flood(2).await;
    assert_eq!(issuer.jwks_hits(), 3);
    assert_eq!(issuer.discovery_hits(), 1);
}

#[actix_web::test]
async fn a_random_issuer_flood_causes_no_fetch_at_all() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let before = issuer.total_hits();

    for i in 0..100 {
        let iss = format!("{}/tenant-{i}", issuer.issuer());
        assert_eq!(
            app.verify(&key.sign(&claims(&iss))).await.reason(),
            "untrusted_issuer"
        );
    }

    assert_eq!(issuer.total_hits(), before);
}

#[actix_web::test]
async fn an_embedded_jwk_header_is_ignored() {
    let (key, attacker) = (DevKey::rs256(), DevKey::rs256_rotated());
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some(key.kid().to_string());
    header.jwk = Some(serde_json::from_value(attacker.jwk()).unwrap());
    let forged =
        jsonwebtoken::encode(&header, &claims(issuer.issuer()), &attacker_encoding_key()).unwrap();

    assert_eq!(app.verify(&forged).await.reason(), "bad_signature");
}

/// RFC 7797: `"b64": false` says the signature covers the payload's raw bytes, not its
/// base64url. jwtgate does not support unencoded payloads, so such a header is refused (as
/// jsonwebtoken's `decode` refuses it), even when the signature over the encoded form is valid.
#[actix_web::test]
async fn a_header_asking_for_an_unencoded_payload_is_refused_though_its_signature_verifies() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let payload = claims(issuer.issuer());

    for b64 in [json!(false), json!("false"), json!(0)] {
        let token = key.sign_with_header(&json!({ "b64": b64 }), &payload);
        assert_eq!(app.verify(&token).await.reason(), "malformed", "b64: {b64}");
    }
    let token = key.sign_with_header(&json!({"b64": true}), &payload);
    assert_eq!(
        app.verify(&token).await.status,
        200,
        "b64: true is the default"
    );
}

fn attacker_encoding_key() -> jsonwebtoken::EncodingKey {
    jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../keys/rsa2.pem")).unwrap()
}

#[actix_web::test]
async fn duplicate_members_and_deep_nesting_are_malformed_without_a_fetch() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let before = issuer.total_hits();
    let b64 = |text: &str| URL_SAFE_NO_PAD.encode(text);
    let header = b64(&json!({"alg": "RS256", "kid": key.kid()}).to_string());
    let duplicate_iss = format!(
        r#"{{"iss":"https://evil.example","iss":"{}","exp":9999999999}}"#,
        issuer.issuer()
    );
    let deep = format!(
        r#"{{"iss":"{}","x":{}1{}}}"#,
        issuer.issuer(),
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let duplicate_alg = format!(r#"{{"alg":"none","alg":"RS256","kid":"{}"}}"#, key.kid());

    for token in [
        format!("{header}.{}.c2ln", b64(&duplicate_iss)),
        format!("{header}.{}.c2ln", b64(&deep)),
        format!(
            "{}.{}.c2ln",
            b64(&duplicate_alg),
            b64(&json!({"iss": issuer.issuer()}).to_string())
        ),
    ] {
        let answer = app.verify(&token).await;
        assert_eq!(
            (answer.status, answer.reason()),
            (401, "malformed"),
            "{:?}",
            answer.body
        );
    }
    assert_eq!(issuer.total_hits(), before);
}

/// A JWS made without any private key: `signature` over `header.payload` is computed by
/// `forge` from the signing input alone.
fn forged_token(
    header: &serde_json::Value,
    payload: &serde_json::Value,
    forge: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let b64 = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let signature = forge(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[actix_web::test]
async fn keys_that_make_forgery_trivial_are_skipped_so_a_keyless_admin_token_fails() {
    let good = DevKey::rs256();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let modulus = URL_SAFE_NO_PAD
        .decode(good.jwk()["n"].as_str().unwrap())
        .unwrap();
    let issuer = DevIssuer::serving_jwks(json!({"keys": [
        good.jwk(),
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed-identity", "x": URL_SAFE_NO_PAD.encode(identity)},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed-zero", "x": URL_SAFE_NO_PAD.encode([0u8; 32])},
        {"kty": "RSA", "kid": "rsa-e1", "n": good.jwk()["n"], "e": URL_SAFE_NO_PAD.encode([1u8])},
    ]}))
    .await;
    let app = spawn_app(settings_for(&[&issuer])).await;
    let mut payload = claims(issuer.issuer());
    payload["sub"] = json!("admin");

    // Against the identity point, R = identity and S = 0 satisfy [S]B = R + [k]A for any k.
    let ed_identity = forged_token(
        &json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-identity"}),
        &payload,
        |_| [&identity[..], &[0u8; 32]].concat(),
    );
    // With e = 1 the RSA signature is the PKCS#1 v1.5 encoded digest itself.
    let rsa_e1 = forged_token(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-e1"}),
        &payload,
        |input| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input);
            let digest_info: &[u8] = &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ];
            let tail = [digest_info, digest.as_ref()].concat();
            let mut encoded = vec![0xff; modulus.len()];
            encoded[0] = 0x00;
            encoded[1] = 0x01;
            encoded[modulus.len() - tail.len() - 1] = 0x00;
            encoded[modulus.len() - tail.len()..].copy_from_slice(&tail);
            encoded
        },
    );

    for (name, token) in [("ed-identity", ed_identity), ("rsa-e1", rsa_e1)] {
        let answer = app.verify(&token).await;
        assert_eq!(
            (answer.status, answer.reason()),
            (401, "unknown_kid"),
            "{name}: {:?}",
            answer.body
        );
    }
    assert_eq!(
        app.metric(
            "jwtgate_jwks_keys_skipped_total",
            &[("issuer", issuer.issuer()), ("reason", "weak_key")]
        )
        .await,
        3.0
    );
    assert_eq!(
        app.verify(&good.sign(&claims(issuer.issuer())))
            .await
            .status,
        200
    );
}
