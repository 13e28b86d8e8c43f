#!/usr/bin/env bash
# The browser client of the persona against the shared vectors, in Node
# (>= 20; built-ins only, nothing to install): persona.js must reproduce
# every vector the Rust reference client wrote into
# crates/persona/tests/vectors/persona-v1.json (vectors.test.mjs), plus the
# rules the vectors do not pin, receipts and the store (the other *.test.mjs).
# When `chromium` is on PATH, the same vectors and a real IndexedDB are
# then checked in headless Chromium under the privacy center's CSP
# (chromium.mjs); PERSONA_JS_CHROMIUM=0 skips that.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node --test "$here/"
if [ "${PERSONA_JS_CHROMIUM:-1}" != 0 ] && command -v chromium >/dev/null 2>&1; then
  node "$here/chromium.mjs" 2>/dev/null
else
  echo "persona-js: headless Chromium check not run (no chromium on PATH, or PERSONA_JS_CHROMIUM=0)"
fi
