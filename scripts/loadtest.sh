#!/usr/bin/env bash
# Load test: jwtgate over HTTP against an in-process issuer on loopback, with two reference
# servers built from the same stack (actix-web answering 200 with no work; actix-web doing only
# jsonwebtoken::decode with an in-memory key) and the Rust peer jwt-authorizer 0.15 behind axum
# (scripts/peer: OIDC discovery against the same issuer, 200/401), so jwtgate is reported as
# ratios to them.
#
#   ./scripts/loadtest.sh        # HTTP, then gRPC: ~6 min of runs (+ builds: ~8 min the first time)
#   ./scripts/loadtest.sh http   # the HTTP scenarios only (what the script did before gRPC)
#   ./scripts/loadtest.sh grpc   # the gRPC scenarios only (~1 min of runs; scripts/loadtest/grpc.sh)
#
# What it does, all on 127.0.0.1, every process stopped by the script (and each server also
# stops by itself after a bounded lifetime):
#  1. installs wrk (Debian) if missing; builds jwtgate (release) and the harness
#     scripts/loadtest/ (release, into target/loadtest);
#  2. starts the harness issuer (32 OpenID Connect issuers on one port, fixed test keys) and
#     mints token files (RS256, ES256, EdDSA; one issuer or spread over 8 or 32; 10 % invalid);
#  3. in two modes - "pinned": server on CPU 1 with 1 worker, wrk on CPU 0 (taskset); and
#     "unpinned": server with 2 workers, wrk anywhere - runs wrk (-t1 -c64, WARMUP then
#     DURATION seconds) per scenario, each against a freshly started server: the references,
#     then jwtgate with distinct RS256/ES256/EdDSA tokens and the token cache off, one repeated
#     token and 1000 tokens reused with the cache on, and a 10 %-invalid mix; then distinct RS256
#     and one repeated token again with `[log] decisions = "off"` (the decision log's share);
#  4. scale: 1 vs 2 workers, 1 vs 8 vs 32 issuers, 10 .. 100000 distinct tokens (cache on,
#     filled by one pass first), time-to-ready (first 200 from /readyz after start) with 1 and
#     32 issuers;
#  5. records req/s, p50/p99, non-2xx answers, token-cache hit ratio (from /metrics), RSS
#     (VmRSS/VmHWM from /proc) after every run, and the cores the server, the whole machine and
#     the hypervisor's steal took during it (/proc/PID/stat, /proc/stat: others' load shows as
#     machine - server - wrk), in results.tsv; then
#     scripts/plot_loadtest.py writes results.md (tables, ratios, issue 5 targets, and the gRPC
#     table below) and loadtest.png (installing matplotlib with pip if missing).
#
# gRPC (Envoy ext_authz Check; issue 11, point 8): jwtgate's [grpc] listener against a tonic
# no-op Check server (the harness's grpc-noop: same tonic and Envoy types, every call OK), each
# loaded by h2load (nghttp2-client, installed from Debian if missing) with one pre-built request
# body (the harness's grpc-body: the 5-byte gRPC prefix and a protobuf CheckRequest whose
# Authorization header carries one RS256 token), content-type application/grpc, te: trailers,
# -c GRPC_CONNECTIONS connections x -m GRPC_STREAMS streams. h2load sends one body for every request
# (it cannot cycle bodies), so the scenarios are that one token with the verified-token cache on
# and off (off: every call verifies the signature in full). A denial is also HTTP 200 over gRPC:
# each jwtgate row carries how many calls jwtgate counted allowed and denied during the run
# (jwtgate_verifications_total{transport="grpc"} before and after). Latency percentiles come from
# h2load's per-request log. Rows in grpc.tsv; pinned and unpinned as above.
#
# Rounds: LOADTEST_ROUNDS=N (default 1) runs the pinned and unpinned scenarios, the 1-worker
# and the 8/32-issuer runs N times, round after round (so a noisy minute of a shared machine
# lands on one sample of every scenario, not on all samples of one); the report compares medians
# and shows each median's spread. The token-count and time-to-ready runs are made once.
#
# Environment: LOADTEST_ROUNDS (1), LOADTEST_DURATION_SECS (5), LOADTEST_WARMUP_SECS (1), LOADTEST_CONNECTIONS (64),
# LOADTEST_GRPC_CONNECTIONS (8), LOADTEST_GRPC_STREAMS (8),
# LOADTEST_OUT (target/loadtest/run-<UTC time>), LOADTEST_SKIP_BUILD=1 (use existing builds).
# The machine is shared: the load average before and after is recorded with the results.
set -euo pipefail
cd "$(dirname "$0")/.."

