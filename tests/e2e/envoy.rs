//! `deploy/envoy/envoy.yaml` with Envoy's `ext_authz` HTTP filter.

use std::process::Command;

use crate::spec::{Proxy, proxy_protects_the_upstream_as_documented};
use crate::stack::{Backends, Process, Scratch, deploy_file, executable, free_port};

#[actix_web::test]
async fn envoy_ext_authz_protects_the_upstream_as_documented() {
    protects_the_upstream(false).await;
}

#[actix_web::test]
async fn envoy_ext_authz_protects_the_upstream_with_refuse_identity_headers_on() {
    protects_the_upstream(true).await;
}

/// Runs every case of the spec through the example, jwtgate's `refuse_identity_headers` as given.
async fn protects_the_upstream(refuse_identity_headers: bool) {
    let scratch = Scratch::new("envoy");
    let mut backends = Backends::start(&scratch, refuse_identity_headers).await;
    let port = free_port();
    let config = deploy_file(
        "envoy/envoy.yaml",
        &[
            ("port_value: 9901", format!("port_value: {}", free_port())),
            (
                "address: 0.0.0.0, port_value: 8000",
                format!("address: 127.0.0.1, port_value: {port}"),
            ),
            (
                "port_value: 8080",
                format!("port_value: {}", backends.jwtgate.port),
            ),
            (
                "port_value: 3000",
                format!("port_value: {}", backends.echo.port),
            ),
        ],
    );
    let config = scratch.write("envoy.yaml", &config);
    let mut command = Command::new(executable("envoy", &[]));
    command
        .arg("-c")
        .arg(&config)
        .args(["--concurrency", "1", "--disable-hot-restart"])
        .args(["--log-level", "warn"]);
    let envoy = Process::spawn("envoy", command, &scratch);
    let proxy = Proxy {
        name: format!("envoy (refuse_identity_headers = {refuse_identity_headers})"),
        forwards_jwtgate_401_body: true,
        refuses_forged_identity_headers: false,
        names_keys_unavailable: false,
        status_while_jwtgate_is_down: 503,
    };
    proxy_protects_the_upstream_as_documented(proxy, envoy, port, &mut backends).await;
}
