#!/usr/bin/env bash
# The analytic dataset on an S3-compatible bucket: starts a local S3 server
# (moto, from PyPI) on loopback, makes a bucket, runs the dataset's S3 test
# (crates/analytics/tests/s3.rs) against it, and stops the server. Not in
# the test command: it needs PyPI, and the directory store covers the same
# code paths above object_store.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${FINELINE_S3_TEST_PORT:-55500}"
if ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install --quiet "moto[server]"
fi
moto_server -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs -X PUT "http://127.0.0.1:$port/fineline-test" >/dev/null
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
export FINELINE_TEST_S3_URL="s3://fineline-test/datasets"
cargo test --workspace --test s3 -- --nocapture "$@"