# The whole script stops itself after this long, whatever happens (timeout sends SIGTERM, the
# trap below stops every process the script started).
ROUNDS=${LOADTEST_ROUNDS:-1}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "LOADTEST_ROUNDS must be 1 to 99" >&2; exit 2; }
SCRIPT_TIMEOUT_SECS=$((1200 + 600 * ROUNDS))
if [[ -z ${LOADTEST_UNDER_TIMEOUT:-} ]]; then
    LOADTEST_UNDER_TIMEOUT=1 exec timeout "$SCRIPT_TIMEOUT_SECS" "$0" "$@"
fi

RUNS=${1:-all}
case $RUNS in
    all | http | grpc) ;;
    *)
        echo "usage: $0 [all|http|grpc]" >&2
        exit 2
        ;;
esac
runs() { [[ $RUNS == all || $RUNS == "$1" ]]; }
DURATION_SECS=${LOADTEST_DURATION_SECS:-5}
WARMUP_SECS=${LOADTEST_WARMUP_SECS:-1}
CONNECTIONS=${LOADTEST_CONNECTIONS:-64}
# gRPC: h2load connections, and concurrent streams on each (8 x 8 = 64 calls in flight, as the
# HTTP runs' 64 connections).
GRPC_CONNECTIONS=${LOADTEST_GRPC_CONNECTIONS:-8}
GRPC_STREAMS=${LOADTEST_GRPC_STREAMS:-8}
OUT=${LOADTEST_OUT:-target/loadtest/run-$(date -u +%Y%m%dT%H%M%SZ)}
# Distinct tokens for the cache-off runs (each verified in full; repeats do not matter there).
DISTINCT_TOKENS=10000
# The largest token set; also the default verified-token cache capacity.
CACHED_TOKENS=100000
# Issuers served by the harness issuer (the most any scenario configures).
MAX_ISSUERS=32
# Most 1-second wrk runs a cache-filling pass may take.
FILL_TIMEOUT_SECS=90
# Start/stop cycles per time-to-ready sample set.
READY_SAMPLES=5
# CPUs of the pinned mode.
SERVER_CPU=1
CLIENT_CPU=0

