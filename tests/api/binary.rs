//! The `jwtgate` binary itself: command line, configuration errors, and what it logs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jwtgate::dev::{DevIssuer, DevKey, claims};

pub(crate) fn write_config(name: &str, toml: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jwtgate-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, toml).unwrap();
    path
}

/// Starts `jwtgate --config PATH` (RUST_LOG unset) with its log on a pipe.
pub(crate) fn serve(config: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn an_invalid_configuration_stops_startup_with_exit_code_1_and_names_the_key() {
    let path = write_config(
        "bad.toml",
        "[cache]\nmax_issuers = 0\n[[issuers]]\nissuer = \"https://a.example\"\n",
    );

    let output = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cache.max_issuers") && stderr.contains("bad.toml"),
        "{stderr}"
    );
}

#[test]
fn a_usage_error_exits_with_code_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[actix_web::test]
async fn the_binary_serves_and_its_debug_json_logs_never_contain_a_token_or_claims() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let path = write_config(
        "json-logs.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n[log]\nformat = \"json\"\nlevel = \"debug\"\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\n[[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        ),
    );
    let mut child = serve(&path);
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let port = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("jwtgate logs its port");
        let entry: serde_json::Value = serde_json::from_str(&line).expect("every log line is JSON");
        seen.push(line.clone());
        if entry["message"] == "jwtgate listening" {
            break entry["port"].as_u64().unwrap();
        }
    };

    let token = key.sign(&claims(issuer.issuer()));
    let forged = DevKey::rs256_rotated()
        .with_kid(key.kid())
        .sign(&claims(issuer.issuer()));
    let client = awc::Client::default();
    for (bearer, status) in [(&token, 200), (&forged, 401)] {
        let response = client
            .get(format!("http://127.0.0.1:{port}/verify"))
            .insert_header(("Authorization", format!("Bearer {bearer}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
    }
    // An orderly stop writes out the lines still batched ([log] flush_interval_ms).
    crate::decision_log::stop(&mut child);
    seen.extend(lines.iter());

    assert!(
        seen.iter().any(|l| l.contains("token rejected")),
        "the rejection is logged at debug"
    );
    for line in &seen {
        serde_json::from_str::<serde_json::Value>(line).expect("every log line is JSON");
        for secret in [
            token.as_str(),
            forged.as_str(),
            token.rsplit('.').next().unwrap(),
            "alice@example.com",
        ] {
            assert!(
                !line.contains(secret),
                "a log line leaks token material: {line}"
            );
        }
    }
}

#[test]
fn sigterm_stops_the_binary_cleanly_after_draining() {
    let path = write_config(
        "sigterm.toml",
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n[log]\nformat = \"json\"\n\
         [[issuers]]\nissuer = \"https://issuer.invalid\"\naudiences = [\"a\"]\n",
    );
    let mut child = serve(&path);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = stderr
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("jwtgate listening"));
    assert!(listening, "jwtgate started");

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = stderr.map_while(Result::ok).collect();

    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(rest.iter().any(|l| l.contains("SIGTERM")), "{rest:?}");
}

/// HTTP/2's graceful close waits for each client's acknowledgement. Here the client cannot give
/// one (its runtime is the test's, blocked in `stop`): the gRPC listener gives up after
/// `shutdown_timeout_secs` instead of keeping the process alive forever.
#[actix_web::test]
async fn a_grpc_client_that_never_says_goodbye_delays_sigterm_by_the_shutdown_timeout_only() {
    let path = write_config(
        "sigterm-grpc.toml",
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\nshutdown_timeout_secs = 1\n\
         [grpc]\nbind = \"127.0.0.1:0\"\n[log]\nformat = \"json\"\n\
         [[issuers]]\nissuer = \"https://issuer.invalid\"\naudiences = [\"a\"]\n",
    );
    let mut served = crate::decision_log::Served(serve(&path));
    let child = &mut served.0;
    let (_, lines, seen) = crate::decision_log::listening(child);
    let port = crate::decision_log::grpc_port(&seen);
    let mut client = crate::grpc::connect(port).await;
    crate::grpc::check_within(&mut client, crate::grpc::check_request("/", &[], &[])).await;

    crate::decision_log::stop(child);

    let rest: Vec<String> = lines.iter().collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("did not close their connections")),
        "{rest:?}"
    );
    drop(client);
}

/// A free loopback port (for the few tests that cannot read the port from the log).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `signal` to the process.
fn send_signal(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

/// A raw HTTP/1.1 GET, answered in full (the server closes the connection).
fn raw_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not.a.token\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_instead_of_panicking() {
    let config = write_config(
        "closed-pipe.toml",
        "[[issuers]]\nissuer = \"https://id.example\"\naudiences = [\"a\"]\n",
    );
    for args in [
        vec!["check-config", "--config", config.to_str().unwrap()],
        vec!["completions", "bash"],
        vec!["inspect", "--json", "not-a-token"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(output.status.code(), Some(101), "{args:?}: {stderr}");
    }
}

#[test]
fn a_service_started_with_stderr_closed_serves_and_never_writes_logs_to_a_client() {
    let port = free_port();
    let config = write_config(
        "stderr-closed.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nworkers = 1\ndrain_secs = 0\n\
             [log]\nformat = \"json\"\nlevel = \"debug\"\n\
             [[issuers]]\nissuer = \"https://issuer.invalid\"\naudiences = [\"a\"]\n"
        ),
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" --config \"$1\" 2>&-")
        .arg(env!("CARGO_BIN_EXE_jwtgate"))
        .arg(&config)
        .env_remove("RUST_LOG")
        .spawn()
        .unwrap();
    let mut answer = None;
    for _ in 0..400 {
        answer = raw_get(port, "/verify");
        if answer.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }

    let answer = answer.expect("jwtgate answers with stderr closed");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        !answer.contains("\"level\""),
        "a log line reached a client: {answer}"
    );
    send_signal(&child, "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn sighup_is_logged_and_the_service_keeps_serving() {
    let path = write_config(
        "sighup.toml",
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n[log]\nformat = \"json\"\n\
         [[issuers]]\nissuer = \"https://issuer.invalid\"\naudiences = [\"a\"]\n",
    );
    let mut child = serve(&path);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = stderr
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
            (entry["message"] == "jwtgate listening").then(|| entry["port"].as_u64())?
        })
        .expect("jwtgate started") as u16;

    send_signal(&child, "HUP");
    let logged = stderr
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("SIGHUP"));

    assert!(logged, "SIGHUP is logged");
    let answer = raw_get(port, "/healthz").expect("still serving after SIGHUP");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    send_signal(&child, "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
