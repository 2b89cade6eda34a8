//! `deploy/traefik/traefik.yml` and `dynamic.yml` with Traefik's `ForwardAuth` middleware.

use std::process::Command;

use crate::spec::{Proxy, Refused, proxy_protects_the_upstream_as_documented};
use crate::stack::{Backends, Process, Scratch, deploy_file, executable, free_port};

#[actix_web::test]
async fn traefik_forward_auth_protects_the_upstream_as_documented() {
    protects_the_upstream(false).await;
}

#[actix_web::test]
async fn traefik_forward_auth_protects_the_upstream_with_refuse_identity_headers_on() {
    protects_the_upstream(true).await;
}

/// Runs every case of the spec through the example, jwtgate's `refuse_identity_headers` as given.
async fn protects_the_upstream(refuse_identity_headers: bool) {
    let scratch = Scratch::new("traefik");
    let mut backends = Backends::start(&scratch, refuse_identity_headers).await;
    let port = free_port();
    let dynamic = deploy_file(
        "traefik/dynamic.yml",
        &[
            (
                "http://127.0.0.1:8080/verify",
                format!("http://127.0.0.1:{}/verify", backends.jwtgate.port),
            ),
            (
                "http://127.0.0.1:8080/policy/admin",
                format!("http://127.0.0.1:{}/policy/admin", backends.jwtgate.port),
            ),
            (
                "http://127.0.0.1:3000",
                format!("http://127.0.0.1:{}", backends.echo.port),
            ),
        ],
    );
    let dynamic = scratch.write("dynamic.yml", &dynamic);
    let static_config = deploy_file(
        "traefik/traefik.yml",
        &[
            ("\":8000\"", format!("\"127.0.0.1:{port}\"")),
            ("/etc/traefik/dynamic.yml", dynamic.display().to_string()),
        ],
    );
    let static_config = scratch.write("traefik.yml", &static_config);
    let mut command = Command::new(executable("traefik", &[]));
    command.arg(format!("--configFile={}", static_config.display()));
    let traefik = Process::spawn("traefik", command, &scratch);
    let proxy = Proxy {
        name: format!("traefik (refuse_identity_headers = {refuse_identity_headers})"),
        forwards_jwtgate_401_body: true,
        refused: Refused::None,
        names_keys_unavailable: true,
        status_while_jwtgate_is_down: 500,
    };
    proxy_protects_the_upstream_as_documented(proxy, traefik, port, &mut backends).await;
}
