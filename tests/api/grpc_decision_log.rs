//! The decision log of the gRPC listener: one line per `Check`, as over HTTP.

use std::time::Duration;

use jwtgate::dev::{DevIssuer, DevKey, claims};
use serde_json::Value;

use envoy_types::ext_authz::v3::pb::HttpResponse;
use envoy_types::pb::envoy::config::core::v3::HeaderValueOption;

use crate::binary::serve;
use crate::decision_log::{
    Served, all_decisions_config, assert_first_allow_line, async_lines, grpc_port, listening,
    stop_serving,
};
use crate::grpc::{check_request, check_within, connect};

#[actix_web::test]
async fn every_grpc_check_is_one_decision_line_with_transport_grpc_and_none_carries_a_token() {
    // Arrange: the gRPC listener on, decisions on, the general level at warn.
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let path = all_decisions_config(
        "decision-log-grpc.toml",
        &issuer,
        "[grpc]\nbind = \"127.0.0.1:0\"\n",
    );
    let mut served = Served(serve(&path));
    let child = &mut served.0;
    let (_, lines, mut seen) = listening(child);
    let grpc_port = grpc_port(&seen);
    let mut lines = async_lines(lines);
    let token = key.sign(&claims(issuer.issuer()));
    let mut expired = claims(issuer.issuer());
    expired["exp"] = (jwtgate::dev::now() - 3600).into();
    let expired = key.sign(&expired);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let calls = [
        ("grpc-allow", format!("Bearer {token}"), "x-request-id"),
        ("grpc-deny", format!("Bearer {expired}"), "x-request-id"),
        (
            "4bf92f3577b34da6a3ce929d0e0e4736",
            format!("Bearer {token}"),
            "traceparent",
        ),
    ];

    // Act: each call and wait bounded, so that a listener that never answers fails the test.
    let within = Duration::from_secs(10);
    let mut client = connect(grpc_port).await;
    let mut answers = Vec::new();
    for (id, authorization, id_header) in &calls {
        let id_value = if *id_header == "traceparent" {
            traceparent
        } else {
            id
        };
        let request = check_request(
            "/app",
            &[("authorization", authorization), (id_header, id_value)],
            &[],
        );
        answers.push(check_within(&mut client, request).await);
    }
    let mut decisions: Vec<Value> = Vec::new();
    while decisions.len() < calls.len() {
        let line = tokio::time::timeout(within, lines.recv())
            .await
            .expect("one decision line per call within 10 s")
            .expect("jwtgate is still running");
        let entry: Value = serde_json::from_str(&line).expect("every log line is JSON");
        if entry["message"] == "decision" {
            decisions.push(entry);
        }
        seen.push(line);
    }
    stop_serving(child).await;
    while let Some(line) = lines.recv().await {
        if serde_json::from_str::<Value>(&line).is_ok_and(|e| e["message"] == "decision") {
            decisions.push(serde_json::from_str(&line).unwrap());
        }
        seen.push(line);
    }

    // Assert: the answers echo the request id.
    let [allowed, denied, traced] = &answers[..] else {
        panic!("three answers");
    };
    let Some(HttpResponse::OkResponse(ok)) = &allowed.http_response else {
        panic!("allowed: {allowed:?}");
    };
    let echoed = |headers: &[HeaderValueOption]| {
        headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .find(|h| h.key == "x-request-id")
            .map(|h| h.value.clone())
    };
    assert_eq!(
        echoed(&ok.response_headers_to_add).as_deref(),
        Some("grpc-allow")
    );
    let Some(HttpResponse::DeniedResponse(no)) = &denied.http_response else {
        panic!("denied: {denied:?}");
    };
    assert_eq!(echoed(&no.headers).as_deref(), Some("grpc-deny"));
    let Some(HttpResponse::OkResponse(ok)) = &traced.http_response else {
        panic!("allowed: {traced:?}");
    };
    assert_eq!(
        echoed(&ok.response_headers_to_add).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    // Exactly one line per call, with the fields of an HTTP decision.
    for (id, ..) in &calls {
        let count = decisions.iter().filter(|d| d["request_id"] == *id).count();
        assert_eq!(count, 1, "{id}: {decisions:#?}");
    }
    assert_eq!(decisions.len(), calls.len(), "{decisions:#?}");
    let by_id = |id: &str| decisions.iter().find(|d| d["request_id"] == id).unwrap();
    assert_first_allow_line(by_id("grpc-allow"), "grpc", issuer.issuer(), key.kid());
    let deny = by_id("grpc-deny");
    assert_eq!(deny["transport"], "grpc");
    assert_eq!(deny["outcome"], "deny");
    assert_eq!(deny["status"], 401);
    assert_eq!(deny["reason"], "expired");
    assert_eq!(deny["issuer"], issuer.issuer());
    assert_eq!(deny["unverified_kid"], key.kid());
    assert!(deny.get("sub").is_none(), "no sub from a refused token");
    let traced = by_id("4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(traced["transport"], "grpc");
    assert_eq!(traced["token_cache_hit"], true, "{traced}");
    for line in &seen {
        for secret in [
            token.as_str(),
            expired.as_str(),
            token.rsplit('.').next().unwrap(),
            expired.rsplit('.').next().unwrap(),
            token.split('.').nth(1).unwrap(),
        ] {
            assert!(
                !line.contains(secret),
                "a log line leaks token material: {line}"
            );
        }
    }
}