HARNESS=$OUT/bin/loadtest
PEER=$OUT/bin/peer
JWTGATE=$OUT/bin/jwtgate
RESULTS=$OUT/results.tsv
GRPC_RESULTS=$OUT/grpc.tsv
GRPC_BODY=$OUT/grpc-check.bin
TOKENS=$OUT/tokens
mkdir -p "$OUT/bin" "$TOKENS"
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[loadtest %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Every background process the script starts, stopped on exit.
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -INT "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'log "stopped by a signal"; exit 143' TERM INT

# --- 1. tools and builds ---------------------------------------------------------------------
install_tool() { # COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $1 (apt: $2)"
    local as_root=()
    [[ "$(id -u)" == 0 ]] || as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
if runs http; then install_tool wrk wrk; fi
if runs grpc; then install_tool h2load nghttp2-client; fi
if [[ "${LOADTEST_SKIP_BUILD:-0}" != 1 ]]; then
    log "building jwtgate (release)"
    start=$SECONDS
    cargo build --release --locked --bin jwtgate
    log "building the harness scripts/loadtest (release)"
    cargo build --release --locked --manifest-path scripts/loadtest/Cargo.toml --target-dir target/loadtest
    if runs http; then
        log "building the peer scripts/peer: jwt-authorizer behind axum (release)"
        cargo build --release --locked --manifest-path scripts/peer/Cargo.toml --target-dir target/loadtest/peer
    fi
    log "builds took $((SECONDS - start)) s"
fi
# What was measured: the commit, and whether src/ or Cargo.toml differed from it at build time.
BUILT_FROM="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo '+uncommitted')"
# Run copies, so that a build by someone else in the same target directory cannot swap the
# binary in the middle of the run.
cp target/release/jwtgate "$JWTGATE"
cp target/loadtest/release/loadtest "$HARNESS"
if runs http; then cp target/loadtest/peer/release/peer "$PEER"; fi

# Does this jwtgate have the verified-token cache ([cache] verified_tokens)?
probe_config=$OUT/probe.toml
printf '[[issuers]]\nissuer = "https://issuer.example"\naudiences = ["my-api"]\n' >"$probe_config"
if JWTGATE__CACHE__VERIFIED_TOKENS=0 "$JWTGATE" --config "$probe_config" check-config >/dev/null 2>&1; then
    TOKEN_CACHE=yes
else
    TOKEN_CACHE=no
    log "this jwtgate has no [cache] verified_tokens: cache on/off runs are the same server"
fi

# --- 2. issuer and tokens ------------------------------------------------------------------
"$HARNESS" issuer --issuers "$MAX_ISSUERS" --keys tests/keys --port-file "$OUT/issuer.port" \
    >"$OUT/issuer.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$OUT/issuer.port" ]] && break; sleep 0.05; done
ISSUER_BASE="http://127.0.0.1:$(cat "$OUT/issuer.port")"
log "issuer at $ISSUER_BASE/i/0 .. /i/$((MAX_ISSUERS - 1))"

mint() { # NAME ALG ISSUERS COUNT INVALID_PERCENT [SHAPE]
    "$HARNESS" mint --issuer-base "$ISSUER_BASE" --alg "$2" --issuers "$3" --count "$4" \
        --invalid-percent "$5" --keys tests/keys --out "$TOKENS/$1.txt" --shape "${6:-small}"
}
if runs http; then
    mint rs256-$CACHED_TOKENS RS256 1 "$CACHED_TOKENS" 0
    for n in 1 10 100 1000 "$DISTINCT_TOKENS"; do
        head -n "$n" "$TOKENS/rs256-$CACHED_TOKENS.txt" >"$TOKENS/rs256-$n.txt"
    done
    mint es256-$DISTINCT_TOKENS ES256 1 "$DISTINCT_TOKENS" 0
    mint eddsa-$DISTINCT_TOKENS EdDSA 1 "$DISTINCT_TOKENS" 0
    mint rs256-iss8-$DISTINCT_TOKENS RS256 8 "$DISTINCT_TOKENS" 0
    mint rs256-iss32-$DISTINCT_TOKENS RS256 32 "$DISTINCT_TOKENS" 0
    mint mix10-1000 RS256 1 1000 10
    # Tokens of real size (~1 KB, Keycloak/Entra ID claims): distinct, and 1000 reused.
    mint real-rs256-$DISTINCT_TOKENS RS256 1 "$DISTINCT_TOKENS" 0 realistic
    head -n 1000 "$TOKENS/real-rs256-$DISTINCT_TOKENS.txt" >"$TOKENS/real-rs256-1000.txt"
else
    mint rs256-1 RS256 1 1 0
fi
ONE_TOKEN=$(cat "$TOKENS/rs256-1.txt")
if runs grpc; then
    "$HARNESS" grpc-body --token-file "$TOKENS/rs256-1.txt" --out "$GRPC_BODY"
fi

# --- servers -------------------------------------------------------------------------------
SERVER_PID=
SERVER_PORT=
READY_MS=

pin_server() { if [[ $MODE == pinned ]]; then echo "taskset -c $SERVER_CPU"; fi; }
pin_client() { if [[ $MODE == pinned ]]; then echo "taskset -c $CLIENT_CPU"; fi; }

