//! `deploy/nginx/jwtgate.conf` with nginx `auth_request`.

use std::process::Command;

use serde_json::{Value, json};

use crate::spec::{Proxy, Refused, proxy_protects_the_upstream_as_documented};
use crate::stack::{
    Answer, Backends, Process, Scratch, client, deploy_file, executable, free_port, get,
};

#[actix_web::test]
async fn nginx_auth_request_protects_the_upstream_as_documented() {
    protects_the_upstream(false).await;
}

#[actix_web::test]
async fn nginx_auth_request_protects_the_upstream_with_refuse_identity_headers_on() {
    protects_the_upstream(true).await;
}

/// Runs every case of the spec through the example, jwtgate's `refuse_identity_headers` as given.
async fn protects_the_upstream(refuse_identity_headers: bool) {
    let scratch = Scratch::new("nginx");
    let mut backends = Backends::start(&scratch, refuse_identity_headers).await;
    let (nginx, port) = start_nginx(&scratch, &backends);
    let proxy = Proxy {
        name: format!("nginx (refuse_identity_headers = {refuse_identity_headers})"),
        forwards_jwtgate_401_body: false,
        refused: Refused::DashSpelled,
        names_keys_unavailable: true,
        status_while_jwtgate_is_down: 500,
    };
    proxy_protects_the_upstream_as_documented(proxy, nginx, port, &mut backends).await;
}

/// `[verify] mode = "report"` behind the shipped example, as when a route moves onto jwtgate:
/// a would-be refusal reaches the upstream with every identity header empty, a valid token with
/// its identity, and a forged identity header is still refused.
#[actix_web::test]
async fn nginx_with_jwtgate_in_report_mode_lets_would_be_refusals_through_without_an_identity() {
    let scratch = Scratch::new("nginx-report");
    let backends = Backends::start_in_mode(&scratch, false, "report").await;
    let (mut nginx, port) = start_nginx(&scratch, &backends);
    let base = format!("http://127.0.0.1:{port}");
    backends
        .wait_for_proxy(&mut nginx, &format!("{base}/"))
        .await;
    let through = |answer: &Answer| -> serde_json::Map<String, Value> {
        assert_eq!(answer.status, 200, "reaches the upstream: {}", answer.body);
        let echo = answer.json();
        let headers = echo["headers"].as_object().cloned();
        headers.unwrap_or_else(|| panic!("not the upstream's echo: {}", answer.body))
    };
    let seen = |headers: &serde_json::Map<String, Value>, name: &str| -> String {
        headers
            .get(name)
            .and_then(|v| v[0].as_str())
            .unwrap_or("")
            .to_string()
    };
    let client = client();
    let hits = backends.echo.hits();

    let valid = format!("Bearer {}", backends.issuers.valid());
    let expired = format!(
        "Bearer {}",
        backends
            .issuers
            .valid_except(json!({"exp": jwtgate::dev::now() - 3600}))
    );
    let valid_headers =
        through(&get(&client, &format!("{base}/"), &[("Authorization", &valid)]).await);
    let expired_headers =
        through(&get(&client, &format!("{base}/"), &[("Authorization", &expired)]).await);
    let missing_headers = through(&get(&client, &format!("{base}/"), &[]).await);
    let forged = get(
        &client,
        &format!("{base}/"),
        &[("Authorization", &valid), ("X-Auth-Subject", "admin")],
    )
    .await;

    assert_eq!(seen(&valid_headers, "x-auth-subject"), "alice");
    for headers in [&expired_headers, &missing_headers] {
        for name in [
            "x-auth-subject",
            "x-auth-issuer",
            "x-auth-email",
            "x-auth-roles",
        ] {
            assert_eq!(
                seen(headers, name),
                "",
                "{name} is empty on a would-be refusal"
            );
        }
    }
    assert_eq!(
        backends.echo.hits(),
        hits + 3,
        "three requests reached the upstream"
    );
    assert_eq!(
        forged.status, 403,
        "a forged identity header is refused even in report mode"
    );
    assert_eq!(
        backends.echo.hits(),
        hits + 3,
        "and never reaches the upstream"
    );
}

/// nginx running `deploy/nginx/jwtgate.conf` in front of `backends`; its process and port.
fn start_nginx(scratch: &Scratch, backends: &Backends) -> (Process, u16) {
    let port = free_port();
    let site = deploy_file(
        "nginx/jwtgate.conf",
        &[
            (
                "server 127.0.0.1:8080;",
                format!("server 127.0.0.1:{};", backends.jwtgate.port),
            ),
            (
                "server 127.0.0.1:3000;",
                format!("server 127.0.0.1:{};", backends.echo.port),
            ),
            ("listen 8000;", format!("listen 127.0.0.1:{port};")),
        ],
    );
    let site = scratch.write("jwtgate.conf", &site);
    // The smallest main configuration around the example, runnable without root: one process in
    // the foreground, every path inside the scratch directory.
    let dir = scratch.dir.display();
    let main = scratch.write(
        "nginx.conf",
        &format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
             error_log {dir}/nginx-error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  \
             proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  \
             uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  include {};\n}}\n",
            site.display()
        ),
    );
    let mut command = Command::new(executable("nginx", &["/usr/sbin"]));
    command
        .arg("-p")
        .arg(&scratch.dir)
        .arg("-e")
        .arg(scratch.dir.join("nginx-error.log"))
        .arg("-c")
        .arg(&main);
    (Process::spawn("nginx", command, scratch), port)
}
