//! The settings' rules, as specifications.

use actix_web::http::header::HeaderName;

use super::*;

const MINIMAL: &str = r#"
    [[issuers]]
    issuer = "https://accounts.example.com"
    audiences = ["my-api"]
"#;

fn invalid_key(toml: &str) -> String {
    match Settings::from_toml(toml) {
        Err(SettingsError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid key, got {other:?}"),
    }
}

#[test]
fn a_minimal_file_gets_the_documented_defaults() {
    let s = Settings::from_toml(MINIMAL).unwrap();
    assert_eq!(s.cache.max_issuers, 32);
    assert_eq!(s.cache.ttl_secs, 3600);
    assert_eq!(s.cache.min_refresh_interval_secs, 300);
    assert_eq!(s.verify.leeway_secs, 60);
    assert_eq!(s.verify.algorithms, SUPPORTED_ALGORITHMS.to_vec());
    assert!(s.fetch.https_only);
    assert!(!s.allow_any_issuer);
    assert_eq!(s.server.bind.to_string(), "127.0.0.1:8080");
}

#[test]
fn identity_headers_must_be_x_auth_names_that_jwtgate_does_not_send_itself() {
    for name in [
        "Connection",
        "Upgrade",
        "Transfer-Encoding",
        "Content-Length",
        "TE",
        "Trailer",
        "Keep-Alive",
        "Proxy-Authorization",
        "Proxy-Connection",
        "Host",
        "Set-Cookie",
        "Cookie",
        "Authorization",
        "X-Auth-Issuer",
        "X-Auth-Subject",
        "x_auth_subject",
        "X.Auth.Issuer",
        "X-Forwarded-For",
        "x-forwarded-host",
        "Forwarded",
        "X-Real-IP",
        "X-Original-URI",
        "Content-Type",
        "WWW-Authenticate",
    ] {
        let claim = format!(
            "[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = {{ role = \"{name}\" }}"
        );
        assert_eq!(invalid_key(&claim), "issuers[0].headers.role", "{name}");
        let payload = format!("[verify]\npayload_header = \"{name}\"\n{MINIMAL}");
        assert_eq!(invalid_key(&payload), "verify.payload_header", "{name}");
    }
    let fine = "[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = { role = \"X-Auth-Role\" }";
    assert!(Settings::from_toml(fine).is_ok());
}

#[test]
fn two_claims_cannot_share_a_header_in_any_spelling() {
    let toml = "[verify]\npayload_header = \"X-Auth-Payload\"\n[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = { a = \"X-Auth-Role\", b = \"x-auth-role\" }";
    assert!(invalid_key(toml).starts_with("issuers[0].headers."));
    let toml = "[verify]\npayload_header = \"X-Auth-Payload\"\n[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nheaders = { a = \"x-auth-payload\" }";
    assert_eq!(invalid_key(toml), "issuers[0].headers.a");
}

#[test]
fn every_duration_and_size_has_an_upper_bound() {
    for (section, key, value) in [
        ("cache", "min_refresh_interval_secs", "9223372036854775807"),
        ("cache", "ttl_secs", "31536001"),
        ("cache", "stale_if_error_secs", "31536001"),
        ("cache", "max_ttl_secs", "31536001"),
        ("cache", "verified_token_ttl_secs", "31536001"),
        ("server", "drain_secs", "3601"),
        ("reload", "watch_interval_secs", "3601"),
        ("server", "shutdown_timeout_secs", "3601"),
        ("fetch", "timeout_secs", "3601"),
        ("fetch", "connect_timeout_secs", "3601"),
        ("fetch", "max_body_bytes", "16777217"),
        ("fetch", "max_redirects", "11"),
        ("verify", "leeway_secs", "3601"),
        ("log", "flush_interval_ms", "10001"),
        ("server", "workers", "1025"),
    ] {
        let toml = format!("[{section}]\n{key} = {value}\n{MINIMAL}");
        assert_eq!(invalid_key(&toml), format!("{section}.{key}"));
    }
    let at_the_bound = format!(
        "[cache]\nmin_refresh_interval_secs = 31536000\nmax_ttl_secs = 31536000\n{MINIMAL}"
    );
    assert!(Settings::from_toml(&at_the_bound).is_ok());
}

#[test]
fn an_issuer_must_list_audiences_or_say_explicitly_that_any_will_do() {
    assert_eq!(
        invalid_key("[[issuers]]\nissuer = \"https://x\""),
        "issuers[0].audiences"
    );
    assert_eq!(
        invalid_key("[[issuers]]\nissuer = \"https://x\"\naudiences = []"),
        "issuers[0].audiences"
    );
    assert!(
        Settings::from_toml("[[issuers]]\nissuer = \"https://x\"\nallow_any_audience = true")
            .is_ok()
    );
    assert_eq!(
        invalid_key(
            "[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nallow_any_audience = true"
        ),
        "issuers[0].allow_any_audience"
    );
}

#[test]
fn an_unknown_key_is_an_error_that_names_it() {
    let err = Settings::from_toml("[cache]\nmax_issuer = 3\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_issuer"), "{err}");
}