start_jwtgate() { # WORKERS ISSUERS CACHE(on|off) [GRPC_PORT: the [grpc] listener's] [DECISION_LOG(on|off)]
    local workers=$1 issuers=$2 cache=$3 grpc=${4:-} decisions=${5:-on} config i
    SERVER_PORT=$("$HARNESS" free-port)
    config=$OUT/jwtgate-$SERVER_PORT.toml
    {
        printf '[server]\nbind = "127.0.0.1:%s"\nworkers = %s\n\n' "$SERVER_PORT" "$workers"
        printf '[fetch]\nhttps_only = false\nallow_private_addresses = true\n\n'
        if [[ -n $grpc ]]; then
            printf '[grpc]\nbind = "127.0.0.1:%s"\n\n' "$grpc"
        fi
        for ((i = 0; i < issuers; i++)); do
            printf '[[issuers]]\nissuer = "%s/i/%s"\naudiences = ["my-api"]\n\n' "$ISSUER_BASE" "$i"
        done
    } >"$config"
    local env=()
    if [[ $cache == off && $TOKEN_CACHE == yes ]]; then
        env+=(JWTGATE__CACHE__VERIFIED_TOKENS=0)
    fi
    if [[ $decisions == off ]]; then
        env+=(JWTGATE__LOG__DECISIONS=off)
    fi
    local t0
    t0=$(date +%s%N)
    # shellcheck disable=SC2046 # pin_server is a command prefix or nothing
    env "${env[@]}" $(pin_server) "$JWTGATE" --config "$config" >"$OUT/jwtgate-$SERVER_PORT.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    READY_MS=$("$HARNESS" wait-ready --url "http://127.0.0.1:$SERVER_PORT/readyz" --start-ns "$t0")
}

start_reference() { # noop|decode WORKERS [ALG]
    local kind=$1 workers=$2 alg=${3:-RS256} t0
    SERVER_PORT=$("$HARNESS" free-port)
    t0=$(date +%s%N)
    # shellcheck disable=SC2046
    $(pin_server) "$HARNESS" "$kind" --bind "127.0.0.1:$SERVER_PORT" --workers "$workers" \
        --alg "$alg" --keys tests/keys --issuer "$ISSUER_BASE/i/0" \
        >"$OUT/$kind-$SERVER_PORT.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    READY_MS=$("$HARNESS" wait-ready --url "http://127.0.0.1:$SERVER_PORT/readyz" --start-ns "$t0")
}

start_peer() { # WORKERS
    local workers=$1 t0
    SERVER_PORT=$("$HARNESS" free-port)
    t0=$(date +%s%N)
    # shellcheck disable=SC2046
    $(pin_server) "$PEER" --bind "127.0.0.1:$SERVER_PORT" --workers "$workers" \
        --issuer "$ISSUER_BASE/i/0" >"$OUT/peer-$SERVER_PORT.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    READY_MS=$("$HARNESS" wait-ready --url "http://127.0.0.1:$SERVER_PORT/readyz" --start-ns "$t0")
}

stop_server() {
    kill -INT "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# Cache lookups so far, "hits misses" (0 0 without the metric).
cache_lookups() {
    curl -s "http://127.0.0.1:$SERVER_PORT/metrics" | awk '
        /^jwtgate_verified_token_cache_lookups_total/ && /result="hit"/ { h = $NF }
        /^jwtgate_verified_token_cache_lookups_total/ && /result="miss"/ { m = $NF }
        END { printf "%d %d\n", h, m }' || echo "0 0"
}

memory_kb() { # VmRSS VmHWM of the server
    awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { print r, h }' "/proc/$SERVER_PID/status"
}

# CPU time so far, in clock ticks: "machine-busy steal server" (machine: all CPUs, user + nice +
# system + irq + softirq; steal: taken by the hypervisor; server: the server's user + system).
cpu_ticks() {
    local machine server
    machine=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat)
    server=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
    echo "$machine $server"
}

