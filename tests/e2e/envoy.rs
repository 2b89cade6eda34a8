//! `deploy/envoy/envoy.yaml` with Envoy's `ext_authz` HTTP filter.

use std::process::Command;

use crate::spec::{Proxy, Refused, proxy_protects_the_upstream_as_documented};
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
    let jwtgate = ("port_value: 8080", backends.jwtgate.port);
    let (envoy, port) = start_envoy(&scratch, &backends, "envoy.yaml", jwtgate);
    let proxy = Proxy {
        name: format!("envoy (refuse_identity_headers = {refuse_identity_headers})"),
        forwards_jwtgate_401_body: true,
        refused: Refused::None,
        names_keys_unavailable: false,
        status_while_jwtgate_is_down: 503,
    };
    proxy_protects_the_upstream_as_documented(proxy, envoy, port, &mut backends).await;
}

/// Envoy running `deploy/envoy/<file>` in front of `backends`, its jwtgate address rewritten from
/// `jwtgate.0` (`port_value: N` as the file writes it) to port `jwtgate.1`; the process and its
/// listener's port.
pub(crate) fn start_envoy(
    scratch: &Scratch,
    backends: &Backends,
    file: &str,
    jwtgate: (&str, u16),
) -> (Process, u16) {
    let port = free_port();
    let (jwtgate_in_file, jwtgate_port) = jwtgate;
    // `port_value: 9001 }` keeps its brace, `port_value: 8080` has none: keep what follows.
    let jwtgate_rewritten = jwtgate_in_file.replacen(
        jwtgate_in_file
            .trim_start_matches("port_value: ")
            .trim_end_matches(" }"),
        &jwtgate_port.to_string(),
        1,
    );
    let config = deploy_file(
        &format!("envoy/{file}"),
        &[
            ("port_value: 9901", format!("port_value: {}", free_port())),
            (
                "address: 0.0.0.0, port_value: 8000",
                format!("address: 127.0.0.1, port_value: {port}"),
            ),
            (jwtgate_in_file, jwtgate_rewritten),
            (
                "port_value: 3000",
                format!("port_value: {}", backends.echo.port),
            ),
        ],
    );
    let config = scratch.write(file, &config);
    let mut command = Command::new(executable("envoy", &[]));
    command
        .arg("-c")
        .arg(&config)
        .args(["--concurrency", "1", "--disable-hot-restart"])
        .args(["--log-level", "warn"]);
    (
        Process::spawn(file.trim_end_matches(".yaml"), command, scratch),
        port,
    )
}
