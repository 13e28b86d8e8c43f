#!/usr/bin/env bash
# The privacy center and the business console in real headless Chromium
# (Debian's), driven by playwright-core: start the fineline binary on a free
# loopback port with a temporary data dir, seed the demo shop (which
# publishes the demo policy), issue a subject token with the CLI, then run
# privacy.spec.mjs, console.spec.mjs, shop.spec.mjs and kiosk.spec.mjs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if ! command -v chromium >/dev/null 2>&1; then
  echo "browser: installing Debian's chromium" >&2
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --silent)
fi

bin="${FINELINE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p fineline
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/fineline"
fi

data="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"
admin="$("$bin" keys create --role admin --data-dir "$data")"
# The demo shop the tour's screenshots show. FINELINE_DEMO_CUSTOMERS
# (default: serve's 10,000) makes a smaller one for a quick local run.
FINELINE_LOG=warn "$bin" serve --demo --data-dir "$data" --listen "127.0.0.1:$port" >"$data/stdout" 2>"$data/stderr" &
server_pid=$!
started=$SECONDS
for _ in $(seq 1 3000); do
  if grep -q "fineline demo shop at" "$data/stdout" 2>/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$data/stderr" >&2; echo "browser: server exited" >&2; exit 1; fi
  sleep 0.1
done
grep -q "fineline demo shop at" "$data/stdout" || { echo "browser: server did not start" >&2; exit 1; }
echo "browser: demo shop ready after $((SECONDS - started)) s: $(grep -m1 'customers' "$data/stdout" | sed 's/^ *//')"

# A person the demo shop has never seen: everything they hold comes from
# what the test does.
token="$("$bin" tokens issue --subject "browser-test@example.com" --ttl 30m --data-dir "$data")"

failed=0
# Screenshots for docs/tour.md land beside it (committed, rewritten by every run).
tour="$root/docs/tour"
mkdir -p "$tour"
BASE="$base" TOKEN="$token" ADMIN="$admin" SUBJECT="browser-test@example.com" TOUR="$tour" \
  node "$here/privacy.spec.mjs" || failed=1

# The business console: screenshots land in target/browser-screenshots/.
analyst="$("$bin" keys create --role analyst --data-dir "$data")"
BASE="$base" ADMIN="$admin" ANALYST="$analyst" SHOTS="$root/target/browser-screenshots" TOUR="$tour" \
  node "$here/console.spec.mjs" || failed=1

# The demo storefront (issue 18): on-device recommendations, the level
# chooser and the network log of what leaves at each level.
BASE="$base" SHOTS="$root/target/browser-screenshots" TOUR="$tour" \
  node "$here/shop.spec.mjs" || failed=1

# The in-store check-in kiosk (issue 18): the rotating code, the key kept
# out of URLs, a check-in with the code shown.
BASE="$base" ADMIN="$admin" SHOTS="$root/target/browser-screenshots" \
  node "$here/kiosk.spec.mjs" || failed=1
exit "$failed"