# wrk against the running server: LOAD is "one" (a static request carrying ONE_TOKEN) or a
# token file name, sent from token FIRST on; SECONDS_ is the duration. Prints wrk's RESULT line.
wrk_run() { # LOAD SECONDS_ [FIRST]
    local load=$1 secs=$2 first=${3:-1} url="http://127.0.0.1:$SERVER_PORT/verify"
    # shellcheck disable=SC2046
    if [[ $load == one ]]; then
        timeout $((secs + 30)) $(pin_client) wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency \
            -H "Authorization: Bearer $ONE_TOKEN" -s scripts/loadtest/report.lua "$url"
    else
        timeout $((secs + 60)) $(pin_client) wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency \
            -s scripts/loadtest/tokens.lua "$url" -- "$TOKENS/$load.txt" "$first"
    fi | grep '^RESULT'
}

# Sends every token of LOAD once (at least), in 1-second wrk runs each going on where the last
# stopped, at most FILL_TIMEOUT_SECS runs.
fill_cache() { # LOAD
    local load=$1 first=1 total sent
    total=$(wc -l <"$TOKENS/$load.txt")
    for _ in $(seq "$FILL_TIMEOUT_SECS"); do
        ((first > total)) && return 0
        sent=$(wrk_run "$load" 1 "$first" | sed 's/^RESULT requests=\([0-9]*\).*/\1/')
        first=$((first + sent))
    done
    log "filling with $load stopped after $FILL_TIMEOUT_SECS runs at token $first of $total"
}

# One measured scenario: start SERVER, warm it up (or fill its cache with one pass over the
# tokens), measure, record a row, stop it.
#   measure SCENARIO SERVER WORKERS ISSUERS CACHE LOAD [warm|fill]
# SERVER: jwtgate | jwtgate:nolog (with `[log] decisions = "off"`) | noop | decode:<ALG> | peer
measure() {
    local scenario=$1 server=$2 workers=$3 issuers=$4 cache=$5 load=$6 warm=${7:-warm}
    case $server in
        jwtgate) start_jwtgate "$workers" "$issuers" "$cache" ;;
        jwtgate:nolog) start_jwtgate "$workers" "$issuers" "$cache" "" off ;;
        noop) start_reference noop "$workers" ;;
        decode:*) start_reference decode "$workers" "${server#decode:}" ;;
        peer) start_peer "$workers" ;;
    esac
    if [[ $warm == fill ]]; then
        fill_cache "$load"
    else
        wrk_run "$load" "$WARMUP_SECS" >/dev/null
    fi
    local before after result tokens ticks_before ticks_after
    before=$(cache_lookups)
    ticks_before=$(cpu_ticks)
    result=$(wrk_run "$load" "$DURATION_SECS") || {
        log "wrk failed for $scenario; its row has no numbers"
        result="RESULT - - - - - - - - -"
    }
    ticks_after=$(cpu_ticks)
    after=$(cache_lookups)
    read -r rss hwm < <(memory_kb)
    stop_server
    local hit_ratio
    hit_ratio=$(awk -v b="$before" -v a="$after" 'BEGIN {
        split(b, x, " "); split(a, y, " "); h = y[1] - x[1]; m = y[2] - x[2];
        if (h + m > 0) printf "%.3f", h / (h + m); else print "-" }')
    tokens=1
    [[ $load != one ]] && tokens=$(wc -l <"$TOKENS/$load.txt")
    # shellcheck disable=SC2001
    local fields
    fields=$(sed 's/[a-z0-9_]*=//g; s/^RESULT //' <<<"$result")
    read -r requests secs rps p50 _p90 p99 max non2xx socket_errors <<<"$fields"
    # Cores busy during the measured run: the server's, the whole machine's (server, wrk and
    # anything else), and stolen by the hypervisor.
    local cores
    cores=$(awk -v b="$ticks_before" -v a="$ticks_after" -v hz="$CLK_TCK" -v s="$DURATION_SECS" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        printf "%.2f\t%.2f\t%.2f", (y[3] - x[3]) / hz / s, (y[1] - x[1]) / hz / s, (y[2] - x[2]) / hz / s }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$MODE" "$server" "$scenario" "$workers" "$issuers" "$tokens" "$cache" "$rps" "$p50" \
        "$p99" "$max" "$non2xx" "$socket_errors" "$requests" "$hit_ratio" "$rss" "$hwm" \
        "$READY_MS" "$cores" >>"$RESULTS"
    log "$(printf '%-8s %-13s %-20s w=%s iss=%-2s tok=%-6s cache=%-3s %9s req/s  p50 %s ms  p99 %s ms  non2xx %s  hit %s  rss %s kB  cores server/machine/steal %s' \
        "$MODE" "$server" "$scenario" "$workers" "$issuers" "$tokens" "$cache" "$rps" "$p50" "$p99" "$non2xx" "$hit_ratio" "$rss" "${cores//$'\t'/\/}")"
}

