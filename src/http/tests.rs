//! The HTTP layer's rules, as specifications.

use super::*;
use serde_json::Value;

#[test]
fn claim_header_values_are_flattened_and_sanitised() {
    let v = |value: Value| {
        header_value(&value).map(|h| h.to_str().unwrap_or("<non-ascii>").to_string())
    };
    assert_eq!(v(json!("alice")).as_deref(), Some("alice"));
    assert_eq!(v(json!(42)).as_deref(), Some("42"));
    assert_eq!(v(json!(true)).as_deref(), Some("true"));
    assert_eq!(v(json!(["a", "b", 3])).as_deref(), Some("a,b,3"));
    assert_eq!(v(json!({"a": 1})), None);
    assert_eq!(v(json!(null)), None);
    assert_eq!(v(json!("evil\r\nX-Injected: 1")), None);
    assert_eq!(v(json!("x".repeat(MAX_CLAIM_HEADER_BYTES + 1))), None);
}

#[test]
fn an_array_element_that_reads_as_a_separator_or_a_quote_withholds_the_header() {
    let v = |value: Value| {
        header_value(&value).map(|h| h.to_str().unwrap_or("<non-ascii>").to_string())
    };

    assert_eq!(v(json!(["user", "admin"])).as_deref(), Some("user,admin"));
    assert_eq!(v(json!(["user,admin"])), None, "not the same as two roles");
    assert_eq!(v(json!(["user", "a\"b"])), None);
    assert_eq!(v(json!(["\"user\", \"admin\""])), None);
    assert_eq!(v(json!(["user", ""])), None);
    assert_eq!(v(json!(["user", " admin"])), None);
    assert_eq!(v(json!(["user", "admin\t"])), None);
    assert_eq!(
        v(json!(["two words", 7, false])).as_deref(),
        Some("two words,7,false")
    );
    assert_eq!(v(json!([])).as_deref(), Some(""));
    assert_eq!(
        v(json!("Doe, John")).as_deref(),
        Some("Doe, John"),
        "a single string is sent as it is"
    );
}

/// Two issuers mapping different claim headers, and a payload header.
const TWO_ISSUERS: &str = r#"
[verify]
payload_header = "X-Auth-Payload"
[[issuers]]
issuer = "https://a.example"
audiences = ["api"]
headers = { email = "X-Auth-Email", roles = "X-Auth-Roles" }
[[issuers]]
issuer = "https://b.example"
audiences = ["api"]
headers = { tenant = "X-Auth-Tenant" }
"#;

fn rules_and_policy(iss: &str) -> (RequestRules, Arc<crate::issuer::IssuerPolicy>) {
    let settings = crate::settings::Settings::from_toml(TWO_ISSUERS).unwrap();
    let issuers = crate::issuer::TrustedIssuers::new(settings.trust_config()).unwrap();
    (settings.request_rules(), issuers.lookup(iss).unwrap())
}

fn answer_headers(claims: Value, iss: &str) -> Vec<(String, String)> {
    let (rules, policy) = rules_and_policy(iss);
    let verified = Verified::new(policy, "k".into(), claims.as_object().unwrap().clone());
    let response = success_response(&verified, &rules);
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "content-type")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    headers.sort();
    headers
}

#[test]
fn every_configured_identity_header_is_sent_on_every_200_empty_when_there_is_no_value() {
    let headers = answer_headers(
        json!({"iss": "https://a.example", "roles": ["user,admin"], "blob": "x".repeat(MAX_PAYLOAD_HEADER_BYTES)}),
        "https://a.example",
    );

    let expected = [
        ("x-auth-email", ""),
        ("x-auth-issuer", "https://a.example"),
        ("x-auth-payload", ""),
        ("x-auth-roles", ""),
        ("x-auth-subject", ""),
        ("x-auth-tenant", ""),
    ]
    .map(|(n, v)| (n.to_string(), v.to_string()));
    assert_eq!(headers, expected);
}

#[test]
fn the_claim_headers_of_the_tokens_issuer_carry_its_claims() {
    let headers = answer_headers(
        json!({"iss": "https://b.example", "sub": "bob", "tenant": "t1", "email": "bob@b"}),
        "https://b.example",
    );

    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("x-auth-subject"), Some("bob"));
    assert_eq!(get("x-auth-tenant"), Some("t1"));
    assert_eq!(
        get("x-auth-email"),
        Some(""),
        "issuer b does not map email: its email claim is not sent"
    );
    assert!(get("x-auth-payload").is_some_and(|p| !p.is_empty()));
}

fn forged(headers: &[&str], refuse: bool) -> Option<String> {
    let (mut rules, _) = rules_and_policy("https://a.example");
    rules.refuse_identity_headers = refuse;
    let mut request = actix_web::test::TestRequest::default();
    for name in headers {
        request = request.insert_header((*name, "forged"));
    }
    forged_identity_header(&request.to_http_request(), &rules)
}

#[test]
fn every_spelling_of_an_identity_header_counts_as_forged() {
    for name in [
        "X-Auth-Sub",
        "X_Auth_Sub",
        "X.Auth.Sub",
        "x-auth_sub",
        "x-auth-sub",
        "X~Auth!Sub",
        "X-Auth-Admin",
        "X-AUTH-SUBJECT",
        "X_Auth_Payload",
        "X-Auth-Tenant",
        "x_auth_tenant",
        "X.AUTH.TENANT",
    ] {
        assert_eq!(
            forged(&["Accept", name], true).as_deref(),
            Some(name.to_ascii_lowercase().as_str()),
            "{name}"
        );
    }
}

#[test]
fn headers_that_only_look_like_identity_headers_are_not_forged() {
    for name in [
        "Authorization",
        "X-Authorization",
        "X-Auth",
        "X--Auth-Sub",
        "XAuth-Sub",
        "X-Authorization-Tenant",
        "X-Tenant",
        "X-Jwtgate-Refuse-Identity-Headers",
    ] {
        assert_eq!(forged(&[name], true), None, "{name}");
    }
}

#[test]
fn the_payload_header_is_the_claims_as_unpadded_base64url_json_and_bounded() {
    use base64::Engine as _;
    let claims = json!({"sub": "alice", "roles": ["a", "b"], "n": 1});
    let claims = claims.as_object().unwrap();

    let value = payload_header_value(claims).unwrap();

    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.as_bytes())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded).unwrap(),
        json!(claims)
    );
    let huge = json!({"blob": "x".repeat(MAX_PAYLOAD_HEADER_BYTES)});
    assert_eq!(payload_header_value(huge.as_object().unwrap()), None);
}
