#!/usr/bin/env bash
# Export latency from the primary vs from a hot standby, and the
# standby's lag under ingestion load (docs/benchmarks.md, issue 16).
#
#   scripts/bench-standby.sh [FINELINE_BINARY] [EXPORTS] [EVENTS] [INGEST_EVENTS]
#
# Starts the pair with scripts/ensure-standby.sh; in a fresh schema seeds
# the demo shop (50 customers) and one person with EVENTS events (default
# 10,000); times EXPORTS exports (default 50) of that person through
# `fineline serve` without, then with --read-database-url; then runs
# `fineline bench ingest --events INGEST_EVENTS` (default 200,000) against
# the primary while sampling pg_stat_replication every 100 ms and
# exporting through the standby server without pause.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/fineline}")
n=${2:-50}
events=${3:-10000}
ingest_events=${4:-200000}
read -r primary standby <<<"$(bash scripts/ensure-standby.sh)"
schema=fl_bench_standby_$$
psql -qAtX "$primary" -c "CREATE SCHEMA $schema"
dir=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  psql -qAtX "$primary" -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
opt="options=-c%20search_path%3D$schema"
p_url="$primary?$opt" s_url="$standby?$opt"
port=18931 base=http://127.0.0.1:18931

serve() { # extra args...
  FINELINE_LOG=warn "$bin" serve --data-dir "$dir" --database-url "$p_url" \
    --listen 127.0.0.1:$port --recs-train-every 0 "$@" >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 1 1200); do
    curl -sf "$base/healthz" >/dev/null && { [ "$1" != --demo ] || grep -q "ingest key" "$dir/out"; } && return
    sleep 0.1
  done
  echo "server did not start: $(cat "$dir/err")" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

serve --demo --demo-customers 50
admin=$(sed -n 's/^ *admin key: *//p' "$dir/out")
ingest=$(sed -n 's/^ *ingest key: *//p' "$dir/out")
who=bench-export@example.com
curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"source": "api", "grant": ["personalization"]}' "$base/v1/subjects/$who/consents" >/dev/null
now=$(($(date +%s) * 1000 + 1000)) # after the grant: consent is checked at each event's time
awk -v n="$events" -v who="$who" -v t="$now" 'BEGIN { for (i = 0; i < n; i++)
  printf "{\"subject_id\":\"%s\",\"type\":\"view\",\"item\":\"sku-%05d\",\"timestamp\":%d,\"purpose\":\"personalization\",\"properties\":{\"page\":%d}}\n",
    who, 100 + i % 500, t + int(i / 100), i }' >"$dir/events.ndjson"
"$bin" import "$dir/events.ndjson" --server "$base" --key "$ingest" 2>&1 | tail -2

time_exports() { # label
  local bytes
  bytes=$(curl -sf -H "Authorization: Bearer $admin" "$base/v1/subjects/$who/export" | wc -c)
  for _ in $(seq 1 "$n"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $admin" \
      "$base/v1/subjects/$who/export"
  done | sort -n | awk -v label="$1" -v bytes="$bytes" '{ t[NR] = $1 * 1000 } END {
    printf "%s: %d exports of %d bytes: p50 %.1f ms, p90 %.1f ms, max %.1f ms\n",
      label, NR, bytes, t[int(NR * 0.5 + 0.5)], t[int(NR * 0.9 + 0.5)], t[NR] }'
}
time_exports "primary"
stop
serve --read-database-url "$s_url"
time_exports "standby"
curl -sf "$base/metrics" | grep '^fineline_standby'
stop

# Lag under ingestion (bench ingest makes its own schema on the primary;
# the WAL, and so the standby's lag, is the cluster's), with exports
# through the standby server running meanwhile.
serve --read-database-url "$s_url"
(
  while :; do
    psql -qAtX "$primary" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),
      COALESCE(EXTRACT(EPOCH FROM replay_lag) * 1000, 0) FROM pg_stat_replication" || true
    sleep 0.1
  done
) >"$dir/lag" &
sampler=$!
"$bin" bench ingest --database-url "$primary" --events "$ingest_events" >"$dir/ingest" 2>&1 &
bench=$!
while kill -0 $bench 2>/dev/null; do
  curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $admin" \
    "$base/v1/subjects/$who/export" >>"$dir/during"
done
kill $sampler
grep -E "events/s|benchmark:" "$dir/ingest"
sort -n "$dir/during" | awk '{ t[NR] = $1 * 1000 } END {
  printf "exports during ingestion: %d, p50 %.1f ms, p90 %.1f ms, max %.1f ms\n",
    NR, t[int(NR * 0.5 + 0.5)], t[int(NR * 0.9 + 0.5)], t[NR] }'
curl -sf "$base/metrics" | grep '^fineline_standby_reads'
sort -t'|' -k1,1n "$dir/lag" | awk -F'|' '{ b[NR] = $1 } END {
  printf "lag bytes over %d samples: p50 %d, p99 %d, max %d\n", NR, b[int(NR*0.5+0.5)], b[int(NR*0.99+0.5)], b[NR] }'
sort -t'|' -k2,2n "$dir/lag" | awk -F'|' '{ s[NR] = $2 } END {
  printf "replay lag ms: p50 %.1f, p99 %.1f, max %.1f\n", s[int(NR*0.5+0.5)], s[int(NR*0.99+0.5)], s[NR] }'
