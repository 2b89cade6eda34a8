//! `jwtgate check-config`: the effective settings, and a probe of every issuer.

use super::*;

#[actix_web::test]
async fn check_config_prints_the_effective_settings_with_environment_overrides_and_secrets_masked()
{
    let config = config_trusting("check-ok", "https://id.example", &["my-api"]);
    let admin_token = "an-admin-token-nobody-may-see";

    let output = check_config(
        &config,
        &[],
        &[
            ("JWTGATE__CACHE__TTL_SECS", "777"),
            ("JWTGATE__ADMIN__TOKEN", admin_token),
        ],
    )
    .await;

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "is valid",
        "Environment overrides: JWTGATE__ADMIN__TOKEN, JWTGATE__CACHE__TTL_SECS",
        "ttl_secs: 777",
        "leeway_secs: 60",
        "\"https://id.example\"",
        "\"my-api\"",
        "token: \"********\"",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(!text.contains(admin_token), "{text}");
}

#[actix_web::test]
async fn check_config_of_an_invalid_file_names_the_key_and_exits_1() {
    let config = write_config(
        "check-bad",
        "[cache]\nttl_secs = 0\n[[issuers]]\nissuer = \"https://id.example\"\naudiences = [\"a\"]\n",
    );

    let output = check_config(&config, &[], &[]).await;

    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cache.ttl_secs"),
        "{}",
        stderr(&output)
    );
}

#[actix_web::test]
async fn check_config_probe_fetches_each_issuer_once_and_reports_its_keys() {
    let (k1, k2) = (DevKey::rs256(), DevKey::eddsa());
    let issuer = DevIssuer::serving(&[&k1, &k2]).await;
    let config = config_trusting("probe-ok", issuer.issuer(), &["my-api"]);

    let output = check_config(&config, &["--probe"], &[]).await;

    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.contains(&format!(
            "discovery  {}/.well-known/openid-configuration",
            issuer.issuer()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("jwks       {}/jwks", issuer.issuer())),
        "{text}"
    );
    assert!(
        text.contains("OK 2 loaded") && text.contains("ed-1, rsa-1"),
        "{text}"
    );
    assert_eq!((issuer.discovery_hits(), issuer.jwks_hits()), (1, 1));
}

#[actix_web::test]
async fn check_config_probe_reports_an_unreachable_issuer_and_exits_1() {
    let config = config_trusting("probe-dead", DEAD_ISSUER, &["my-api"]);

    let output = check_config(&config, &["--probe"], &[]).await;

    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("FAILED") && text.contains(DEAD_ISSUER),
        "{text}"
    );
}
