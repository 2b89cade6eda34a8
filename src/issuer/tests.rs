//! The allow-list's rules, as specifications.

use super::*;

/// Trust in `issuers` (each with audience `api`), the defaults otherwise.
fn trust(issuers: &[&str]) -> TrustedIssuers {
    trust_with(issuers.iter().map(|i| issuer(i)).collect(), false)
}

fn issuer(iss: &str) -> IssuerConfig {
    IssuerConfig {
        issuer: iss.into(),
        audiences: vec!["api".into()],
        ..IssuerConfig::default()
    }
}

fn trust_with(issuers: Vec<IssuerConfig>, allow_any_issuer: bool) -> TrustedIssuers {
    TrustedIssuers::new(TrustConfig {
        issuers,
        allow_any_issuer,
        https_only: true,
        algorithms: SUPPORTED_ALGORITHMS.to_vec(),
        leeway_secs: 60,
        max_admitted: 32,
        config_path: None,
    })
    .unwrap()
}

#[test]
fn the_discovery_url_trims_trailing_slashes_and_appends_the_path() {
    let url = |iss, path| discovery_url(iss, path, true).unwrap().to_string();
    assert_eq!(
        url("https://b/", DEFAULT_DISCOVERY_PATH),
        "https://b/.well-known/openid-configuration"
    );
    assert_eq!(
        url("https://b///", DEFAULT_DISCOVERY_PATH),
        "https://b/.well-known/openid-configuration"
    );
    assert_eq!(
        url("https://b/tenant/v2.0/", DEFAULT_DISCOVERY_PATH),
        "https://b/tenant/v2.0/.well-known/openid-configuration"
    );
    assert_eq!(url("https://b/t", "/custom"), "https://b/t/custom");
}

#[test]
fn only_configured_issuers_are_trusted_by_default() {
    let trusted = trust(&["https://a"]);
    assert!(trusted.lookup("https://a").unwrap().configured);
    assert!(
        trusted.lookup("https://a/").is_err(),
        "issuers are compared exactly"
    );
    assert!(trusted.lookup("https://evil").is_err());
}

#[test]
fn allow_any_issuer_admits_urls_with_default_policy_and_the_other_label() {
    let trusted = trust_with(Vec::new(), true);
    let policy = trusted.lookup("https://any.example").unwrap();
    assert!(!policy.configured);
    assert_eq!(&*policy.label, OTHER_ISSUER_LABEL);
    assert!(trusted.lookup("not a url").is_err());
    assert!(
        trusted.lookup("http://plain.example").is_err(),
        "https_only still applies"
    );
    assert!(trusted.lookup("https://x/?a=b").is_err());
}

fn parsed(text: &str) -> IssuerPattern {
    IssuerPattern::parse(text).unwrap().unwrap()
}

