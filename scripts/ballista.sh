#!/usr/bin/env bash
# Insights on an Apache Ballista cluster, on loopback: builds fineline with
# the `ballista` feature (cached in target/ballista), starts a scheduler and
# two executors (`fineline analytics scheduler|executor`) over one dataset
# directory, runs the tests that need a cluster against them, checks that
# both executors ran tasks, then kills the executors and checks that a
# query fails at its deadline instead of hanging. Stops everything on exit.
#
#   scripts/ballista.sh            the tests (PROPTEST_CASES=24 by default)
#   scripts/ballista.sh start      only start the cluster and print its env
#   scripts/ballista.sh bench ARGS `fineline bench insights --analytics ARGS`
#                                  with 1 and then 2 executors, each engine
#                                  in the same run (ARGS e.g. --rows 10000000
#                                  --database-url postgres://… for the
#                                  PostgreSQL path too, or --analytics-only;
#                                  ENGINES=in-process leaves out the plan
#                                  run in-process, which holds its sorts in
#                                  memory)
#
# Not part of the test command: the first build takes tens of minutes on 2
# cores (Ballista, and DataFusion's default features it turns on).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="$root/target/ballista"
run="$root/target/ballista-run"
mode="${1:-test}"
[ $# -gt 0 ] && shift

# One cargo selection for the binary and the tests: building a different
# set of packages unifies DataFusion's features differently and rebuilds
# the whole stack (tens of minutes) for the test binaries.
sel=(--release -p fineline -p fineline-analytics -p fineline-app
  --features fineline/ballista,fineline-analytics/ballista,fineline-app/ballista)
cargo build "${sel[@]}" --bin fineline --test ballista --test same_answers --test analytics
bin="$CARGO_TARGET_DIR/release/fineline"

rm -rf "$run"
mkdir -p "$run/data" "$run/work1" "$run/work2"
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "ballista.sh: nothing listens on $1; see $run/*.log" >&2
  return 1
}

FINELINE_LOG=info "$bin" analytics scheduler --analytics "$run/data" \
  --listen 127.0.0.1:50050 >"$run/scheduler.log" 2>&1 &
pids+=($!)
wait_port 50050

# Executor N: Flight on 500N1, gRPC on 500N2, one core each (the machine
# has two), its own work directory for shuffle files.
executor() {
  FINELINE_LOG=info "$bin" analytics executor --analytics "$run/data" \
    --scheduler 127.0.0.1:50050 --flight-port "50${1}51" --grpc-port "50${1}52" \
    --vcores "${VCORES:-1}" --work-dir "$run/work$1" >"$run/executor$1.log" 2>&1 &
  pids+=($!)
  eval "executor$1=$!"
  wait_port "50${1}51"
}
executor 0
executors=1
if [ "$mode" != "bench" ]; then
  executor 1
  executors=2
fi
sleep 1

export FINELINE_TEST_BALLISTA_URL="ballista://127.0.0.1:50050"
export FINELINE_TEST_BALLISTA_DATA="$run/data"
echo "ballista.sh: scheduler 127.0.0.1:50050, $executors executor(s), dataset $run/data"

case "$mode" in
start)
  echo "FINELINE_TEST_BALLISTA_URL=$FINELINE_TEST_BALLISTA_URL"
  echo "FINELINE_TEST_BALLISTA_DATA=$FINELINE_TEST_BALLISTA_DATA"
  echo "ballista.sh: running until interrupted"
  wait
  ;;
bench)
  bench() {
    "$bin" bench insights --analytics --analytics-dir "$run/data" \
      --analytics-engines "${ENGINES:-in-process,plan},$FINELINE_TEST_BALLISTA_URL" "$@"
  }
  echo "== 1 executor"
  bench "$@"
  executor 1
  sleep 2
  echo "== 2 executors"
  bench "$@"
  # Peak resident memory of each cluster process (VmHWM), not just its
  # size at the end: an executor's peak is during a shuffle.
  for p in "${pids[@]}"; do
    awk -v what="$(tr '\0' ' ' <"/proc/$p/cmdline" | cut -d' ' -f2-3)" \
      '/^VmHWM|^VmRSS/ {printf "%s %.0f MiB  ", $1, $2/1024} END {print what}' "/proc/$p/status"
  done
  ;;
test)
  export PROPTEST_CASES="${PROPTEST_CASES:-24}"
  # One dataset directory for every test: one test at a time.
  cargo test "${sel[@]}" --test ballista --test same_answers -- --test-threads=1
  cargo test "${sel[@]}" --test analytics on_a_ballista_cluster -- --test-threads=1
  for n in 0 1; do
    tasks=$(grep -ci 'task' "$run/executor$n.log" || true)
    echo "ballista.sh: executor $n logged $tasks task lines"
    [ "$tasks" -gt 0 ] || { echo "ballista.sh: executor $n ran no task" >&2; exit 1; }
  done
  # The engine's known gap: with every executor gone the scheduler keeps
  # the job waiting. fineline's deadline turns that into a 503.
  kill "$executor0" "$executor1"
  sleep 1
  FINELINE_TEST_BALLISTA_EXECUTORS_GONE=1 cargo test "${sel[@]}" --test ballista \
    a_cluster_without_executors -- --test-threads=1
  echo "ballista.sh: passed"
  ;;
*)
  echo "usage: scripts/ballista.sh [test|start|bench ARGS]" >&2
  exit 2
  ;;
esac
