#!/usr/bin/env bash
# Property-based API testing of a real server against its own OpenAPI
# document (not part of CI): every generated request must get no 5xx, a
# documented status code and content type, a body matching the documented
# schema, 401 without credentials where the document asks for them, and
# 4xx for requests the schema forbids.
#   scripts/schemathesis.sh [max-examples-per-operation] [st run options...]
# Starts `fineline serve --demo` on a temp data dir and a free loopback
# port, with an admin API key, and stops it afterwards. Checks and their
# few exceptions: scripts/schemathesis.toml. Reports: target/schemathesis/.
# FINELINE_BIN=path tests that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-50}"
version=4.32.5
venv=bench/.venv-schemathesis
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

bin="${FINELINE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p fineline
  bin="${CARGO_TARGET_DIR:-target}/debug/fineline"
fi
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
report="target/schemathesis"
mkdir -p "$report"
admin="$("$bin" keys create --role admin --data-dir "$data")"
# A small shop: the schema test needs every route, not 10,000 customers.
"$bin" serve --demo --demo-customers 1000 --data-dir "$data" --listen "127.0.0.1:$port" --recs-train-every 0 \
  >"$report/server.out" 2>"$report/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 300); do
  grep -q "fineline demo shop" "$report/server.out" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$report/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null

"$venv/bin/st" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --url "$base" \
  -H "Authorization: Bearer $admin" \
  --max-examples "$examples" \
  --seed 8 \
  --workers 2 \
  --request-timeout 30 \
  --report junit,ndjson --report-dir "$report" \
  --suppress-health-check all \
  --no-color "${@:2}"
