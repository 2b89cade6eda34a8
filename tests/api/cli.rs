//! The command line, for the person at the terminal: `inspect`, `check-config`, `dev`,
//! completions, `--help`, `--version`, and the startup line per issuer.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde_json::{Value, json};

use jwtgate::dev::{DevIssuer, DevKey, claims, now};

/// An issuer URL nothing listens on: port 1 on loopback refuses connections at once.
const DEAD_ISSUER: &str = "http://127.0.0.1:1";

/// Runs the jwtgate binary to completion off the test's runtime thread (the in-process issuer
/// keeps serving meanwhile), feeding `stdin`.
pub async fn jwtgate(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stdin = stdin.to_string();
    actix_web::rt::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .args(&args)
            .envs(env)
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// A child process that is killed when the test ends, even when it fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jwtgate-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn write_config(name: &str, toml: &str) -> PathBuf {
    let path = temp_dir(name).join("jwtgate.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// A config trusting `issuer` (plain http on loopback allowed) with these audiences.
fn config_trusting(name: &str, issuer: &str, audiences: &[&str]) -> PathBuf {
    write_config(
        name,
        &format!(
            "[fetch]\nhttps_only = false\nallow_private_addresses = true\ntimeout_secs = 2\n\
             [[issuers]]\nissuer = \"{issuer}\"\naudiences = {}\n",
            json!(audiences)
        ),
    )
}

/// `jwtgate check-config --config <config> <extra>`.
async fn check_config(config: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["check-config", "--config", config.to_str().unwrap()];
    args.extend(extra);
    jwtgate(&args, "", env).await
}

fn thumbprint(key: &DevKey) -> String {
    let jwk: Jwk = serde_json::from_value(key.jwk()).unwrap();
    jwk.thumbprint(ThumbprintHash::SHA256).unwrap()
}

#[actix_web::test]
async fn version_names_the_crypto_backend() {
    let output = jwtgate(&["--version"], "", &[]).await;

    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("jwtgate {} (crypto: aws_lc_rs)", env!("CARGO_PKG_VERSION"))
    );
}

#[actix_web::test]
async fn help_lists_every_command_with_examples_and_exit_codes() {
    let output = jwtgate(&["--help"], "", &[]).await;

    let help = stdout(&output);
    for text in [
        "check-config",
        "inspect",
        "dev",
        "completions",
        "--config",
        "Examples:",
        "Exit codes: 0 ok, 1 invalid token or configuration, 2 usage error",
    ] {
        assert!(help.contains(text), "{text:?} missing from --help:\n{help}");
    }
    let inspect = stdout(&jwtgate(&["inspect", "--help"], "", &[]).await);
    assert!(
        inspect.contains("TOKEN|-") && inspect.contains("--json"),
        "{inspect}"
    );
}

#[actix_web::test]
async fn completions_are_generated_for_each_shell_and_bash_accepts_them() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = jwtgate(&["completions", shell], "", &[]).await;
        assert!(output.status.success(), "{shell}");
        let script = stdout(&output);
        assert!(
            script.contains("check-config") && script.contains("inspect"),
            "{shell}"
        );
    }
    let bash = stdout(&jwtgate(&["completions", "bash"], "", &[]).await);
    let path = temp_dir("completions").join("jwtgate.bash");
    std::fs::write(&path, bash).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));
}

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

