#!/usr/bin/env bash
# A throwaway PostgreSQL primary and hot standby (streaming replication)
# on loopback, for the tests of reads served by a standby. Prints one
# line: "PRIMARY_URL STANDBY_URL".
#
# Both clusters live under target/pg-standby/ (trust auth, replication
# connections included, loopback only): the primary on 55433 with
# wal_level=replica and a physical replication slot, the standby on
# 55434 made with `pg_basebackup -R` from that slot, hot_standby=on.
# Idempotent: clusters that answer are left alone, stopped ones are
# started, a standby that cannot follow its primary (the primary was
# made again) is cloned again. Never touches the machine's own cluster
# (5432) or its configuration. Ports: FINELINE_STANDBY_PORTS="P S".
set -euo pipefail
log() { echo "ensure-standby: $*" >&2; }

read -r pport sport <<<"${FINELINE_STANDBY_PORTS:-55433 55434}"
url() { echo "postgres://postgres@127.0.0.1:$1/test"; }
root="$(cd "$(dirname "$0")/.." && pwd)"
base="$root/target/pg-standby"
primary="$base/primary"
standby="$base/standby"
slot=fineline_standby

. "$(dirname "$0")/pg-lib.sh"
bin=$(pg_bindir)
initdb="$bin/initdb"
pg_runas
pg() { "${runas[@]}" "$@"; }
answers() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$1"; }
sql() { # port statement
  "$bin/psql" -qAtX -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"
}

# Settings passed at every start (the data directories keep the
# defaults initdb wrote): loopback only, sockets beside the data.
opts() { # port
  echo "-p $1 -k $base -c listen_addresses=127.0.0.1 -c wal_level=replica" \
       "-c max_wal_senders=8 -c max_replication_slots=8 -c hot_standby=on" \
       "-c hot_standby_feedback=on -c wal_receiver_status_interval=1s"
}
start() { # datadir port
  pg "$bin/pg_ctl" -D "$1" -o "$(opts "$2")" -l "$1.log" -w -t 30 start >/dev/null
}

make_primary() {
  log "making a primary on $pport"
  [ -d "$primary" ] && pg "$bin/pg_ctl" -D "$primary" -m immediate stop >/dev/null 2>&1 || true
  [ -d "$standby" ] && pg "$bin/pg_ctl" -D "$standby" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$base"
  mkdir -p "$base"
  [ "$(id -u)" = 0 ] && chown postgres "$base"
  pg "$initdb" -D "$primary" -U postgres --auth=trust >/dev/null
  # Trust on loopback only, for ordinary and replication connections.
  pg tee "$primary/pg_hba.conf" >/dev/null <<'EOF'
local all         all                trust
host  all         all  127.0.0.1/32  trust
local replication all                trust
host  replication all  127.0.0.1/32  trust
EOF
}

if ! answers "$pport"; then
  [ -f "$primary/PG_VERSION" ] || make_primary
  if ! start "$primary" "$pport"; then
    log "the primary did not start ($primary.log); making it again"
    make_primary
    start "$primary" "$pport"
  fi
fi
if [ "$(sql "$pport" "SELECT pg_is_in_recovery()")" != f ]; then
  log "127.0.0.1:$pport answers but is not a primary"; exit 1
fi
[ "$(sql "$pport" "SELECT count(*) FROM pg_database WHERE datname = 'test'")" = 1 ] ||
  sql "$pport" "CREATE DATABASE test"
[ "$(sql "$pport" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" = 1 ] ||
  sql "$pport" "SELECT pg_create_physical_replication_slot('$slot')" >/dev/null

clone_standby() {
  log "cloning a hot standby on $sport (pg_basebackup -R, slot $slot)"
  [ -d "$standby" ] && pg "$bin/pg_ctl" -D "$standby" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$standby"
  pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$pport" -U postgres -D "$standby" \
    -R -S "$slot" -X stream -c fast
}
following() { # the standby replays from this primary's slot
  [ "$(sql "$sport" "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ] &&
    [ "$(sql "$pport" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" -ge 1 ]
}

if ! answers "$sport"; then
  [ -f "$standby/standby.signal" ] || clone_standby
  start "$standby" "$sport" || { clone_standby; start "$standby" "$sport"; }
fi
for _ in $(seq 1 50); do following && break; sleep 0.1; done
if ! following; then
  log "the standby does not stream from the primary; cloning it again"
  clone_standby
  start "$standby" "$sport"
  for _ in $(seq 1 100); do following && break; sleep 0.1; done
  following || { log "the standby still does not stream ($standby.log)"; exit 1; }
fi
# A test may have paused replay and died before resuming it.
sql "$sport" "SELECT pg_wal_replay_resume()" >/dev/null 2>&1 || true
echo "$(url "$pport") $(url "$sport")"
