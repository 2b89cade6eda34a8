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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::super::{DEFAULT_CONFIG_FILE, Settings};

    #[test]
    fn the_grpc_listener_is_off_by_default_and_set_by_file_or_environment() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_FILE);
        let shipped = Settings::load_with_env(&path, Some(HashMap::new())).unwrap();
        let env = HashMap::from([(
            "JWTGATE__GRPC__BIND".to_string(),
            "0.0.0.0:9001".to_string(),
        )]);
        let from_env = Settings::load_with_env(&path, Some(env)).unwrap();

        assert_eq!(shipped.grpc.bind, None);
        assert_eq!(from_env.grpc.bind, Some("0.0.0.0:9001".parse().unwrap()));
        assert!(Settings::from_toml("allow_any_issuer = true\n[grpc]\nbind = \"nope\"").is_err());
    }
}
