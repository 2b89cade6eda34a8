//! The container files pass their linters: hadolint for the Dockerfile, kubernetes-validate (the
//! Kubernetes JSON schemas) for every manifest in `deploy/kubernetes`, check-jsonschema (the
//! Compose specification) for `deploy/compose.yaml`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::stack::executable;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn run(mut command: Command) {
    let output = command.output().expect("linter runs");
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_dockerfile_is_clean_under_hadolint() {
    let mut command = Command::new(executable("hadolint", &[]));
    command.arg(repo("Dockerfile"));
    run(command);
}

#[test]
fn every_kubernetes_manifest_is_valid_against_the_kubernetes_schemas() {
    let dir = repo("deploy/kubernetes");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    assert!(!manifests.is_empty(), "no manifests in {}", dir.display());
    let mut command = Command::new(executable("kubernetes-validate", &[]));
    command.arg("--strict").args(&manifests);
    run(command);
}

#[test]
fn the_compose_file_is_valid_against_the_compose_specification() {
    let mut command = Command::new(executable("check-jsonschema", &[]));
    command
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(repo("deploy/compose.yaml"));
    run(command);
}

/// The documents of a manifest file, as JSON values.
fn manifests(path: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| serde_json::Value::deserialize(document).unwrap())
        .collect()
}

#[test]
fn the_deployment_probes_and_is_scraped_on_the_admin_listener_and_the_service_exposes_only_the_data_plane()
 {
    let deployment = &manifests("deploy/kubernetes/deployment.yaml")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let env = |name: &str| {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("{name} is set"))
            .to_string()
    };
    let port = |name: &str| {
        container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("port {name}"))
    };
    assert!(env("JWTGATE__ADMIN__BIND").ends_with(&format!(":{}", port("admin"))));
    assert!(env("JWTGATE__SERVER__BIND").ends_with(&format!(":{}", port("http"))));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "admin", "{probe}");
    }

    let service = &manifests("deploy/kubernetes/service.yaml")[0];
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "the Service exposes the data plane only");
    assert_eq!(ports[0]["targetPort"], "http");

    let admin = &manifests("deploy/kubernetes/admin-service.yaml")[0];
    assert_eq!(admin["spec"]["clusterIP"], "None");
    assert_eq!(admin["spec"]["ports"][0]["targetPort"], "admin");
    assert_eq!(admin["spec"]["ports"][0]["name"], "admin");
    let scrape = std::fs::read_to_string(repo("deploy/prometheus/prometheus.yaml")).unwrap();
    assert!(scrape.contains(&format!(
        "_admin._tcp.{}.",
        admin["metadata"]["name"].as_str().unwrap()
    )));
}
