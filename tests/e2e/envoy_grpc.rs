//! `deploy/envoy/envoy-grpc.yaml`: Envoy's `ext_authz` filter over gRPC to jwtgate's `[grpc]`
//! listener, with the `/admin` route's policy in `context_extensions` and no Lua filter (jwtgate
//! lists the client's identity headers in `headers_to_remove`, or refuses them).

use crate::envoy::start_envoy;
use crate::spec::{Proxy, Refused, proxy_protects_the_upstream_as_documented};
use crate::stack::{Backends, Scratch};

/// With `refuse_identity_headers` off, so that every forged spelling is removed by Envoy on
/// jwtgate's word (`headers_to_remove`) and the request still passes with jwtgate's identity.
#[actix_web::test]
async fn envoy_ext_authz_over_grpc_protects_the_upstream_as_documented() {
    protects_the_upstream(false).await;
}

/// jwtgate's default: a request carrying a forged identity header in any spelling is refused
/// (403 `forged_identity_header`, which Envoy answers the client with).
#[actix_web::test]
async fn envoy_ext_authz_over_grpc_protects_the_upstream_with_refuse_identity_headers_on() {
    protects_the_upstream(true).await;
}

async fn protects_the_upstream(refuse_identity_headers: bool) {
    let scratch = Scratch::new("envoy-grpc");
    let mut backends = Backends::start(&scratch, refuse_identity_headers).await;
    let jwtgate = ("port_value: 9001 }", backends.jwtgate.grpc_port);
    let (envoy, port) = start_envoy(&scratch, &backends, "envoy-grpc.yaml", jwtgate);
    let proxy = Proxy {
        name: format!("envoy over gRPC (refuse_identity_headers = {refuse_identity_headers})"),
        forwards_jwtgate_401_body: true,
        refused: if refuse_identity_headers {
            Refused::Every
        } else {
            Refused::None
        },
        names_keys_unavailable: false,
        status_while_jwtgate_is_down: 503,
    };
    proxy_protects_the_upstream_as_documented(proxy, envoy, port, &mut backends).await;
}
