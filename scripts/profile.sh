#!/usr/bin/env bash
# Where a request's time goes: perf profiles of jwtgate (release, 1 worker pinned to CPU 1) under
# wrk (-t1 -c64, CPU 0) for two loads - 10,000 distinct RS256 tokens with the token cache off,
# and one repeated token with it on (every answer a cache hit) - each with jwtgate's defaults
# (the decision log on) and with `[log] decisions = "off"`, turned into a table of
# microseconds per request by category (crypto, kernel, HTTP, JSON, allocation, logging, ...)
# by scripts/profile_table.py.
#
#   ./scripts/profile.sh    # ~2 min after the builds; needs perf, wrk and taskset
#
# Uses the load test's harness (scripts/loadtest: issuer on loopback, token minting) and
# target/release/jwtgate; set PROFILE_SKIP_BUILD=1 to use existing builds. perf samples the
# CPU clock (`-e cpu-clock`, no hardware counters in a VM), 2000 Hz, with call graphs. Output:
# target/profile/run-<UTC time>/ (perf.data per load, table.md). The machine must be quiet.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${PROFILE_SECS:-5}
OUT=${PROFILE_OUT:-target/profile/run-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
log() { printf '[profile %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
for tool in perf wrk taskset; do
    command -v "$tool" >/dev/null || { log "needs $tool"; exit 1; }
done
if [[ "${PROFILE_SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release --locked --bin jwtgate
    cargo build --release --locked --manifest-path scripts/loadtest/Cargo.toml --target-dir target/loadtest
fi
cp target/release/jwtgate "$OUT/jwtgate"
cp target/loadtest/release/loadtest "$OUT/loadtest"
HARNESS=$OUT/loadtest

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

"$HARNESS" issuer --issuers 1 --keys tests/keys --port-file "$OUT/issuer.port" >"$OUT/issuer.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$OUT/issuer.port" ]] && break; sleep 0.05; done
ISSUER="http://127.0.0.1:$(cat "$OUT/issuer.port")/i/0"
"$HARNESS" mint --issuer-base "${ISSUER%/i/0}" --alg RS256 --issuers 1 --count 10000 \
    --invalid-percent 0 --keys tests/keys --out "$OUT/distinct.txt" --shape small
ONE=$(head -n 1 "$OUT/distinct.txt")

# profile NAME LOAD(one|distinct) CACHE(on|off) LOG(on|off)
profile() {
    local name=$1 load=$2 cache=$3 decisions=$4 port pid config env=() url result
    port=$("$HARNESS" free-port)
    config=$OUT/$name.toml
    printf '[server]\nbind = "127.0.0.1:%s"\nworkers = 1\n\n[fetch]\nhttps_only = false\nallow_private_addresses = true\n\n' "$port" >"$config"
    [[ $decisions == off ]] && printf '[log]\ndecisions = "off"\n\n' >>"$config"
    printf '[[issuers]]\nissuer = "%s"\naudiences = ["my-api"]\n' "$ISSUER" >>"$config"
    [[ $cache == off ]] && env=(JWTGATE__CACHE__VERIFIED_TOKENS=0)
    env "${env[@]}" taskset -c 1 "$OUT/jwtgate" --config "$config" >"$OUT/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    "$HARNESS" wait-ready --url "http://127.0.0.1:$port/readyz" --start-ns "$(date +%s%N)" >/dev/null
    url="http://127.0.0.1:$port/verify"
    wrk_for() { # SECONDS
        if [[ $load == one ]]; then
            taskset -c 0 wrk -t1 -c64 -d"$1"s -H "Authorization: Bearer $ONE" -s scripts/loadtest/report.lua "$url"
        else
            taskset -c 0 wrk -t1 -c64 -d"$1"s -s scripts/loadtest/tokens.lua "$url" -- "$OUT/distinct.txt" 1
        fi | grep '^RESULT'
    }
    wrk_for 1 >/dev/null
    perf record -e cpu-clock -F 2000 -g -o "$OUT/$name.perf.data" -p "$pid" -- sleep "$SECS" 2>/dev/null &
    local perf_pid=$!
    result=$(wrk_for "$SECS")
    wait "$perf_pid" || true
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    local rps
    # shellcheck disable=SC2001
    rps=$(sed 's/.*rps=\([0-9.]*\).*/\1/' <<<"$result")
    log "$name: $rps req/s while profiled"
    perf report -i "$OUT/$name.perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
        >"$OUT/$name.report.txt"
    echo "$name $rps $OUT/$name.report.txt" >>"$OUT/profiles.txt"
}
: >"$OUT/profiles.txt"
profile distinct-log distinct off on
profile distinct-nolog distinct off off
profile hit-log one on on
profile hit-nolog one on off
python3 scripts/profile_table.py "$OUT/profiles.txt" >"$OUT/table.md"
cat "$OUT/table.md"
echo "table: $OUT/table.md"