#[test]
fn a_pattern_matches_one_segment_per_placeholder() {
    let pattern = parsed("https://login.example.com/{tenant}/v2.0");
    assert!(pattern.matches("https://login.example.com/7f2c-11aa/v2.0"));
    assert!(pattern.matches("https://login.example.com/a.b_c~d/v2.0"));
    assert!(!pattern.matches("https://login.example.com//v2.0"));
    assert!(!pattern.matches("https://login.example.com/a/b/v2.0"));
    assert!(!pattern.matches("https://login.example.com/a?x=/v2.0"));
    assert!(!pattern.matches("https://login.example.com/a/v2.0/extra"));
    assert!(!pattern.matches("https://login.example.com.evil/a/v2.0"));
    assert!(!pattern.matches(&format!(
        "https://login.example.com/{}/v2.0",
        "a".repeat(MAX_PLACEHOLDER_BYTES + 1)
    )));
    assert!(
        IssuerPattern::parse("https://exact.example.com")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_placeholder_never_matches_dot_segments_or_reserved_or_encoded_characters() {
    let pattern = parsed("https://login.example.com/t/{tenant}/v2");
    for hostile in [
        ".", "..", "%2e%2e", "%2E", "a%2fb", "a@b", "a#b", "a?b", "a\\b", "a:b", "a b", "é", "a;b",
        "a=b", "a+b", "a!b", "a$b", "a'b", "a(b", "a*b", "a,b",
    ] {
        let iss = format!("https://login.example.com/t/{hostile}/v2");
        assert!(!pattern.matches(&iss), "{iss}");
    }
    assert!(pattern.matches("https://login.example.com/t/.a/v2"));
    assert!(pattern.matches("https://login.example.com/t/.../v2"));

    let partial = parsed("https://id.example.com/tenant-{id}/v2");
    assert!(partial.matches("https://id.example.com/tenant-42/v2"));
    assert!(!partial.matches("https://id.example.com/tenant-/v2"));
    assert!(!partial.matches("https://id.example.com/other-42/v2"));
    let dotted = parsed("https://id.example.com/a/.{x}/v2");
    assert!(
        !dotted.matches("https://id.example.com/a/../v2"),
        "the segment, not only the value, must not be a dot segment"
    );
}

#[test]
fn malformed_patterns_are_refused_by_the_one_parser() {
    for bad in [
        "https://{tenant}.example.com/v2",
        "https://example.com:{port}/v2",
        "https://example.com/{tenant",
        "https://example.com/{ten/ant}/v2",
        "https://example.com/tenant}/v2",
        "https://example.com/{}/v2",
        "https://example.com/{a-b}/v2",
        "https://example.com/{a}{b}/v2",
        "https://example.com/{a}-{b}/v2",
        "https://example.com/a/../{t}",
        "https://example.com/./{t}",
    ] {
        assert!(IssuerPattern::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parsed("https://example.com/{a}/x/{b_2}/").example(),
        "https://example.com/x/x/x/"
    );
}

#[test]
fn a_pattern_instance_cannot_fetch_outside_the_pattern() {
    let trusted = trust(&["https://login.example.com/t/{tenant}/v2"]);
    for iss in [
        "https://login.example.com/t/../v2",
        "https://login.example.com/t/./v2",
        "https://login.example.com/t/%2e%2e/v2",
        "https://login.example.com/t/a%2f..%2f/v2",
    ] {
        assert!(trusted.lookup(iss).is_err(), "{iss}");
    }
    let policy = trusted.lookup("https://login.example.com/t/a/v2").unwrap();
    let KeySource::Discovery(url) = &policy.key_source else {
        panic!("discovery expected");
    };
    assert!(url.path().starts_with("/t/a/v2/"));
}

#[test]
fn a_pattern_match_gets_the_patterns_policy_and_label() {
    let trusted = trust(&["https://login.example.com/{tenant}/v2.0"]);
    let policy = trusted.lookup("https://login.example.com/t1/v2.0").unwrap();
    assert_eq!(&*policy.issuer, "https://login.example.com/t1/v2.0");
    assert_eq!(&*policy.label, "https://login.example.com/{tenant}/v2.0");
    assert_eq!(policy.audiences, vec!["api".to_string()]);
    assert!(!policy.configured);
    assert_eq!(
        policy.key_source,
        KeySource::Discovery(
            Url::parse("https://login.example.com/t1/v2.0/.well-known/openid-configuration")
                .unwrap()
        )
    );
    assert!(trusted.lookup("https://login.example.com/t1/v3.0").is_err());
    assert_eq!(trusted.configured().count(), 0);
}

#[test]
fn a_global_config_path_applies_to_every_issuer_without_its_own() {
    let global = Some("/.well-known/dataspace/party-configuration.json".to_string());
    let trusted = TrustedIssuers::new(TrustConfig {
        issuers: vec![
            issuer("https://a"),
            IssuerConfig {
                config_path: Some("/own".into()),
                ..issuer("https://b")
            },
            IssuerConfig {
                config_path: Some(DEFAULT_DISCOVERY_PATH.into()),
                ..issuer("https://c")
            },
        ],
        allow_any_issuer: true,
        https_only: true,
        algorithms: SUPPORTED_ALGORITHMS.to_vec(),
        leeway_secs: 60,
        max_admitted: 32,
        config_path: global,
    })
    .unwrap();
    let source = |iss| {
        let policy = trusted.lookup(iss).unwrap();
        let KeySource::Discovery(url) = &policy.key_source else {
            panic!("discovery expected");
        };
        (url.to_string(), policy.discovery_issuer)
    };
    let custom = IssuerMember::CheckedIfPresent;
    assert_eq!(
        source("https://a"),
        (
            "https://a/.well-known/dataspace/party-configuration.json".into(),
            custom
        )
    );
    assert_eq!(source("https://b"), ("https://b/own".into(), custom));
    assert_eq!(
        source("https://c"),
        (
            "https://c/.well-known/openid-configuration".into(),
            IssuerMember::Required
        ),
        "an issuer's own config_path wins, even the standard one"
    );
    assert_eq!(
        source("https://open.example"),
        (
            "https://open.example/.well-known/dataspace/party-configuration.json".into(),
            custom
        ),
        "allow_any_issuer ones included"
    );
}

#[test]
fn the_standard_discovery_path_requires_the_issuer_member() {
    let trusted = trust_with(vec![issuer("https://a")], true);
    assert_eq!(
        trusted.lookup("https://a").unwrap().discovery_issuer,
        IssuerMember::Required
    );
    assert_eq!(
        trusted
            .lookup("https://open.example")
            .unwrap()
            .discovery_issuer,
        IssuerMember::Required
    );
}

#[test]
fn a_static_jwks_uri_skips_discovery() {
    let trusted = trust_with(
        vec![IssuerConfig {
            jwks_uri: Some(Url::parse("https://keys.a/jwks").unwrap()),
            ..issuer("https://a")
        }],
        false,
    );
    assert_eq!(
        trusted.lookup("https://a").unwrap().key_source,
        KeySource::Static(Url::parse("https://keys.a/jwks").unwrap())
    );
}
