//! The decision log, read from the real binary's JSON log: one line per decision, with the
//! fields an operator joins and filters on, and never a token or a signature.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use jwtgate::dev::{DevIssuer, DevKey, claims};
use serde_json::Value;

use crate::binary::{serve, write_config};

/// Reads the child's JSON log on a thread; returns the port from "jwtgate listening" and the
/// channel of the remaining lines.
pub(crate) fn listening(
    child: &mut std::process::Child,
) -> (u16, mpsc::Receiver<String>, Vec<String>) {
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("jwtgate logs its port");
        let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
        seen.push(line);
        if entry["message"] == "jwtgate listening" {
            return (entry["port"].as_u64().unwrap() as u16, lines, seen);
        }
    }
}

/// The gRPC listener's port, from the lines [`listening`] saw (it is logged before "jwtgate
/// listening").
pub(crate) fn grpc_port(seen: &[String]) -> u16 {
    let port = seen
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| entry["message"] == "jwtgate gRPC ext_authz listening")
        .and_then(|entry| entry["port"].as_u64())
        .expect("the gRPC port is logged before \"jwtgate listening\"");
    u16::try_from(port).expect("a port")
}

/// The child process, killed if the test ends without stopping it (a failed assertion must not
/// leave a server running, holding the test harness's output open).
pub(crate) struct Served(pub(crate) std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// How long jwtgate may take to exit after SIGTERM (`drain_secs = 0`) before a test fails.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// SIGTERM, then the exit status 0 within [`EXIT_TIMEOUT`] (else the child is killed and the
/// test fails, rather than hanging).
///
/// This blocks the test's thread: the test's runtime (its issuer, its clients' connections)
/// stands still meanwhile. A test that still holds a gRPC connection uses [`stop_serving`].
pub(crate) fn stop(child: &mut std::process::Child) {
    terminate(child);
    let deadline = std::time::Instant::now() + EXIT_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("jwtgate did not exit within {EXIT_TIMEOUT:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// [`stop`] without blocking the test's runtime, so that connections the test still holds can
/// answer the server's goodbye (an HTTP/2 server's graceful shutdown pings its peers and waits
/// for the answer).
pub(crate) async fn stop_serving(child: &mut std::process::Child) {
    terminate(child);
    let exited = tokio::time::timeout(EXIT_TIMEOUT, async {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    match exited {
        Ok(status) => assert_eq!(status.code(), Some(0)),
        Err(_) => {
            let _ = child.kill();
            panic!("jwtgate did not exit within {EXIT_TIMEOUT:?} of SIGTERM");
        }
    }
}

fn terminate(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The child's log lines, read on a thread, as an async channel: a test waits for a line with a
/// timeout while its runtime keeps serving (its issuer answers jwtgate's key fetch meanwhile).
pub(crate) fn async_lines(
    lines: mpsc::Receiver<String>,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in lines {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A configuration logging every decision in JSON, the general level at warn (the decision log is
/// asked for on its own), trusting `issuer`, with these `sections` added.
pub(crate) fn all_decisions_config(
    name: &str,
    issuer: &DevIssuer,
    sections: &str,
) -> std::path::PathBuf {
    write_config(
        name,
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n{sections}\
             [log]\nformat = \"json\"\nlevel = \"warn,jwtgate::startup=info\"\ndecisions = \"all\"\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        ),
    )
}

/// The next `count` decision lines (waiting at most 10 s for each line); every line read is
/// added to `seen`.
fn decision_lines(
    lines: &mpsc::Receiver<String>,
    count: usize,
    seen: &mut Vec<String>,
) -> Vec<Value> {
    let mut decisions = Vec::new();
    while decisions.len() < count {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("one decision line per request");
        let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
        if entry["message"] == "decision" {
            decisions.push(entry);
        }
        seen.push(line);
    }
    decisions
}

/// The decision line with this request id.
fn by_request_id<'d>(decisions: &'d [Value], id: &str) -> &'d Value {
    decisions
        .iter()
        .find(|d| d["request_id"] == id)
        .unwrap_or_else(|| panic!("no decision for {id}: {decisions:#?}"))
}

/// The line of the first decision on a valid token of `alice` (not from the cache).
pub(crate) fn assert_first_allow_line(line: &Value, transport: &str, issuer: &str, kid: &str) {
    assert_eq!(line["target"], "jwtgate::decision");
    assert_eq!(line["level"], "INFO");
    assert!(line["timestamp"].is_string());
    assert_eq!(line["transport"], transport);
    assert_eq!(line["outcome"], "allow");
    assert_eq!(line["status"], 200);
    assert_eq!(line["reason"], "ok");
    assert_eq!(line["policy"], issuer);
    assert_eq!(line["issuer"], issuer);
    assert_eq!(line["sub"], "alice");
    assert_eq!(line["kid"], kid);
    assert_eq!(line["token_cache_hit"], false);
    assert!(line["latency_us"].as_u64().is_some());
}

#[actix_web::test]
async fn every_decision_is_one_json_line_with_its_request_id_and_none_carries_a_token() {
    // Arrange: decisions on, the general level at warn (the decision log is asked for on its own).
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let path = all_decisions_config("decision-log.toml", &issuer, "");
    let mut served = Served(serve(&path));
    let child = &mut served.0;
    let (port, lines, mut seen) = listening(child);
    let token = key.sign(&claims(issuer.issuer()));
    let forged = DevKey::rs256_rotated()
        .with_kid(key.kid())
        .sign(&claims(issuer.issuer()));
    let mut expired_claims = claims(issuer.issuer());
    expired_claims["exp"] = (jwtgate::dev::now() - 3600).into();
    let expired = key.sign(&expired_claims);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    // (request headers, status, the request id it must echo)
    type Request<'a> = (Vec<(&'a str, String)>, u16, &'a str);
    let requests: Vec<Request> = vec![
        (
            vec![
                ("Authorization", format!("Bearer {token}")),
                ("X-Request-Id", "req-allow".into()),
            ],
            200,
            "req-allow",
        ),
        (
            vec![
                ("Authorization", format!("Bearer {token}")),
                ("traceparent", traceparent.into()),
            ],
            200,
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        (
            vec![
                ("Authorization", format!("Bearer {forged}")),
                ("X-Request-Id", "req-forged".into()),
            ],
            401,
            "req-forged",
        ),
        (
            vec![
                ("Authorization", format!("Bearer {expired}")),
                ("X-Request-Id", "req-expired".into()),
            ],
            401,
            "req-expired",
        ),
        (
            vec![("X-Request-Id", "req-missing".into())],
            401,
            "req-missing",
        ),
        (
            vec![
                ("Authorization", format!("Bearer {token}")),
                ("X-Auth-Subject", "admin".into()),
                ("X-Request-Id", "req-header".into()),
            ],
            403,
            "req-header",
        ),
    ];

    // Act
    let client = awc::Client::default();
    let mut generated = None;
    for (headers, status, echoed) in &requests {
        let mut request = client.get(format!("http://127.0.0.1:{port}/verify"));
        for (name, value) in headers {
            request = request.insert_header((*name, value.as_str()));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{echoed}");
        let id = response.headers().get("x-request-id").unwrap();
        assert_eq!(id.to_str().unwrap(), *echoed, "the request id is echoed");
    }
    let response = client
        .get(format!("http://127.0.0.1:{port}/verify"))
        .send()
        .await
        .unwrap();
    if let Some(id) = response.headers().get("x-request-id") {
        generated = Some(id.to_str().unwrap().to_string());
    }
    let decisions = decision_lines(&lines, requests.len() + 1, &mut seen);
    stop(child);
    seen.extend(lines.iter());

    // Assert
    let by_id = |id: &str| by_request_id(&decisions, id);
    assert_first_allow_line(by_id("req-allow"), "http", issuer.issuer(), key.kid());
    let cached = by_id("4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(cached["token_cache_hit"], true, "{cached}");
    let forged_line = by_id("req-forged");
    assert_eq!(forged_line["outcome"], "deny");
    assert_eq!(forged_line["reason"], "bad_signature");
    assert_eq!(forged_line["status"], 401);
    assert_eq!(forged_line["issuer"], issuer.issuer());
    assert_eq!(forged_line["unverified_kid"], key.kid());
    assert!(
        forged_line.get("sub").is_none(),
        "no sub from an unverified token"
    );
    assert_eq!(by_id("req-expired")["reason"], "expired");
    let missing = by_id("req-missing");
    assert_eq!(missing["reason"], "missing_token");
    assert!(missing.get("issuer").is_none());
    assert_eq!(by_id("req-header")["reason"], "forged_identity_header");
    assert_eq!(by_id("req-header")["status"], 403);
    let generated = generated.expect("a generated request id is echoed");
    assert_eq!(generated.len(), 32);
    by_id(&generated);
    for line in &seen {
        for secret in [
            token.as_str(),
            forged.as_str(),
            expired.as_str(),
            token.rsplit('.').next().unwrap(),
            forged.rsplit('.').next().unwrap(),
            expired.rsplit('.').next().unwrap(),
            token.split('.').nth(1).unwrap(),
            "alice@example.com",
        ] {
            assert!(
                !line.contains(secret),
                "a log line leaks token material: {line}"
            );
        }
    }
}

#[actix_web::test]
async fn decisions_denied_logs_refusals_only_and_off_logs_none() {
    for (mode, expected) in [("denied", vec!["deny"]), ("off", vec![])] {
        let key = DevKey::rs256();
        let issuer = DevIssuer::serving(&[&key]).await;
        let path = write_config(
            &format!("decision-log-{mode}.toml"),
            &format!(
                "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n\
                 [log]\nformat = \"json\"\ndecisions = \"{mode}\"\n\
                 [fetch]\nhttps_only = false\nallow_private_addresses = true\n\
                 [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
                issuer.issuer()
            ),
        );
        let mut served = Served(serve(&path));
        let child = &mut served.0;
        let (port, lines, _) = listening(child);
        let token = key.sign(&claims(issuer.issuer()));
        let client = awc::Client::default();
        for bearer in [Some(token.as_str()), None] {
            let mut request = client.get(format!("http://127.0.0.1:{port}/verify"));
            if let Some(t) = bearer {
                request = request.insert_header(("Authorization", format!("Bearer {t}")));
            }
            request.send().await.unwrap();
        }
        // The stop is logged after both answers: every decision line is in by then.
        stop(child);
        let outcomes: Vec<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .filter(|e| e["message"] == "decision")
            .map(|e| e["outcome"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(outcomes, expected as Vec<&str>, "decisions = {mode}");
    }
}

#[actix_web::test]
async fn in_report_mode_a_would_be_refusal_is_logged_as_would_deny_with_status_200() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let path = write_config(
        "decision-log-report.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n\
             [log]\nformat = \"json\"\n[verify]\nmode = \"report\"\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        ),
    );
    let mut served = Served(serve(&path));
    let child = &mut served.0;
    let (port, lines, _) = listening(child);
    let mut expired = claims(issuer.issuer());
    expired["exp"] = (jwtgate::dev::now() - 3600).into();
    let expired = key.sign(&expired);

    let response = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}/verify"))
        .insert_header(("Authorization", format!("Bearer {expired}")))
        .insert_header(("X-Request-Id", "req-report"))
        .send()
        .await
        .unwrap();
    stop(child);

    assert_eq!(response.status().as_u16(), 200);
    let decision = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|e| e["message"] == "decision")
        .expect("a decision line");
    assert_eq!(decision["request_id"], "req-report");
    assert_eq!(decision["outcome"], "would_deny");
    assert_eq!(decision["status"], 200);
    assert_eq!(decision["reason"], "expired");
}

/// A line names the policy that applied whatever the outcome: the report-mode policy that let a
/// would-be refusal through, the policy whose requirement refused a token.
#[actix_web::test]
async fn a_decision_line_names_the_policy_that_applied_when_it_refused_too() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let path = all_decisions_config(
        "decision-policy.toml",
        &issuer,
        "[policies.legacy]\nmode = \"report\"\n[policies.strict]\nscopes = [\"admin\"]\n",
    );
    let mut served = Served(serve(&path));
    let child = &mut served.0;
    let (port, lines, _) = listening(child);
    let bearer = format!("Bearer {}", key.sign(&claims(issuer.issuer())));
    let client = awc::Client::default();

    let legacy = client
        .get(format!("http://127.0.0.1:{port}/policy/legacy"))
        .insert_header(("X-Request-Id", "req-legacy"))
        .send()
        .await
        .unwrap();
    let strict = client
        .get(format!("http://127.0.0.1:{port}/policy/strict"))
        .insert_header(("X-Request-Id", "req-strict"))
        .insert_header(("Authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    let decisions = decision_lines(&lines, 2, &mut Vec::new());
    stop(child);

    let by_id = |id: &str| by_request_id(&decisions, id);
    assert_eq!(legacy.status().as_u16(), 200, "report mode lets it through");
    assert_eq!(by_id("req-legacy")["outcome"], "would_deny");
    assert_eq!(by_id("req-legacy")["policy"], "legacy");
    assert_eq!(strict.status().as_u16(), 403);
    assert_eq!(by_id("req-strict")["reason"], "insufficient_scope");
    assert_eq!(by_id("req-strict")["policy"], "strict");
}
