//! `[grpc]`: Envoy `ext_authz` over gRPC ([`crate::grpc`]), off by default.

use serde::{Deserialize, Serialize};

/// `[grpc]`: where the gRPC `ext_authz` listener binds, if anywhere.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcSettings {
    /// Address of the `envoy.service.auth.v3.Authorization` gRPC listener; unset (the default):
    /// no gRPC listener. Port 0 picks a free port.
    pub bind: Option<std::net::SocketAddr>,
}
