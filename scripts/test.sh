#!/usr/bin/env bash
# The one test command: formatting, the whole workspace's tests on both
# stores (SQLite always, PostgreSQL started if none answers, and a
# primary + hot standby pair started under target/pg-standby/).
set -euo pipefail
cd "$(dirname "$0")/.."
export FINELINE_TEST_DATABASE_URL="$(bash scripts/ensure-postgres.sh)"
echo "test.sh: PostgreSQL at $FINELINE_TEST_DATABASE_URL"
# A primary and hot standby of its own (loopback 55433/55434) for the
# reads a standby serves (crates/app/tests/standby.rs).
pair="$(bash scripts/ensure-standby.sh)"
read -r FINELINE_TEST_PRIMARY_URL FINELINE_TEST_STANDBY_URL <<<"$pair"
export FINELINE_TEST_PRIMARY_URL FINELINE_TEST_STANDBY_URL
echo "test.sh: primary $FINELINE_TEST_PRIMARY_URL, hot standby $FINELINE_TEST_STANDBY_URL"
# Tests run in throwaway fl_test_* schemas; drop any a crashed run left.
if command -v psql >/dev/null 2>&1; then
  for url in "$FINELINE_TEST_DATABASE_URL" "$FINELINE_TEST_PRIMARY_URL"; do
    psql -q "$url" -At -c \
      "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE nspname LIKE 'fl\_test\_%'" \
      | psql -q "$url" >/dev/null 2>&1 || true
  done
fi
cargo fmt --all --check
# The browser client of the persona against the shared vectors (Node, ~2 s).
if [ -x tests/persona-js/run.sh ]; then tests/persona-js/run.sh; fi
cargo test --workspace --all-targets
if [ -x tests/browser/run.sh ]; then tests/browser/run.sh; fi
