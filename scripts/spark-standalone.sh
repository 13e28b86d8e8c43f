#!/usr/bin/env bash
# The PipelineDP cross-check on Apache Spark as a cluster: a standalone
# master and two workers (one core and 4 GiB each) on loopback, started
# from the pyspark package's own Spark, then
# `scripts/pipelinedp-crosscheck.py DATASET_DIR` against them. Stops them
# on exit. Needs `pip install pyspark==4.3.0 pipeline-dp==0.3.1` and Java
# 17; not part of the test command (a benchmark, docs/benchmarks.md).
#
#   scripts/spark-standalone.sh DATASET_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: scripts/spark-standalone.sh DATASET_DIR" >&2; exit 2; }
home="$(python3 -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
run="$PWD/target/spark-run"
rm -rf "$run"
mkdir -p "$run"
export SPARK_HOME="$home" PYSPARK_PYTHON="$(command -v python3)"
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT

"$home/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host 127.0.0.1 --port 7077 --webui-port 8090 >"$run/master.log" 2>&1 &
pids+=($!)
for n in 1 2; do
  "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --cores 1 --memory 4g --webui-port "809$n" \
    --work-dir "$run/work$n" spark://127.0.0.1:7077 >"$run/worker$n.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 120); do
  [ "$(grep -c 'Registering worker' "$run/master.log" 2>/dev/null || true)" -ge 2 ] && break
  sleep 0.5
done
[ "$(grep -c 'Registering worker' "$run/master.log" || true)" -ge 2 ] ||
  { echo "spark-standalone.sh: two workers did not register; see $run/*.log" >&2; exit 1; }
echo "spark-standalone.sh: master spark://127.0.0.1:7077, 2 workers (1 core, 4 GiB each)"
# Peak resident memory by role, sampled every 2 s (an executor's JVM and
# the Python workers PipelineDP runs in are not children /usr/bin/time sees).
(
  while sleep 2; do
    ps -eo rss=,args= | awk '
      /deploy.master.Master/ {m += $1} /deploy.worker.Worker/ {w += $1}
      /CoarseGrainedExecutorBackend/ {e += $1} /pyspark.daemon|pyspark.worker/ {p += $1}
      END {printf "%d %d %d %d\n", m, w, e, p}'
  done
) >"$run/rss.txt" &
pids+=($!)
SPARK_MASTER=spark://127.0.0.1:7077 SPARK_EXECUTOR_MEMORY=3g \
  /usr/bin/time -v python3 scripts/pipelinedp-crosscheck.py "$1" 2>"$run/driver-time.txt"
grep -E 'Maximum resident|Elapsed' "$run/driver-time.txt" | sed 's/^\s*/driver (python): /'
echo "spark-standalone.sh: executors launched: $(grep -c 'Launching executor' "$run/master.log" || true) (one per worker expected)"
awk '{for (i = 1; i <= 4; i++) if ($i > max[i]) max[i] = $i}
  END {printf "peak resident: master %.0f MiB, workers %.0f MiB, executors %.0f MiB, their Python workers %.0f MiB (sums over processes)\n",
    max[1]/1024, max[2]/1024, max[3]/1024, max[4]/1024}' "$run/rss.txt"
