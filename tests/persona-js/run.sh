#!/usr/bin/env bash
# The browser client of the persona against the shared vectors, in Node
# (>= 20; built-ins only, nothing to install): persona.js must reproduce
# every vector the Rust reference client wrote into
# crates/persona/tests/vectors/persona-v1.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec node --test "$here/"
