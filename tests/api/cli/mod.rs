//! The command line, for the person at the terminal: `inspect`, `check-config`, `dev`
//! (each in its own file), completions, `--help`, `--version`, and the startup line per issuer.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde_json::{Value, json};

use jwtgate::dev::{DevIssuer, DevKey, claims, now};

mod check_config;
mod dev;
mod inspect;

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
