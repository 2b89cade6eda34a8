//! The verifier's rules, as specifications.

use super::rejection::map_jwt_error;
use super::*;
use crate::issuer::IssuerError;
use crate::keys::KeysError;
use crate::policy::PolicyError;
use crate::token::TokenError;

#[test]
fn reason_codes_lists_the_code_of_every_rejection() {
    let every = [
        Rejection::MissingToken,
        Rejection::Token(TokenError::TooLarge { len: 1 }),
        Rejection::Token(TokenError::Malformed(String::new())),
        Rejection::Malformed(String::new()),
        Rejection::UnsupportedAlg(String::new()),
        Rejection::Issuer(IssuerError::Untrusted(String::new())),
        Rejection::Keys(KeysError::UnknownKid),
        Rejection::Keys(KeysError::InvalidKid),
        Rejection::Keys(KeysError::Unavailable {
            retry_after: std::time::Duration::ZERO,
            cause: crate::keys::RefreshError::NotFetched,
        }),
        Rejection::BadSignature,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::WrongAudience,
        Rejection::WrongIssuer,
        Rejection::MissingClaim(String::new()),
        Rejection::WrongTokenType,
        Rejection::WrongSigner,
        Rejection::Policy(PolicyError::UnknownPolicy(String::new())),
        Rejection::Policy(PolicyError::InvalidPath("")),
        Rejection::Policy(PolicyError::AmbiguousRequest("")),
        Rejection::Policy(PolicyError::InvalidRequirement(String::new())),
        Rejection::Policy(PolicyError::UnmatchedRoute),
        Rejection::Policy(PolicyError::ClaimMismatch(String::new())),
        Rejection::ForgedIdentityHeader(String::new()),
        Rejection::InsufficientScope { missing: vec![] },
    ];
    let codes: std::collections::BTreeSet<_> = every.iter().map(Rejection::reason).collect();
    let listed: std::collections::BTreeSet<_> = REASON_CODES.into_iter().collect();
    assert_eq!(codes, listed);
}
use serde_json::json;

