//! The mesh and gateway examples (`deploy/istio/`, `deploy/envoy-gateway/`): the core-kind
//! manifests against the Kubernetes schemas (kubernetes-validate), and the custom resources
//! (no schema available offline) read as YAML and checked for what jwtgate relies on: the CUSTOM
//! action names the provider the mesh configuration defines, on jwtgate's gRPC port, and nothing
//! fails open.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::stack::executable;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

#[test]
fn the_istio_service_and_mesh_config_are_valid_against_the_kubernetes_schemas() {
    let output = Command::new(executable("kubernetes-validate", &[]))
        .arg("--strict")
        .arg(repo("deploy/istio/service-grpc.yaml"))
        .arg(repo("deploy/istio/mesh-config.yaml"))
        .output()
        .expect("kubernetes-validate runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_istio_custom_policy_uses_the_jwtgate_grpc_provider_and_never_fails_open() {
    let mesh_config = yaml("deploy/istio/mesh-config.yaml");
    let mesh: Value = serde_norway::from_str(mesh_config["data"]["mesh"].as_str().unwrap())
        .expect("the embedded mesh config is YAML");
    let provider = &mesh["extensionProviders"][0];
    let grpc = &provider["envoyExtAuthzGrpc"];
    let service = yaml("deploy/istio/service-grpc.yaml");
    let policy = yaml("deploy/istio/authorization-policy.yaml");

    assert_eq!(grpc["failOpen"], Value::Bool(false));
    assert_eq!(grpc["port"], service["spec"]["ports"][0]["port"]);
    assert!(grpc["service"].as_str().unwrap().starts_with(&format!(
        "{}.",
        service["metadata"]["name"].as_str().unwrap()
    )));
    assert_eq!(policy["apiVersion"], "security.istio.io/v1");
    assert_eq!(policy["kind"], "AuthorizationPolicy");
    assert_eq!(policy["spec"]["action"], "CUSTOM");
    assert_eq!(policy["spec"]["provider"]["name"], provider["name"]);
}

#[test]
fn the_envoy_gateway_security_policy_calls_jwtgate_over_grpc_and_never_fails_open() {
    let policy = yaml("deploy/envoy-gateway/security-policy.yaml");
    let service = yaml("deploy/istio/service-grpc.yaml");
    let ext_auth = &policy["spec"]["extAuth"];

    assert_eq!(policy["apiVersion"], "gateway.envoyproxy.io/v1alpha1");
    assert_eq!(policy["kind"], "SecurityPolicy");
    assert_eq!(ext_auth["failOpen"], Value::Bool(false));
    let backend = &ext_auth["grpc"]["backendRefs"][0];
    assert_eq!(backend["name"], service["metadata"]["name"]);
    assert_eq!(backend["port"], service["spec"]["ports"][0]["port"]);
}
