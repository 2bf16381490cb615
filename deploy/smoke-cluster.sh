#!/usr/bin/env bash
# Brings deploy/compose/cluster up and proves its claims (docs/deploy.md, "What was tested"):
# traffic through both collectors; a collector and a ClickHouse replica killed mid-load and
# restarted; every acknowledged span stored exactly once; `vigil migrate` a no-op the second
# time. Needs a Docker engine with compose; without one it says so and exits 0 (skipped).
#   deploy/smoke-cluster.sh            (1 shard x 2 replicas)
#   COMPOSE_PROFILES=2x2 deploy/smoke-cluster.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1 || ! docker compose version >/dev/null 2>&1; then
  echo "smoke-cluster: SKIPPED: no Docker engine with compose on this machine; nothing was run"
  exit 0
fi

cd "$here/compose/cluster"
if [ ! -f .env ]; then
  rand() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40; }
  printf 'VIGIL_CLICKHOUSE_PASSWORD=%s\nGRAFANA_CLICKHOUSE_PASSWORD=%s\nVIGIL_AUTH_SECRET=%s\nVIGIL_SESSION_SECRET=%s\n' \
    "$(rand)" "$(rand)" "$(rand)" "$(rand)" > .env
fi
dc() { docker compose "$@"; }
ch() { dc exec -T ch-s1r1 clickhouse-client --user vigil --password "$(grep VIGIL_CLICKHOUSE_PASSWORD .env | cut -d= -f2)" --query "$1"; }
wait_ready() {  # $1: host port of a collector's OTLP/HTTP
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$1/ready" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "smoke-cluster: FAILED: collector on :$1 not ready" >&2; exit 1
}
cleanup() { dc down -v >/dev/null 2>&1 || true; }
trap cleanup EXIT

dc build
dc up -d
wait_ready 4318
wait_ready 14318
key="$(dc exec -T query vigil keys create --scopes ingest,read --name smoke \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')"

echo "smoke-cluster: load through both collectors; killing collector-2 and ch-s1r2 mid-load"
vigil_sim() {  # $1: a collector service, $2: output file, $3: seed; the simulator runs on the compose network
  dc run --rm -T --no-deps -e VIGIL_API_KEY="$key" --entrypoint vigil query \
    simulate --endpoint "$1:4317" --rate 50 --duration 90 --seed "$3" --quiet > "$2" || true
}
vigil_sim collector-1 /tmp/vigil-smoke-1.json 1 &
a=$!
vigil_sim collector-2 /tmp/vigil-smoke-2.json 2 &
b=$!
sleep 30
dc kill -s SIGKILL collector-2 ch-s1r2
sleep 10
dc start ch-s1r2 collector-2
wait $a $b

wait_ready 14318
acked=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["spans_acknowledged"] for f in sys.argv[1:]))' \
  /tmp/vigil-smoke-1.json /tmp/vigil-smoke-2.json)
# Every collector's log drained: /ready reports the backlog; poll until both are empty.
for _ in $(seq 1 120); do
  stored=$(ch "SELECT count() FROM otel.otel_traces")
  [ "$stored" -ge "$acked" ] && break
  sleep 2
done
unique=$(ch "SELECT uniqExact(TraceId, SpanId) FROM otel.otel_traces")
echo "smoke-cluster: acknowledged $acked, stored $stored, distinct $unique"
[ "$stored" -eq "$unique" ] || { echo "smoke-cluster: FAILED: duplicates stored" >&2; exit 1; }
[ "$unique" -ge "$acked" ] || { echo "smoke-cluster: FAILED: acknowledged spans missing" >&2; exit 1; }

echo "smoke-cluster: vigil migrate a second time"
before=$(ch "SELECT count() FROM otel.vigil_schema_migrations")
dc run --rm --no-deps migrate
after=$(ch "SELECT count() FROM otel.vigil_schema_migrations")
[ "$before" -eq "$after" ] || { echo "smoke-cluster: FAILED: migrate applied something again" >&2; exit 1; }
echo "smoke-cluster: PASSED"
