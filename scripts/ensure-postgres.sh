#!/usr/bin/env bash
# Make a PostgreSQL answer for the test suite and print its URL.
#
# Uses FINELINE_TEST_DATABASE_URL if set, else the local server on
# 127.0.0.1:5432 (database `test`, trust auth) when one answers, else
# installs PostgreSQL from Debian's packages if missing and starts a
# throwaway trust-auth cluster on port 55432 under target/.
set -euo pipefail
log() { echo "ensure-postgres: $*" >&2; }

if [ -n "${FINELINE_TEST_DATABASE_URL:-}" ]; then
  echo "$FINELINE_TEST_DATABASE_URL"; exit 0
fi

answers() { # host port
  if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -h "$1" -p "$2"
  else (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; fi
}

if answers 127.0.0.1 5432; then
  echo "postgres://postgres@127.0.0.1:5432/test"; exit 0
fi

. "$(dirname "$0")/pg-lib.sh"
bindir=$(pg_bindir)
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/target/pg-test/data"
port=55432
pg_runas
if ! answers 127.0.0.1 $port; then
  rm -rf "$root/target/pg-test"; mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown -R postgres "$root/target/pg-test"
  log "starting a throwaway cluster on $port"
  "${runas[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  "${runas[@]}" "$bindir/pg_ctl" -D "$data" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -l "$root/target/pg-test/log" -w start >/dev/null
  "${runas[@]}" "$bindir/createdb" -h 127.0.0.1 -p $port -U postgres test
fi
echo "postgres://postgres@127.0.0.1:$port/test"
