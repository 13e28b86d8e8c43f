# Shared by ensure-postgres.sh and ensure-standby.sh (sourced, not run):
# finding PostgreSQL's server programs, installing them when missing, and
# running them as the `postgres` user when we are root (initdb refuses root).

# The directory holding initdb, pg_ctl, pg_isready, psql and pg_basebackup.
# Debian keeps the server programs in /usr/lib/postgresql/N/bin (only
# wrappers are on PATH), so the newest such directory comes first.
pg_bindir() {
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)
  [ -z "$b" ] && b=$(command -v initdb 2>/dev/null || true)
  if [ -z "$b" ]; then
    echo "${0##*/}: installing PostgreSQL from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    b=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)
  fi
  [ -n "$b" ] || { echo "${0##*/}: no initdb after installing PostgreSQL" >&2; return 1; }
  dirname "$b"
}

# Sets the array `runas`: empty, or `runuser -u postgres --` when root.
pg_runas() {
  runas=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd -r -m postgres
    runas=(runuser -u postgres --)
  fi
}
