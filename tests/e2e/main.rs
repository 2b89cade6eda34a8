//! End-to-end tests: the real `jwtgate` binary behind real nginx, Envoy and Traefik processes,
//! each configured with the very files in `deploy/` (only their addresses are rewritten to free
//! loopback ports), in front of an upstream that echoes the headers it received.
//!
//! The proxies must be installed (`scripts/install-test-deps.sh`, which `scripts/test.sh` runs):
//! a missing proxy fails its test, it is never skipped. The same binary lints the container and
//! Kubernetes files in `deploy/` with hadolint and kubernetes-validate. The issuers and keys come
//! from the test kit (`jwtgate::dev`, feature `test-helpers`).

mod policies;
mod spec;
mod stack;

mod deploy_files;
mod envoy;
mod envoy_grpc;
mod mesh_files;
mod nginx;
mod traefik;