#[test]
fn an_empty_issuer_list_without_allow_any_issuer_is_an_error() {
    assert_eq!(invalid_key(""), "issuers");
    assert!(Settings::from_toml("allow_any_issuer = true").is_ok());
}

#[test]
fn a_zero_cache_size_is_an_error() {
    assert_eq!(
        invalid_key(&format!("[cache]\nmax_issuers = 0\n{MINIMAL}")),
        "cache.max_issuers"
    );
}

#[test]
fn a_malformed_issuer_url_is_an_error_naming_the_entry() {
    assert_eq!(
        invalid_key("[[issuers]]\nissuer = \"not a url\""),
        "issuers[0].issuer"
    );
    assert_eq!(
        invalid_key("[[issuers]]\nissuer = \"https://x/?q=1\""),
        "issuers[0].issuer"
    );
}

#[test]
fn an_http_issuer_is_refused_unless_https_only_is_off() {
    assert_eq!(
        invalid_key("[[issuers]]\nissuer = \"http://x\""),
        "issuers[0].issuer"
    );
    assert!(
        Settings::from_toml(
            "[fetch]\nhttps_only = false\n[[issuers]]\nissuer = \"http://x\"\naudiences = [\"a\"]"
        )
        .is_ok()
    );
}

#[test]
fn symmetric_algorithms_are_refused() {
    let err =
        Settings::from_toml(&format!("[verify]\nalgorithms = [\"HS256\"]\n{MINIMAL}")).unwrap_err();
    assert!(err.to_string().contains("verify.algorithms"), "{err}");
}

#[test]
fn an_issuer_cannot_widen_the_global_algorithms() {
    let toml = "[verify]\nalgorithms = [\"RS256\"]\n[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]";
    assert_eq!(invalid_key(toml), "issuers[0].algorithms");
}

