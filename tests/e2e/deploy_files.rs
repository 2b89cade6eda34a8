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
