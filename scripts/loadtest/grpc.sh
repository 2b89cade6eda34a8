# The gRPC part of scripts/loadtest.sh (Envoy ext_authz `Check` under h2load), sourced by it after
# its own functions (start_jwtgate, stop_server, cache_lookups, memory_kb, cpu_ticks, pin_*); not
# run on its own. Rows go to GRPC_RESULTS; see loadtest.sh's header for what is measured.
# shellcheck shell=bash
# READY_MS, SERVER_PID and the like are globals loadtest.sh reads.
# shellcheck disable=SC2034

start_grpc_noop() { # WORKERS
    local workers=$1 t0
    GRPC_PORT=$("$HARNESS" free-port)
    t0=$(date +%s%N)
    # shellcheck disable=SC2046
    $(pin_server) "$HARNESS" grpc-noop --bind "127.0.0.1:$GRPC_PORT" --workers "$workers" \
        >"$OUT/grpc-noop-$GRPC_PORT.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    READY_MS=$("$HARNESS" wait-ready --url "tcp://127.0.0.1:$GRPC_PORT" --start-ns "$t0")
}

# jwtgate's gRPC decisions so far, "allowed denied" (denied: refused or would-deny).
grpc_decisions() {
    curl -s "http://127.0.0.1:$SERVER_PORT/metrics" | awk '
        /^jwtgate_verifications_total/ && /transport="grpc"/ && /result="valid"/ { a += $NF }
        /^jwtgate_verifications_total/ && /transport="grpc"/ && !/result="valid"/ { d += $NF }
        END { printf "%d %d\n", a, d }' || echo "0 0"
}

# h2load against the gRPC server at GRPC_PORT for SECONDS_, one Check body per request, the
# per-request log (start, status, microseconds) in LOG. Prints "req/s requests failed non2xx"
# (requests done; non-2xx: 3xx + 4xx + 5xx).
h2load_run() { # SECONDS_ LOG
    local secs=$1 log=$2 output
    # shellcheck disable=SC2046 # pin_client is a command prefix or nothing
    output=$(timeout $((secs + 30)) $(pin_client) h2load -t1 -c"$GRPC_CONNECTIONS" -m"$GRPC_STREAMS" \
        -D"$secs" -d "$GRPC_BODY" -H 'content-type: application/grpc' -H 'te: trailers' \
        --log-file="$log" "http://127.0.0.1:$GRPC_PORT/envoy.service.auth.v3.Authorization/Check")
    awk '/^finished in/ { rps = $4 } /^requests:/ { r = $6; f = $10 } /^status codes:/ { n = $5 + $7 + $9 }
        END { printf "%s %s %s %s\n", rps, r, f, n }' <<<"$output"
}

# One gRPC scenario: start SERVER (jwtgate with its [grpc] listener, or the tonic no-op), warm it
# up, measure, record a row in grpc.tsv, stop it.
#   measure_grpc SCENARIO SERVER(jwtgate|grpc-noop) WORKERS CACHE
measure_grpc() {
    local scenario=$1 server=$2 workers=$3 cache=$4
    if [[ $server == jwtgate ]]; then
        GRPC_PORT=$("$HARNESS" free-port)
        start_jwtgate "$workers" 1 "$cache" "$GRPC_PORT"
    else
        start_grpc_noop "$workers"
    fi
    h2load_run "$WARMUP_SECS" /dev/null >/dev/null
    local before=- after=- lookups_before lookups_after ticks_before ticks_after log rps requests failed non2xx
    log=$OUT/h2load-$scenario-$MODE.tsv
    [[ $server == jwtgate ]] && before=$(grpc_decisions) && lookups_before=$(cache_lookups)
    ticks_before=$(cpu_ticks)
    read -r rps requests failed non2xx < <(h2load_run "$DURATION_SECS" "$log")
    ticks_after=$(cpu_ticks)
    [[ $server == jwtgate ]] && after=$(grpc_decisions) && lookups_after=$(cache_lookups)
    read -r rss hwm < <(memory_kb)
    stop_server
    local allowed=- denied=- hit_ratio=-
    if [[ $server == jwtgate ]]; then
        read -r allowed denied < <(awk -v b="$before" -v a="$after" 'BEGIN {
            split(b, x, " "); split(a, y, " "); print y[1] - x[1], y[2] - x[2] }')
        hit_ratio=$(awk -v b="$lookups_before" -v a="$lookups_after" 'BEGIN {
            split(b, x, " "); split(a, y, " "); h = y[1] - x[1]; m = y[2] - x[2];
            if (h + m > 0) printf "%.3f", h / (h + m); else print "-" }')
    fi
    local p50 p99 max cores
    read -r p50 p99 max < <(cut -f3 "$log" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- - -"; exit }
        i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1;
        printf "%.2f %.2f %.2f\n", v[i50] / 1000, v[i99] / 1000, v[NR] / 1000 }')
    cores=$(awk -v b="$ticks_before" -v a="$ticks_after" -v hz="$CLK_TCK" -v s="$DURATION_SECS" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        printf "%.2f\t%.2f\t%.2f", (y[3] - x[3]) / hz / s, (y[1] - x[1]) / hz / s, (y[2] - x[2]) / hz / s }')
    rm -f "$log"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$MODE" "$server" "$scenario" "$workers" "$cache" "$GRPC_CONNECTIONS" "$GRPC_STREAMS" "$rps" \
        "$p50" "$p99" "$max" "$requests" "$failed" "$non2xx" "$allowed" "$denied" "$hit_ratio" "$rss" \
        "$hwm" "$cores" >>"$GRPC_RESULTS"
    log "$(printf '%-8s %-9s %-22s w=%s cache=%-3s %9s req/s  p50 %s ms  p99 %s ms  failed %s  non2xx %s  allowed %s denied %s  hit %s  rss %s kB  cores server/machine/steal %s' \
        "$MODE" "$server" "$scenario" "$workers" "$cache" "$rps" "$p50" "$p99" "$failed" "$non2xx" "$allowed" "$denied" "$hit_ratio" "$rss" "${cores//$'\t'/\/}")"
}

# The gRPC scenarios (h2load against Check): the tonic no-op, then jwtgate with the one token's
# verification cached, and verified in full on every call.
grpc_runs() {
    printf 'mode\tserver\tscenario\tworkers\tcache\tconnections\tstreams\trps\tp50_ms\tp99_ms\tmax_ms\trequests\tfailed\tnon2xx\tallowed\tdenied\thit_ratio\tvmrss_kb\tvmhwm_kb\tserver_cores\tmachine_cores\tsteal_cores\n' >"$GRPC_RESULTS"
    for MODE in pinned unpinned; do
        W=1
        [[ $MODE == unpinned ]] && W=2
        measure_grpc grpc-noop grpc-noop "$W" -
        measure_grpc grpc-rs256-one jwtgate "$W" on
        measure_grpc grpc-rs256-one-uncached jwtgate "$W" off
    done
}
