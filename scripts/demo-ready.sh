#!/usr/bin/env bash
# Time from `fineline serve --demo` starting on an empty data dir to its
# "fineline demo shop at" banner (the shop seeded through the API and the
# recommender trained), as docs/benchmarks.md records it. Usage:
#   scripts/demo-ready.sh [CUSTOMERS]   (default: serve's 10,000)
# Uses target/release/fineline (FINELINE_BIN to override).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${FINELINE_BIN:-target/release/fineline}"
[ -x "$bin" ] || cargo build --release -q -p fineline
data="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
args=(serve --demo --data-dir "$data" --listen "127.0.0.1:$port")
[ -n "${1:-}" ] && args+=(--demo-customers "$1")
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
FINELINE_LOG=warn "$bin" "${args[@]}" >"$data/out" 2>"$data/err" &
pid=$!
until grep -q "fineline demo shop at" "$data/out" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$data/err" >&2; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
sed -n '2,3p' "$data/out"
printf 'process start to banner: %.1f s\n' "$(echo "$end - $start" | bc)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
