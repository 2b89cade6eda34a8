#!/usr/bin/env bash
# The decision log's cost (BENCHMARKS.md): jwtgate (release, 1 worker, pinned to CPU 1) under
# wrk (-t1 -c64, CPU 0), one repeated token, so every answer is a verified-token cache hit: the
# cheapest decision, where the log's share of the work is largest. Decisions off, all, and all
# with successes sampled at 0.01, twice each for 10 s; then decisions all for LONG (180) seconds
# with the server's RSS every 15 s. The issuer is `jwtgate dev`'s. JSON log into a file.
#
#   cargo build --release --bin jwtgate && cargo build --bin jwtgate
#   ./scripts/loadtest-decision-log.sh        # needs wrk and taskset; ~4 min
set -u
cd "$(dirname "$0")/.."
BIN=target/release/jwtgate
DEV=target/debug/jwtgate
OUT=${LOADTEST_OUT:-target/loadtest/decision-log}; mkdir -p "$OUT"
$DEV dev --bind 127.0.0.1:18950 > $OUT/dev.out 2>/dev/null &
DEVPID=$!
sleep 3
TOKEN=$(grep "export TOKEN" $OUT/dev.out | sed 's/.*TOKEN=//')
ISS=$(grep "issuer   http" $OUT/dev.out | awk '{print $2}')
run() { # name decisions rate duration
  printf '[server]\nbind = "127.0.0.1:18951"\nworkers = 1\ndrain_secs = 0\n[log]\nformat = "json"\ndecisions = "%s"\ndecisions_success_sample_rate = %s\n[fetch]\nhttps_only = false\nallow_private_addresses = true\n[[issuers]]\nissuer = "%s"\naudiences = ["jwtgate-dev"]\n' "$2" "$3" "$ISS" > $OUT/$1.toml
  taskset -c 1 $BIN --config $OUT/$1.toml 2> $OUT/$1.log &
  local pid=$!
  sleep 1.5
  curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18951/verify
  taskset -c 0 wrk -t1 -c64 -d2s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18951/verify > /dev/null
  if [ "$4" -gt 60 ]; then
    ( for i in $(seq 0 15 $4); do echo "$i $(grep VmRSS /proc/$pid/status | awk '{print $2}')"; sleep 15; done ) > $OUT/$1.rss &
  fi
  taskset -c 0 wrk --latency -t1 -c64 -d${4}s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18951/verify > $OUT/$1.wrk
  echo "$1 $(grep Requests/sec $OUT/$1.wrk) $(grep -A0 '99%' $OUT/$1.wrk) rss_kb=$(grep VmRSS /proc/$pid/status | awk '{print $2}') hwm_kb=$(grep VmHWM /proc/$pid/status | awk '{print $2}') lines=$(grep -c '"decision"' $OUT/$1.log) load=$(cut -d' ' -f1 /proc/loadavg)"
  kill $pid; wait $pid 2>/dev/null
}
for round in 1 2; do
  run off-$round off 1.0 10
  run all-$round all 1.0 10
  run sampled-$round all 0.01 10
done
run long-all all 1.0 ${LONG:-180}
cat $OUT/long-all.rss
kill $DEVPID
