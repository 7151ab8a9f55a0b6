#!/usr/bin/env bash
# The soak run: a long mixed read/write load at half the measured peak, every answer
# verified against the dataset's oracle, the server's resident memory sampled
# throughout. Builds the server and the load generator, starts a fresh embedded (bolt)
# `pemba serve` on free loopback ports (pprof off, the server's defaults otherwise),
# loads the 100k dataset, runs `pemba-bench --soak`, and stops the server.
#
#   bash bench/soak.sh            # 30 minutes
#   bash bench/soak.sh 2m         # a short one
#   bash bench/soak.sh 30m --soak-rate 2000   # ARGS after the duration go to pemba-bench
#
# Environment: PEMBA_SOAK_SIZE (dataset size, default 100000: a 1M dataset takes
# several minutes to import and sweep on a 2-core machine, and the soak is about
# staying steady, not about size), PEMBA_SOAK_CONCURRENCY (workers, default 32),
# PEMBA_SOAK_MEMORY_LIMIT (the server's --memory-limit, default 224Mi, as a container
# with that limit would run it; 0 for none).
#
# Writes bench/results/soak-<duration>.json (the report with the memory time series)
# and bench/out/soak-<duration>/{result.txt,server.log,build.txt}. Exits non-zero
# on any error, any mismatch or memory that did not stay flat.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

dur="${1:-30m}"
[ $# -gt 0 ] && shift
case "$dur" in -h|--help) sed -n '2,21p' "$0"; exit 0 ;; esac
size="${PEMBA_SOAK_SIZE:-100000}"
conc="${PEMBA_SOAK_CONCURRENCY:-32}"
memlimit="${PEMBA_SOAK_MEMORY_LIMIT:-224Mi}"
out="bench/out/soak-$dur"
result="bench/results/soak-$dur.json"
rm -rf "$out"
mkdir -p "$out/bin" bench/results

echo "== building" >&2
{ git rev-parse HEAD 2>/dev/null || echo "not a git checkout"; git status --porcelain 2>/dev/null | sed 's/^/changed: /'; } >"$out/build.txt"
go build -o "$out/bin/pemba" ./cmd/pemba
go build -o "$out/bin/pemba-bench" ./bench/cmd/pemba-bench

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
grpc="127.0.0.1:$(port)" http="127.0.0.1:$(port)"

args=(serve --grpc-addr "$grpc" --http-addr "$http" --datastore bolt --datastore-path "$out/data" --log-level warn --memory-limit "$memlimit")
echo "== starting pemba ${args[*]}" >&2
"$out/bin/pemba" "${args[@]}" >"$out/server.log" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  rm -rf "$out/data"
}
trap stop EXIT

status=0
"$out/bin/pemba-bench" --target "$grpc" --size "$size" --concurrency "$conc" --soak "$dur" \
  --server-pid "$pid" --metrics-addr "$http" --json "$result" --label "bolt soak" "$@" | tee "$out/result.txt" || status=$?
echo "== report in $result (exit $status)" >&2
exit "$status"
