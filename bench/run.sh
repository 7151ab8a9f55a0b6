#!/usr/bin/env bash
# Reproduce one row of the benchmark table in bench/README.md: build the server and the
# load generator, start `pemba serve` on a fresh store (embedded bolt, PostgreSQL or
# memory), load a dataset, run the workloads, and stop the server.
#
#   bench/run.sh --store bolt --size 1000000
#   bench/run.sh --store postgres --size 100000 --concurrency 1,8,32 --duration 10s
#   bench/run.sh --store memory --size 10000 --workloads health,check -- --conns 4
#
# Options (defaults in brackets):
#   --store bolt|postgres|memory   the server's datastore [bolt]
#   --size N                       dataset size in relationships [100000]
#   --seed N                       dataset seed [1]
#   --concurrency LIST             concurrency levels [1,8,32]
#   --duration D                   length of each run [10s]
#   --workloads LIST               workloads, or all [all]
#   --out DIR                      where results, profiles and logs go [bench/out/<store>-<size>]
#   --postgres-uri URI             server database for --store postgres; it is dropped and
#                                  created afresh [postgres://postgres@127.0.0.1:5432/pemba_bench?sslmode=disable]
#   --profile-workload LIST        workloads (or import) during which CPU and heap profiles are taken [check]
#   --nice N                       run the server and the load generator at this nice level
#                                  (negative needs root; gives them the CPU on a shared machine) [0]
#   -- ARGS                        passed on to pemba-bench
#
# Writes DIR/result.json, DIR/result.txt, DIR/cpu.pprof, DIR/heap.pprof, DIR/server.log and
# DIR/build.txt (the commit measured, and any uncommitted changes in the tree).
# The server listens on loopback only and is always stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

store=bolt size=100000 seed=1 concurrency=1,8,32 duration=10s workloads=all out="" profwl=check nice=0
pguri="postgres://postgres@127.0.0.1:5432/pemba_bench?sslmode=disable"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --store) store="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --postgres-uri) pguri="$2"; shift 2 ;;
    --profile-workload) profwl="$2"; shift 2 ;;
    --nice) nice="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$store" in bolt|postgres|memory) ;; *) echo "run.sh: --store must be bolt, postgres or memory, not $store" >&2; exit 2 ;; esac
out="${out:-bench/out/$store-$size}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
bin="$out/bin"
mkdir -p "$bin"

echo "== building" >&2
# The numbers belong to the code they were measured on.
{ git rev-parse HEAD 2>/dev/null || echo "not a git checkout"; git status --porcelain 2>/dev/null | sed 's/^/changed: /'; } >"$out/build.txt"
go build -o "$bin/pemba" ./cmd/pemba
go build -o "$bin/pemba-bench" ./bench/cmd/pemba-bench

# Free loopback ports for gRPC, HTTP and pprof.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
grpc="127.0.0.1:$(port)" http="127.0.0.1:$(port)" pprof="127.0.0.1:$(port)"

args=(serve --grpc-addr "$grpc" --http-addr "$http" --pprof-addr "$pprof" --log-level warn --gc-interval 0)
case "$store" in
  bolt)
    rm -rf "$out/data"
    args+=(--datastore bolt --datastore-path "$out/data") ;;
  memory)
    args+=(--datastore memory) ;;
  postgres)
    db="${pguri##*/}"; db="${db%%\?*}"
    admin="${pguri%/*}/postgres"
    case "$pguri" in *\?*) admin="$admin?${pguri#*\?}" ;; esac
    echo "== recreating database $db" >&2
    psql "$admin" -v ON_ERROR_STOP=1 -q -c "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\""
    "$bin/pemba" migrate --datastore-uri "$pguri"
    args+=(--datastore postgres --datastore-uri "$pguri") ;;
esac

echo "== starting pemba ${args[*]}" >&2
nice -n "$nice" "$bin/pemba" "${args[@]}" >"$out/server.log" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
trap stop EXIT

status=0
nice -n "$nice" "$bin/pemba-bench" --target "$grpc" --size "$size" --seed "$seed" --concurrency "$concurrency" \
  --duration "$duration" --workloads "$workloads" --server-pid "$pid" \
  --pprof-addr "$pprof" --profile-workload "$profwl" --cpuprofile "$out/cpu.pprof" --heapprofile "$out/heap.pprof" \
  --json "$out/result.json" --label "$store" ${extra[@]+"${extra[@]}"} | tee "$out/result.txt" || status=$?
echo "== results in $out (exit $status)" >&2
exit "$status"
