//! `deploy/envoy/envoy-grpc.yaml`: Envoy's `ext_authz` filter over gRPC to jwtgate's `[grpc]`
//! listener, with the `/admin` route's policy in `context_extensions` and no Lua filter (jwtgate
//! lists the client's identity headers in `headers_to_remove`).

use std::process::Command;

use crate::spec::{Proxy, proxy_protects_the_upstream_as_documented};
use crate::stack::{Backends, Process, Scratch, deploy_file, executable, free_port};

/// With `refuse_identity_headers` off, so that every forged spelling is removed by Envoy on
/// jwtgate's word (`headers_to_remove`) and the request still passes with jwtgate's identity.
#[actix_web::test]
async fn envoy_ext_authz_over_grpc_protects_the_upstream_as_documented() {
    let scratch = Scratch::new("envoy-grpc");
    let mut backends = Backends::start(&scratch, false).await;
    let port = free_port();
    let config = deploy_file(
        "envoy/envoy-grpc.yaml",
        &[
            ("port_value: 9901", format!("port_value: {}", free_port())),
            (
                "address: 0.0.0.0, port_value: 8000",
                format!("address: 127.0.0.1, port_value: {port}"),
            ),
            (
                "port_value: 9001 }",
                format!("port_value: {} }}", backends.jwtgate.grpc_port),
            ),
            (
                "port_value: 3000",
                format!("port_value: {}", backends.echo.port),
            ),
        ],
    );
    let config = scratch.write("envoy-grpc.yaml", &config);
    let mut command = Command::new(executable("envoy", &[]));
    command
        .arg("-c")
        .arg(&config)
        .args(["--concurrency", "1", "--disable-hot-restart"])
        .args(["--log-level", "warn"]);
    let envoy = Process::spawn("envoy-grpc", command, &scratch);
    let proxy = Proxy {
        name: "envoy over gRPC (refuse_identity_headers = false)".into(),
        forwards_jwtgate_401_body: true,
        refuses_forged_identity_headers: false,
        names_keys_unavailable: false,
        status_while_jwtgate_is_down: 503,
    };
    proxy_protects_the_upstream_as_documented(proxy, envoy, port, &mut backends).await;
}
