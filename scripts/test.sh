#!/usr/bin/env bash
# The one test command: formatting, the whole workspace's tests on both
# stores (SQLite always, PostgreSQL started if none answers).
set -euo pipefail
cd "$(dirname "$0")/.."
export FINELINE_TEST_DATABASE_URL="$(bash scripts/ensure-postgres.sh)"
echo "test.sh: PostgreSQL at $FINELINE_TEST_DATABASE_URL"
# Tests run in throwaway fl_test_* schemas; drop any a crashed run left.
if command -v psql >/dev/null 2>&1; then
  psql -q "$FINELINE_TEST_DATABASE_URL" -At -c \
    "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE nspname LIKE 'fl\_test\_%'" \
    | psql -q "$FINELINE_TEST_DATABASE_URL" >/dev/null 2>&1 || true
fi
cargo fmt --all --check
# The browser client of the persona against the shared vectors (Node, ~2 s).
if [ -x tests/persona-js/run.sh ]; then tests/persona-js/run.sh; fi
cargo test --workspace --all-targets
if [ -x tests/browser/run.sh ]; then tests/browser/run.sh; fi
