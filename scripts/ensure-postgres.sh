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

find_bin() {
  local b
  b=$(command -v "$1" 2>/dev/null || true)
  [ -z "$b" ] && b=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1 || true)
  echo "$b"
}

initdb=$(find_bin initdb)
if [ -z "$initdb" ]; then
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  initdb=$(find_bin initdb)
fi
bindir=$(dirname "$initdb")
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/target/pg-test/data"
port=55432
runas=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd -r -m postgres
  runas=(runuser -u postgres --)
fi
if ! answers 127.0.0.1 $port; then
  rm -rf "$root/target/pg-test"; mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown -R postgres "$root/target/pg-test"
  log "starting a throwaway cluster on $port"
  "${runas[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  "${runas[@]}" "$bindir/pg_ctl" -D "$data" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -l "$root/target/pg-test/log" -w start >/dev/null
  "${runas[@]}" "$bindir/createdb" -h 127.0.0.1 -p $port -U postgres test
fi
echo "postgres://postgres@127.0.0.1:$port/test"
