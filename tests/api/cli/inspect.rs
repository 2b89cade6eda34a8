//! `jwtgate inspect`: a token explained, its issuer's keys fetched only when trusted.

use super::*;

#[actix_web::test]
async fn inspect_shows_the_token_its_issuers_urls_the_key_and_a_valid_verdict() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let token = key.sign(&claims(issuer.issuer()));

    let output = jwtgate(&["inspect", "--allow-private-addresses", &token], "", &[]).await;

    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{report}{}", stderr(&output));
    for text in [
        format!(
            "No --config: trusting the token's own issuer {}",
            issuer.issuer()
        ),
        "alg  RS256".to_string(),
        "sub    alice".to_string(),
        "(expires in ".to_string(),
        " UTC (".to_string(),
        format!(
            "discovery  {}/.well-known/openid-configuration",
            issuer.issuer()
        ),
        format!("jwks       {}/jwks", issuer.issuer()),
        "kid          rsa-1".to_string(),
        "kty          RSA".to_string(),
        format!("fingerprint  {}", thumbprint(&key)),
        "VALID".to_string(),
    ] {
        assert!(report.contains(&text), "{text:?} missing from:\n{report}");
    }
    assert!(!report.contains('\x1b'), "no colour when piped:\n{report}");
    assert_eq!(issuer.jwks_hits(), 1, "one fetch of the key set");
}

#[actix_web::test]
async fn on_a_terminal_inspect_shows_a_spinner_while_fetching_and_colours_the_report() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    // A slow key set, so that the spinner has something to wait for.
    issuer.set(|b| b.jwks_delay = Duration::from_millis(300));
    let token = key.sign(&claims(issuer.issuer()));
    let command = format!(
        "{} inspect --allow-private-addresses {token}",
        env!("CARGO_BIN_EXE_jwtgate")
    );

    // script(1) runs the command on a pseudo-terminal and exits with its exit code.
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();

    let screen = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{screen}");
    assert!(
        screen.contains(&format!("⠋ fetching the keys of {}", issuer.issuer())),
        "{screen:?}"
    );
    assert!(
        screen.contains("\r\x1b[2K"),
        "the spinner clears its line: {screen:?}"
    );
    assert!(screen.contains("\x1b[1;32mVALID\x1b[0m"), "{screen:?}");
}

#[actix_web::test]
async fn inspect_reads_the_token_from_stdin_and_prints_one_json_object() {
    let key = DevKey::es256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let token = key.sign(&claims(issuer.issuer()));

    let output = jwtgate(
        &["inspect", "--allow-private-addresses", "-", "--json"],
        &format!("Bearer {token}\n"),
        &[],
    )
    .await;

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("one JSON object");
    assert_eq!(report["verdict"]["valid"], true);
    assert_eq!(report["verdict"]["reason"], "ok");
    assert_eq!(report["token"]["header"]["kid"], "ec-256");
    assert_eq!(report["token"]["claims"]["sub"], "alice");
    assert_eq!(report["trust"]["source"], "token");
    assert_eq!(
        report["issuer"]["jwks_url"],
        format!("{}/jwks", issuer.issuer())
    );
    assert_eq!(report["key"]["kty"], "EC");
    assert_eq!(report["key"]["thumbprint_sha256"], thumbprint(&key));
    assert!(
        report["times"]["exp"]["relative"]
            .as_str()
            .unwrap()
            .starts_with("expires in")
    );
}

#[actix_web::test]
async fn inspect_never_contacts_an_internal_address_unless_a_flag_allows_it() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let token = key.sign(&claims(issuer.issuer()));

    let output = jwtgate(&["inspect", "--json", &token], "", &[]).await;

    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("one JSON object");
    assert_eq!(report["verdict"]["reason"], "keys_unavailable", "{report}");
    assert!(
        report["verdict"]["message"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{report}"
    );
    assert_eq!(issuer.total_hits(), 0, "the loopback issuer was contacted");
}

#[actix_web::test]
async fn inspect_of_an_expired_token_gives_the_reason_and_exit_code_1() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let mut expired = claims(issuer.issuer());
    expired["exp"] = json!(now() - 7200);

    let output = jwtgate(
        &["inspect", "--allow-private-addresses", &key.sign(&expired)],
        "",
        &[],
    )
    .await;

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(report.contains("INVALID  expired"), "{report}");
    assert!(report.contains("(expired 2h 0m ago)"), "{report}");
    assert!(
        report.contains("kid          rsa-1"),
        "the key is still shown:\n{report}"
    );
}

#[actix_web::test]
async fn inspect_with_a_config_applies_its_audiences() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let config = config_trusting("inspect-aud", issuer.issuer(), &["another-api"]);

    let output = jwtgate(
        &["inspect", "--config", config.to_str().unwrap(), "--json"],
        "",
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "TOKEN is required");

    let token = key.sign(&claims(issuer.issuer()));
    let output = inspect_json_with_config(&token, &config).await;

    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["verdict"]["reason"], "wrong_audience");
    assert_eq!(report["trust"]["source"], "config");
}

#[actix_web::test]
async fn inspect_with_a_config_never_contacts_an_issuer_it_does_not_trust() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let config = config_trusting("inspect-untrusted", "https://id.example", &["my-api"]);
    let token = key.sign(&claims(issuer.issuer()));

    let output = inspect_with_config(&token, &config).await;

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains("not trusted by this configuration: nothing was fetched"),
        "{report}"
    );
    assert!(report.contains("INVALID  untrusted_issuer"), "{report}");
    assert_eq!(issuer.total_hits(), 0);
}

async fn inspect_with_config(token: &str, config: &std::path::Path) -> Output {
    jwtgate(
        &["inspect", token, "--config", config.to_str().unwrap()],
        "",
        &[],
    )
    .await
}

#[actix_web::test]
async fn inspect_explains_an_unreachable_issuer_in_one_line() {
    let token = DevKey::rs256().sign(&claims(DEAD_ISSUER));

    let output = jwtgate(&["inspect", "--allow-private-addresses", &token], "", &[]).await;

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    let verdict: Vec<&str> = report
        .lines()
        .skip_while(|l| *l != "Verdict")
        .skip(1)
        .collect();
    assert_eq!(verdict.len(), 1, "{report}");
    assert!(
        verdict[0].contains("INVALID  keys_unavailable") && verdict[0].contains(DEAD_ISSUER),
        "{report}"
    );
    let errors = stderr(&output);
    assert!(
        !errors.contains("panicked") && !errors.contains("backtrace"),
        "{errors}"
    );
}

#[actix_web::test]
async fn inspect_of_garbage_says_malformed_and_colours_only_when_asked() {
    let output = jwtgate(&["inspect", "not-a-token", "--color", "always"], "", &[]).await;

    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(report.contains("malformed"), "{report}");
    assert!(report.contains("\x1b[1;31mINVALID\x1b[0m"), "{report:?}");
}
