#!/usr/bin/env bash
# Runs jwtgate's whole test suite: unit tests and the integration tests, which start real
# jwtgate servers against real in-process issuers on loopback, and the end-to-end tests
# (tests/e2e), which put the real binary behind real nginx, Envoy and Traefik processes and lint
# the Dockerfile and Kubernetes manifests. Installs what those need first
# (scripts/install-test-deps.sh; JWTGATE_SKIP_INSTALL=1 skips it, the tests still need the tools),
# then checks the dependencies (cargo deny) and the API documentation (cargo doc).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
./scripts/install-promtool.sh
# The API documentation builds without a warning (broken links, missing docs).
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
# Dependencies (fetched by the line above): permissive licences, no banned crates, crates.io only
# (deny.toml). Offline: the advisory database is not reachable from CI.
cargo deny --offline check licenses bans sources
# The criterion benches run once each as a smoke test first, so that the run ends on the test
# harness's own summary line.
cargo test --locked --bench verify "$@"
cargo test --locked --lib --bins --tests "$@"