# --- 3 and 4. the runs -----------------------------------------------------------------------
if runs http; then
    printf 'mode\tserver\tscenario\tworkers\tissuers\ttokens\tcache\trps\tp50_ms\tp99_ms\tmax_ms\tnon2xx\tsocket_errors\trequests\thit_ratio\tvmrss_kb\tvmhwm_kb\tready_ms\tserver_cores\tmachine_cores\tsteal_cores\n' >"$RESULTS"
fi
{
    echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit=$BUILT_FROM"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "cpus=$(nproc)"
    echo "kernel=$(uname -r)"
    if runs http; then echo "wrk=$(wrk --version 2>&1 | head -1)"; fi
    if runs grpc; then echo "h2load=$(h2load --version 2>&1 | head -1)"; fi
    echo "rustc=$(rustc --version)"
    echo "token_cache=$TOKEN_CACHE"
    echo "duration_secs=$DURATION_SECS warmup_secs=$WARMUP_SECS connections=$CONNECTIONS grpc_connections=$GRPC_CONNECTIONS grpc_streams=$GRPC_STREAMS rounds=$ROUNDS"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/meta.txt"

log "load before: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"

# The crypto floor in this run: one verification with a key parsed once (and parsed per call),
# on the server's CPU (issue 14: a distinct-token request within 1.3x of this + a no-op request).
if runs http; then
    for alg in RS256 ES256 EdDSA; do
        floor=$(taskset -c "$SERVER_CPU" "$HARNESS" floor --keys tests/keys --alg "$alg")
        log "$floor"
        read -r _ _ parsed unparsed <<<"$floor" # floor alg=.. parsed_us=.. unparsed_us=..
        parsed=${parsed#parsed_us=}
        unparsed=${unparsed#unparsed_us=}
        lower=$(tr '[:upper:]' '[:lower:]' <<<"$alg")
        echo "floor_${lower}_verify_us=$parsed floor_${lower}_unparsed_verify_us=$unparsed" >>"$OUT/meta.txt"
    done
fi

# One round of the HTTP scenarios: every reference, the peer and jwtgate, pinned then unpinned;
# then the 1-worker runs (against the 2-worker unpinned ones: what the second core adds) and the
# 8 and 32 issuer runs (against the 1-issuer pinned one).
http_round() {
    for MODE in pinned unpinned; do
        W=1
        [[ $MODE == unpinned ]] && W=2
        measure noop noop "$W" 1 - one
        measure noop-1000 noop "$W" 1 - rs256-1000
        # The no-op fed the same ~1 KB tokens: the reference for real-size cache hits (a bigger
        # request costs every server more to receive and parse).
        measure noop-real-1000 noop "$W" 1 - real-rs256-1000
        measure decode-rs256 decode:RS256 "$W" 1 - "$D"
        measure decode-es256 decode:ES256 "$W" 1 - "es256-$DISTINCT_TOKENS"
        measure decode-eddsa decode:EdDSA "$W" 1 - "eddsa-$DISTINCT_TOKENS"
        measure decode-mix10 decode:RS256 "$W" 1 - mix10-1000
        measure peer-rs256 peer "$W" 1 - "$D"
        measure peer-es256 peer "$W" 1 - "es256-$DISTINCT_TOKENS"
        measure peer-eddsa peer "$W" 1 - "eddsa-$DISTINCT_TOKENS"
        measure peer-one peer "$W" 1 - one
        measure peer-1000 peer "$W" 1 - rs256-1000
        measure decode-real-rs256 decode:RS256 "$W" 1 - "real-rs256-$DISTINCT_TOKENS"
        measure peer-real-rs256 peer "$W" 1 - "real-rs256-$DISTINCT_TOKENS"
        measure peer-real-1000 peer "$W" 1 - real-rs256-1000
        measure rs256-distinct jwtgate "$W" 1 off "$D"
        measure es256-distinct jwtgate "$W" 1 off "es256-$DISTINCT_TOKENS"
        measure eddsa-distinct jwtgate "$W" 1 off "eddsa-$DISTINCT_TOKENS"
        measure rs256-one jwtgate "$W" 1 on one
        measure rs256-1000 jwtgate "$W" 1 on rs256-1000 fill
        measure mix10 jwtgate "$W" 1 on mix10-1000 fill
        measure real-rs256-distinct jwtgate "$W" 1 off "real-rs256-$DISTINCT_TOKENS"
        measure real-rs256-1000 jwtgate "$W" 1 on real-rs256-1000 fill
        # The decision log's share: the same loads with `[log] decisions = "off"`.
        measure rs256-distinct-nolog jwtgate:nolog "$W" 1 off "$D"
        measure rs256-one-nolog jwtgate:nolog "$W" 1 on one
    done

    # Scale: workers (unpinned, so both cores are available), issuers (pinned).
    MODE=unpinned
    measure scale-workers-noop noop 1 1 - one
    measure scale-workers-decode-rs256 decode:RS256 1 1 - "$D"
    measure scale-workers-rs256-distinct jwtgate 1 1 off "$D"
    measure scale-workers-rs256-one jwtgate 1 1 on one
    MODE=pinned
    measure scale-issuers jwtgate 1 8 off "rs256-iss8-$DISTINCT_TOKENS"
    measure scale-issuers jwtgate 1 32 off "rs256-iss32-$DISTINCT_TOKENS"
}

# The HTTP scenarios (wrk against /verify).
http_runs() {
    D=rs256-$DISTINCT_TOKENS
    for round in $(seq "$ROUNDS"); do
        [[ $ROUNDS == 1 ]] || log "round $round of $ROUNDS"
        http_round
    done
    MODE=pinned
    for n in 10 100 1000 "$DISTINCT_TOKENS" "$CACHED_TOKENS"; do
        measure scale-tokens jwtgate 1 1 on "rs256-$n" fill
    done

    # Time to ready: start, first 200 from /readyz, stop; no load.
    MODE=pinned
    for issuers in 1 "$MAX_ISSUERS"; do
        for _ in $(seq "$READY_SAMPLES"); do
            start_jwtgate 1 "$issuers" on
            read -r rss hwm < <(memory_kb)
            printf '%s\tjwtgate\tready\t1\t%s\t0\ton\t-\t-\t-\t-\t-\t-\t-\t-\t%s\t%s\t%s\t-\t-\t-\n' \
                "$MODE" "$issuers" "$rss" "$hwm" "$READY_MS" >>"$RESULTS"
            log "ready: $issuers issuers in $READY_MS ms (rss $rss kB)"
            stop_server
        done
    done
}

# The gRPC scenarios' functions (start_grpc_noop, measure_grpc, grpc_runs, ...).
# shellcheck source=scripts/loadtest/grpc.sh
source scripts/loadtest/grpc.sh

if runs http; then http_runs; fi
if runs grpc; then grpc_runs; fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 5. report -----------------------------------------------------------------------------
if ! python3 -c 'import matplotlib' 2>/dev/null; then
    log "installing matplotlib (pip) for the plot"
    python3 -m pip install --quiet matplotlib || log "pip could not install matplotlib: no plot"
fi
python3 scripts/plot_loadtest.py "$OUT" || log "the report could not be written (see above)"
if runs http; then echo "results: $RESULTS"; fi
if runs grpc; then echo "gRPC:    $GRPC_RESULTS"; fi
echo "report:  $OUT/results.md"
echo "plot:    $OUT/loadtest.png"
