#!/usr/bin/env bash
# The analytic store's tests with its DataFusion engine (not in the
# workspace's test command yet: DataFusion adds ~20 min to a cold 2-core
# build; see docs/benchmarks.md). Run it after changing crates/analytics.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p fineline-analytics --features engine --all-targets "$@"
