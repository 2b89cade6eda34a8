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

/// SIGTERM, then the exit status 0.
pub(crate) fn stop(child: &mut std::process::Child) {
    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[actix_web::test]
async fn every_decision_is_one_json_line_with_its_request_id_and_none_carries_a_token() {
    // Arrange: decisions on, the general level at warn (the decision log is asked for on its own).
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let path = write_config(
        "decision-log.toml",
        &format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n\
             [log]\nformat = \"json\"\nlevel = \"warn,jwtgate::startup=info\"\ndecisions = \"all\"\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        ),
    );
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
    let mut decisions: Vec<Value> = Vec::new();
    while decisions.len() < requests.len() + 1 {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("one decision line per request");
        let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
        if entry["message"] == "decision" {
            decisions.push(entry);
        }
        seen.push(line);
    }
    stop(child);
    seen.extend(lines.iter());

    // Assert
    let by_id = |id: &str| {
        decisions
            .iter()
            .find(|d| d["request_id"] == id)
            .unwrap_or_else(|| panic!("no decision for {id}: {decisions:#?}"))
    };
    let allow = by_id("req-allow");
    assert_eq!(allow["target"], "jwtgate::decision");
    assert_eq!(allow["level"], "INFO");
    assert!(allow["timestamp"].is_string());
    assert_eq!(allow["transport"], "http");
    assert_eq!(allow["outcome"], "allow");
    assert_eq!(allow["status"], 200);
    assert_eq!(allow["reason"], "ok");
    assert_eq!(allow["policy"], issuer.issuer());
    assert_eq!(allow["issuer"], issuer.issuer());
    assert_eq!(allow["sub"], "alice");
    assert_eq!(allow["kid"], key.kid());
    assert_eq!(allow["token_cache_hit"], false);
    assert!(allow["latency_us"].as_u64().is_some());
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
