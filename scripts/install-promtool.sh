#!/usr/bin/env bash
# Installs promtool (Debian package `prometheus`), which the observability tests use to check
# deploy/prometheus/alerts.yaml, the Grafana dashboard's queries and a live /metrics scrape.
# Does nothing when promtool is already on PATH. Needs root (CI runs as root) or sudo.
# JWTGATE_SKIP_INSTALL=1 skips it, like scripts/install-test-deps.sh (the tests still need it).
set -euo pipefail
if [[ "${JWTGATE_SKIP_INSTALL:-0}" == 1 ]] || command -v promtool >/dev/null 2>&1; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "installing promtool (Debian package prometheus)..." >&2
# apt does not start the prometheus service here (no systemd; policy-rc.d denies), and the
# tests only need the promtool binary it ships.
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null