/// `jwtgate inspect <token> --config <config> --json`.
pub async fn inspect_json_with_config(token: &str, config: &std::path::Path) -> Output {
    jwtgate(
        &[
            "inspect",
            token,
            "--config",
            config.to_str().unwrap(),
            "--json",
        ],
        "",
        &[],
    )
    .await
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

#[test]
fn dev_stops_on_sigint_and_sigterm() {
    for signal in ["INT", "TERM"] {
        let mut child = Running(
            Command::new(env!("CARGO_BIN_EXE_jwtgate"))
                .args(["dev", "--bind", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let out = BufReader::new(child.0.stdout.take().unwrap());
        let ready = out
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("jwtgate dev --sub"));
        assert!(ready, "the banner is printed");

        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.0.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());

        let mut exited = None;
        for _ in 0..200 {
            exited = child.0.try_wait().unwrap();
            if exited.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert_eq!(
            exited.and_then(|s| s.code()),
            Some(0),
            "SIG{signal} stops jwtgate dev within 5 s"
        );
    }
}

#[actix_web::test]
async fn dev_prints_a_token_and_curl_lines_that_work_and_leaves_nothing_behind() {
    let workdir = temp_dir("dev");
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .args([
                "dev",
                "--bind",
                "127.0.0.1:0",
                "--alg",
                "ES256",
                "--sub",
                "carol",
            ])
            .current_dir(&workdir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = mpsc::channel::<String>();
    let out = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut banner = Vec::new();
    while !banner
        .last()
        .is_some_and(|l: &String| l.contains("jwtgate dev --sub"))
    {
        banner.push(
            lines
                .recv_timeout(Duration::from_secs(30))
                .expect("jwtgate dev prints its banner"),
        );
    }
    let find = |prefix: &str| {
        banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {banner:#?}"))
    };
    let token = find("export TOKEN=");
    let verify_url = find("curl -i -H \"Authorization: Bearer $TOKEN\" ");
    let key_url = find("curl -H \"Authorization: Bearer $TOKEN\" ");
    let mint_url = find("curl -s ").trim_matches('\'').to_string();
    assert!(
        banner
            .iter()
            .any(|l| l.contains("jwtgate inspect --allow-private-addresses \"$TOKEN\""))
    );
    let inspected = jwtgate(&["inspect", "--allow-private-addresses", &token], "", &[]).await;
    assert_eq!(
        inspected.status.code(),
        Some(0),
        "the printed inspect line works"
    );

    let client = awc::Client::default();
    let get = |url: String, token: String| {
        let request = client
            .get(url)
            .insert_header(("Authorization", format!("Bearer {token}")));
        async move {
            let mut response = request.send().await.unwrap();
            let body = response.body().await.unwrap();
            (response.status().as_u16(), response.headers().clone(), body)
        }
    };
    let (status, headers, _) = get(verify_url.clone(), token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-auth-subject").unwrap(), "carol");
    let (status, _, body) = get(key_url, token).await;
    assert_eq!(status, 200);
    let key: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(key["jwk"]["crv"], "P-256");
    let (status, _, minted) = get(mint_url, String::new()).await;
    assert_eq!(status, 200);
    let minted = String::from_utf8(minted.to_vec()).unwrap();
    let (status, headers, _) = get(verify_url, minted.trim().to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-auth-subject").unwrap(), "bob");

    drop(child);
    assert_eq!(
        std::fs::read_dir(&workdir).unwrap().count(),
        0,
        "jwtgate dev writes nothing"
    );
}

#[actix_web::test]
async fn startup_logs_one_line_per_issuer_with_its_kids_or_why_it_has_none() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let config = write_config(
        "startup-lines",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n[log]\nformat = \"json\"\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\ntimeout_secs = 2\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"a\"]\n[[issuers]]\nissuer = \"{DEAD_ISSUER}\"\naudiences = [\"a\"]\n",
            issuer.issuer()
        ),
    );
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let err = child.0.stderr.take().unwrap();
    // Read the log off the runtime thread: the in-process issuer must keep answering.
    let reader = actix_web::rt::task::spawn_blocking(move || {
        let (mut loaded, mut failed) = (None, None);
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
            let message = entry["message"].as_str().unwrap_or_default();
            if message == "issuer keys loaded" {
                loaded = Some(entry);
            } else if message.starts_with("issuer keys not loaded") {
                failed = Some(entry);
            }
            if loaded.is_some() && failed.is_some() {
                break;
            }
        }
        (loaded, failed)
    });
    let (loaded, failed) = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("a startup line per issuer within 20 s")
        .unwrap();
    drop(child);

    let (loaded, failed) = (
        loaded.expect("a line for the issuer with keys"),
        failed.expect("a line for the issuer without"),
    );
    assert_eq!(loaded["issuer"], issuer.issuer());
    assert_eq!(loaded["kids"], "rsa-1");
    assert!(loaded["age_secs"].is_u64());
    assert_eq!(failed["issuer"], DEAD_ISSUER);
    assert!(
        failed["error"].as_str().unwrap().contains(DEAD_ISSUER),
        "{failed}"
    );
}

#[actix_web::test]
async fn the_dev_issuer_is_a_library_issuer_whose_tokens_jwtgate_accepts() {
    let dev = jwtgate::dev::DevIssuer::start(
        "127.0.0.1:0".parse().unwrap(),
        jsonwebtoken::Algorithm::PS256,
    )
    .unwrap();
    let settings = jwtgate::settings::Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
         [fetch]\nhttps_only = false\nallow_private_addresses = true\n\
         [verify]\nsuccess_body = true\n\
         [[issuers]]\nissuer = \"{}\"\naudiences = [\"reports\"]\n",
        dev.issuer()
    ))
    .unwrap();
    let app = crate::helpers::spawn_app(settings).await;
    let mint = |sub: &str, ttl: u64| jwtgate::dev::MintRequest {
        sub: sub.into(),
        aud: "reports".into(),
        ttl,
        scope: Some("read".into()),
    };

    let answer = app.verify(&dev.mint(&mint("erin", 60)).unwrap()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["claims"]["scope"], "read");
    assert_eq!(answer.header("x-auth-subject"), Some("erin"));
    assert!(dev.mint(&mint("erin", 0)).is_err(), "a ttl of 0 is refused");
    assert!(
        dev.mint(&mint("erin", jwtgate::dev::MAX_TTL_SECS + 1))
            .is_err()
    );

    let client = awc::Client::default();
    let mut over_http = client
        .get(dev.mint_url(&mint("frank", 0)))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status().as_u16(), 400, "/mint refuses a ttl of 0");
    let jwks: Value = client
        .get(dev.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], dev.key().kid());
    assert!(jwks["keys"][0].get("d").is_none(), "no private member");
    let _ = over_http.body().await;
    dev.stop().await;
}