fn claims(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn scopes_come_from_scope_or_scp() {
    let required = vec!["a".to_string(), "b".to_string()];
    assert!(missing_scopes(&claims(json!({"scope": "a b c"})), &required).is_empty());
    assert!(missing_scopes(&claims(json!({"scp": ["b", "a"]})), &required).is_empty());
    assert!(missing_scopes(&claims(json!({"scp": "a b"})), &required).is_empty());
    assert_eq!(
        missing_scopes(&claims(json!({"scope": "a"})), &required),
        vec!["b"]
    );
    assert_eq!(missing_scopes(&claims(json!({})), &required), required);
}

#[test]
fn none_and_unknown_algorithms_are_unsupported() {
    for alg in ["none", "None", "HS1", "", "RS256 "] {
        assert_eq!(
            parse_alg(alg).unwrap_err().reason(),
            "unsupported_alg",
            "{alg:?}"
        );
    }
    assert_eq!(parse_alg("ES384").unwrap(), Algorithm::ES384);
}

#[test]
fn jsonwebtoken_errors_map_to_stable_reasons() {
    assert_eq!(
        map_jwt_error(&ErrorKind::InvalidSignature).reason(),
        "bad_signature"
    );
    assert_eq!(
        map_jwt_error(&ErrorKind::ExpiredSignature).reason(),
        "expired"
    );
    assert_eq!(
        map_jwt_error(&ErrorKind::ImmatureSignature).reason(),
        "not_yet_valid"
    );
    assert_eq!(
        map_jwt_error(&ErrorKind::InvalidAudience).reason(),
        "wrong_audience"
    );
    assert_eq!(
        map_jwt_error(&ErrorKind::MissingRequiredClaim("exp".into())).reason(),
        "missing_claim"
    );
    assert_eq!(
        map_jwt_error(&ErrorKind::InvalidClaimFormat("exp".into())).reason(),
        "malformed"
    );
}

/// The checks `verify` makes after choosing the key, the fast way (key parsed once, claims by
/// `claims::validate`) and jsonwebtoken's way (`decode`), on one token: the rejection each
/// answers (what a client sees).
type Answer = Result<(), Rejection>;
fn both_paths(raw: &str, key: &VerifyingKey) -> Option<(Answer, Answer)> {
    let token = UnverifiedToken::parse(raw).ok()?;
    let alg = parse_alg(token.unverified_alg()).ok()?;
    if !key.algorithms.contains(&alg) {
        return None;
    }
    let now = jsonwebtoken::get_current_timestamp();
    let claims = token.unverified_registered_claims();
    let fast = check_signature_and_claims(&token, key, alg, now, claims)
        .map_err(|kind| rejection_for(&token, &kind));
    let reference =
        jsonwebtoken::decode::<serde::de::IgnoredAny>(raw, &key.decoding_key, &key.validation)
            .map(|_| ())
            .map_err(|e| rejection_for(&token, e.kind()));
    Some((fast, reference))
}

#[test]
fn the_parsed_key_path_answers_every_vector_exactly_as_jsonwebtoken_decode() {
    use crate::dev::{DevKey, now, unsigned_token};
    use serde_json::json;

    const ISS: &str = "https://issuer.example";
    let keys = [
        DevKey::rs256(),
        DevKey::rs256().with_alg(Algorithm::RS384),
        DevKey::rs256().with_alg(Algorithm::RS512),
        DevKey::ps256(),
        DevKey::ps256().with_alg(Algorithm::PS512),
        DevKey::es256(),
        DevKey::es384(),
        DevKey::eddsa(),
    ];
    let mut template = jsonwebtoken::Validation::new(Algorithm::RS256);
    template.algorithms = crate::issuer::SUPPORTED_ALGORITHMS.to_vec();
    template.leeway = 60;
    template.set_issuer(&[ISS]);
    template.set_audience(&["my-api"]);
    template.set_required_spec_claims(&["exp", "iss", "aud"]);
    let base =
        || json!({"iss": ISS, "sub": "alice", "aud": "my-api", "exp": now() + 600, "iat": now()});
    let with = |name: &str, value: Value| {
        let mut claims = base();
        claims[name] = value;
        claims
    };
    let without = |name: &str| {
        let mut claims = base();
        claims.as_object_mut().unwrap().remove(name);
        claims
    };
    let payloads = [
        ("valid", base()),
        ("expired", with("exp", json!(now() - 600))),
        ("expired inside the leeway", with("exp", json!(now() - 30))),
        (
            "expired as a float",
            with("exp", json!((now() - 600) as f64 + 0.4)),
        ),
        (
            "exp as a float",
            with("exp", json!((now() + 600) as f64 + 0.5)),
        ),
        ("exp as a string", with("exp", json!("soon"))),
        ("exp negative", with("exp", json!(-5))),
        ("exp beyond u64", with("exp", json!(1e30))),
        ("exp null", with("exp", Value::Null)),
        ("no exp", without("exp")),
        ("not yet valid", with("nbf", json!(now() + 600))),
        ("nbf inside the leeway", with("nbf", json!(now() + 30))),
        ("nbf as a string", with("nbf", json!("later"))),
        ("nbf negative", with("nbf", json!(-1))),
        ("wrong audience", with("aud", json!("other-api"))),
        (
            "audience among several",
            with("aud", json!(["other", "my-api"])),
        ),
        (
            "no matching audience among several",
            with("aud", json!(["a", "b"])),
        ),
        ("empty audience list", with("aud", json!([]))),
        ("audience a number", with("aud", json!(7))),
        (
            "audience list with a number",
            with("aud", json!(["my-api", 7])),
        ),
        ("audience null", with("aud", Value::Null)),
        ("no audience", without("aud")),
        ("another issuer", with("iss", json!("https://evil.example"))),
        ("sub a number", with("sub", json!(5))),
    ];
    let mut compared = 0;
    for key in &keys {
        let set = crate::keys::parse_jwk_set(
            json!({"keys": [key.jwk()]}).to_string().as_bytes(),
            &template,
        )
        .unwrap();
        let verifying = set.keys.values().next().expect("the key parses");
        let other = DevKey::rs256_rotated();
        for (case, payload) in &payloads {
            let signed = key.sign(payload);
            let mut bad_signature = signed.clone();
            let at = bad_signature.len() - 8;
            let flipped = if &bad_signature[at..=at] == "A" {
                "B"
            } else {
                "A"
            };
            bad_signature.replace_range(at..=at, flipped);
            let (head, _) = signed.rsplit_once('.').unwrap();
            let tokens = [
                signed.clone(),
                bad_signature,
                format!(
                    "{head}.{}",
                    signed.rsplit_once('.').unwrap().1.get(..10).unwrap_or("")
                ),
                if key.alg().family() == Algorithm::RS256.family() {
                    other.with_alg(key.alg()).with_kid(key.kid()).sign(payload)
                } else {
                    signed.clone()
                },
                unsigned_token(
                    &json!({"alg": format!("{:?}", key.alg()), "kid": key.kid(), "typ": 5}),
                    payload,
                    b"sig",
                ),
            ];
            for raw in &tokens {
                if let Some((fast, reference)) = both_paths(raw, verifying) {
                    assert_eq!(fast, reference, "{case} with {:?}", key.alg());
                    compared += 1;
                }
            }
        }
        // Signed headers jsonwebtoken reads in its own way: members its `Header` has fields for,
        // with values of other types, and RFC 7797's `b64`, which `decode` refuses unless true.
        let headers = [
            json!({"b64": false}),
            json!({"b64": true}),
            json!({"b64": "false"}),
            json!({"b64": null}),
            json!({"b64": 0}),
            json!({"typ": 5}),
            json!({"typ": "at+jwt", "cty": 7}),
            json!({"jwk": "a key"}),
            json!({"jwk": {"kty": "oct"}}),
            json!({"x5c": "not a list"}),
            json!({"x5c": ["MIIB"]}),
            json!({"x5t#S256": 1}),
            json!({"enc": "A1024GCM"}),
            json!({"zip": "DEF"}),
            json!({"url": ["u"]}),
            json!({"nonce": {}}),
            json!({"custom": {"deep": [1, "two", null]}}),
            json!({"x5t": "abc", "x5t#S256": "def", "cty": "JWT", "jku": "https://jku.example",
                   "x5u": "https://x5u.example", "url": "u", "nonce": "n"}),
            json!({"typ": null}),
            json!({"x5t": 1}),
        ];
        for header in &headers {
            let raw = key.sign_with_header(header, &base());
            let (fast, reference) = both_paths(&raw, verifying).expect("the header parses");
            assert_eq!(fast, reference, "header {header} with {:?}", key.alg());
            if header.get("b64").is_some_and(|b64| b64 != &json!(true)) {
                assert_eq!(
                    fast,
                    Err(map_jwt_error(&ErrorKind::InvalidToken)),
                    "header {header}: refused as jsonwebtoken's decode refuses it"
                );
            }
            compared += 1;
        }
    }
    assert!(compared > 600, "only {compared} vectors compared");
}
