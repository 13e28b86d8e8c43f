#!/usr/bin/env bash
# The one test command: formatting, the whole workspace's tests on both
# stores (SQLite always, PostgreSQL started if none answers).
set -euo pipefail
cd "$(dirname "$0")/.."
export FINELINE_TEST_DATABASE_URL="$(bash scripts/ensure-postgres.sh)"
echo "test.sh: PostgreSQL at $FINELINE_TEST_DATABASE_URL"
cargo fmt --all --check
cargo test --workspace --all-targets
if [ -x tests/browser/run.sh ]; then tests/browser/run.sh; fi