#[test]
fn environment_variables_override_the_file() {
    let dir = std::env::temp_dir().join(format!("jwtgate-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwtgate.toml");
    std::fs::write(&file, MINIMAL).unwrap();
    let env = HashMap::from([
        (
            "JWTGATE__SERVER__BIND".to_string(),
            "0.0.0.0:9000".to_string(),
        ),
        ("JWTGATE__CACHE__TTL_SECS".to_string(), "60".to_string()),
        (
            "JWTGATE__VERIFY__ALGORITHMS".to_string(),
            "RS256,ES256".to_string(),
        ),
    ]);
    let s = Settings::load_with_env(&file, Some(env)).unwrap();
    assert_eq!(s.server.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(s.cache.ttl_secs, 60);
    assert_eq!(
        s.verify.algorithms,
        vec![Algorithm::RS256, Algorithm::ES256]
    );

    let env = HashMap::from([("JWTGATE__CACHE__MAX_ISSUERS".to_string(), "0".to_string())]);
    let err = Settings::load_with_env(&file, Some(env))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cache.max_issuers") && err.contains("jwtgate.toml"),
        "{err}"
    );
}

#[test]
fn token_sources_are_parsed_and_a_bad_one_is_an_error_naming_the_key() {
    let s = Settings::from_toml(&format!(
        "[verify]\ntoken_sources = [\"header:X-Token\", \"header:Authorization:DPoP\", \"cookie:jwt\", \"query:t\"]\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(
        s.verify.token_sources,
        vec![
            TokenSource::Header {
                name: HeaderName::from_static("x-token"),
                scheme: None
            },
            TokenSource::Header {
                name: HeaderName::from_static("authorization"),
                scheme: Some("DPoP".into())
            },
            TokenSource::Cookie { name: "jwt".into() },
            TokenSource::Query { name: "t".into() },
        ]
    );
    for bad in [
        "body:x",
        "header:",
        "header:X:",
        "cookie:",
        "query:a b",
        "query",
    ] {
        let err = Settings::from_toml(&format!("[verify]\ntoken_sources = [\"{bad}\"]\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("token_sources"), "{bad}: {err}");
    }
    assert_eq!(
        invalid_key(&format!("[verify]\ntoken_sources = []\n{MINIMAL}")),
        "verify.token_sources"
    );
}

#[test]
fn the_default_token_sources_are_the_documented_ones_and_no_payload_header_is_sent() {
    let s = Settings::from_toml(MINIMAL).unwrap();
    assert_eq!(s.verify.token_sources.len(), DEFAULT_TOKEN_SOURCES.len());
    assert_eq!(
        s.verify.token_sources[0],
        TokenSource::Header {
            name: HeaderName::from_static("authorization"),
            scheme: Some("Bearer".into())
        }
    );
    assert_eq!(s.verify.payload_header, None);
    assert_eq!(
        invalid_key(&format!(
            "[verify]\npayload_header = \"X Payload\"\n{MINIMAL}"
        )),
        "verify.payload_header"
    );
}

#[test]
fn token_sources_can_be_overridden_from_the_environment_as_a_list() {
    let dir = std::env::temp_dir().join(format!("jwtgate-sources-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwtgate.toml");
    std::fs::write(&file, MINIMAL).unwrap();
    let env = HashMap::from([(
        "JWTGATE__VERIFY__TOKEN_SOURCES".to_string(),
        "cookie:session,query:jwt".to_string(),
    )]);
    let s = Settings::load_with_env(&file, Some(env)).unwrap();
    assert_eq!(
        s.verify.token_sources,
        vec![
            TokenSource::Cookie {
                name: "session".into()
            },
            TokenSource::Query { name: "jwt".into() },
        ]
    );
}

#[test]
fn the_shipped_config_file_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut documented = std::collections::HashSet::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            section = header.trim_matches(['[', ']']).to_string();
            continue;
        }
        // A commented-out example section (`# [[routes]]`) documents its keys too.
        let uncommented = line.trim_start_matches('#').trim_start();
        if uncommented.starts_with('[')
            && uncommented.ends_with(']')
            && uncommented
                .trim_matches(['[', ']'])
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
        {
            section = uncommented.trim_matches(['[', ']']).to_string();
            continue;
        }
        let line = line.trim_start_matches('#').trim_start();
        if let Some((key, _)) = line.split_once('=')
            && !key.trim().is_empty()
            && key
                .trim()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            documented.insert(format!("{section}.{}", key.trim()));
        }
    }
    let mut settings = Settings::from_toml("allow_any_issuer = true").unwrap();
    settings.issuers.push(IssuerSettings {
        issuer: "https://a.example".into(),
        audiences: Vec::new(),
        allow_any_audience: false,
        config_path: Some("/x".into()),
        jwks_uri: Some("https://a.example/k".parse().unwrap()),
        jwks_hosts: Some(Vec::new()),
        algorithms: Some(Vec::new()),
        required_claims: Vec::new(),
        required_scopes: Vec::new(),
        headers: BTreeMap::new(),
        jwks_file: Some("/etc/jwtgate/keys.json".into()),
        public_key_files: BTreeMap::from([("k".into(), "/k.pem".into())]),
        audience_claim: Some("client_id".into()),
        typ: Some("at+jwt".into()),
        ca_file: None,
        allow_private_addresses: false,
        fetch_token_file: Some("/var/run/secrets/tokens/jwtgate".into()),
        key_url: Some("https://keys.example/{kid}".into()),
        signer: Some("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/a/b".into()),
        allow_padded_segments: false,
        required: true,
    });
    settings
        .policies
        .insert("admin".into(), super::PolicySettings::default());
    settings.routes.push(super::RouteSettings::default());
    let value = serde_json::to_value(&settings).unwrap();
    let mut missing = Vec::new();
    for (key, value) in value.as_object().unwrap() {
        let (section, fields) = match value {
            // `[policies.NAME]`: the example policy's section documents the fields.
            serde_json::Value::Object(named) if key == "policies" => (
                "policies.admin",
                named["admin"].as_object().unwrap().clone(),
            ),
            serde_json::Value::Object(fields) => (key.as_str(), fields.clone()),
            serde_json::Value::Array(entries) => {
                (key.as_str(), entries[0].as_object().unwrap().clone())
            }
            _ => (
                "",
                serde_json::Map::from_iter([(key.clone(), value.clone())]),
            ),
        };
        for field in fields.keys() {
            if !documented.contains(&format!("{section}.{field}")) {
                missing.push(format!("{section}.{field}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "config/jwtgate.toml does not document {missing:?}"
    );
}

#[test]
fn the_shipped_config_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_FILE);
    Settings::load_with_env(&path, Some(HashMap::new())).unwrap();
}

#[test]
fn config_paths_stay_under_the_issuer() {
    let with_global = |path: &str| format!("config_path = {path:?}\n{MINIMAL}");
    assert!(
        Settings::from_toml(&with_global(
            "/.well-known/dataspace/party-configuration.json"
        ))
        .is_ok()
    );
    for bad in ["x", "/a/../b", "/./x", "/x?y", "/x#y", "/%2e%2e/x", "/a\\b"] {
        assert_eq!(invalid_key(&with_global(bad)), "config_path", "{bad}");
        let per_issuer = format!("{MINIMAL}config_path = {bad:?}\n");
        assert_eq!(invalid_key(&per_issuer), "issuers[0].config_path", "{bad}");
    }
}

#[test]
fn local_key_files_cannot_be_mixed_with_network_settings() {
    let local = |extra: &str| format!("{MINIMAL}jwks_file = \"/etc/keys.json\"\n{extra}");
    assert!(Settings::from_toml(&local("")).is_ok());
    assert!(Settings::from_toml(&local("public_key_files = { k1 = \"/k1.pem\" }\n")).is_ok());
    for (extra, key) in [
        (
            "jwks_uri = \"https://a.example/k\"\n",
            "issuers[0].jwks_uri",
        ),
        ("config_path = \"/x\"\n", "issuers[0].config_path"),
        ("jwks_hosts = [\"a\"]\n", "issuers[0].jwks_hosts"),
        (
            "public_key_files = { \"\" = \"/k.pem\" }\n",
            "issuers[0].public_key_files",
        ),
    ] {
        assert_eq!(invalid_key(&local(extra)), key, "{extra}");
    }
}

#[test]
fn claim_paths_audience_claims_and_token_types_are_checked_at_startup() {
    let with = |extra: &str| format!("{MINIMAL}{extra}\n");
    assert!(Settings::from_toml(&with("audience_claim = \"client_id\"\ntyp = \"at+jwt\"")).is_ok());
    assert!(
        Settings::from_toml(&with(
            "headers = { \"realm_access.roles\" = \"X-Auth-Roles\" }"
        ))
        .is_ok()
    );
    for (extra, key) in [
        ("audience_claim = \"\"", "issuers[0].audience_claim"),
        ("audience_claim = \"a..b\"", "issuers[0].audience_claim"),
        ("typ = \"\"", "issuers[0].typ"),
        ("typ = \"at jwt\"", "issuers[0].typ"),
        (
            "headers = { \"a..b\" = \"X-Auth-A\" }",
            "issuers[0].headers",
        ),
        ("headers = { \".a\" = \"X-Auth-A\" }", "issuers[0].headers"),
    ] {
        assert_eq!(invalid_key(&with(extra)), key, "{extra}");
    }
}

#[test]
fn a_fetch_token_is_only_configured_for_an_https_issuer_that_fetches() {
    let with = |extra: &str| format!("{MINIMAL}fetch_token_file = \"/run/token\"\n{extra}");
    assert!(Settings::from_toml(&with("allow_private_addresses = true")).is_ok());
    assert_eq!(
        invalid_key(&with("jwks_file = \"/k.json\"")),
        "issuers[0].fetch_token_file"
    );
    let http = "[fetch]\nhttps_only = false\n[[issuers]]\nissuer = \"http://id.example\"\n\
                audiences = [\"a\"]\nfetch_token_file = \"/run/token\"\n";
    assert_eq!(invalid_key(http), "issuers[0].fetch_token_file");
    let secret = format!("{MINIMAL}fetch_token_file = \"\"\n");
    assert_eq!(invalid_key(&secret), "issuers[0].fetch_token_file");
}

#[test]
fn each_resource_needs_its_own_metadata_path() {
    let toml = format!(
        "[resource_metadata]\nresource = \"https://api.example.com/billing\"\n\
         [policies.billing]\nresource = \"https://api.example.com/billing/\"\n{MINIMAL}"
    );
    assert_eq!(invalid_key(&toml), "policies.billing.resource");
    let toml =
        format!("[policies.billing]\nresource = \"http://api.example.com/billing\"\n{MINIMAL}");
    assert_eq!(invalid_key(&toml), "policies.billing.resource");
    let toml = format!(
        "[resource_metadata]\nresource = \"https://api.example.com\"\n\
         [policies.billing]\nresource = \"https://api.example.com/billing\"\n{MINIMAL}"
    );
    assert!(Settings::from_toml(&toml).is_ok());
}
