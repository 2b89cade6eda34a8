#!/usr/bin/env bash
# Runs jwtgate's whole test suite: unit tests and the integration tests, which start real
# jwtgate servers against real in-process issuers on loopback. Installs anything the tests
# need first (nothing beyond the Rust toolchain so far).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --all-targets "$@"
