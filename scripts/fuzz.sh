#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (not part of CI).
#   scripts/fuzz.sh [seconds-per-target] [target...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Seeds in fuzz/corpus/<target> are read, never written: what libFuzzer
# finds goes to fuzz/target/corpus/<target>, crashes to
# fuzz/artifacts/<target>. Exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(tcf_decode event_batch sightings_csv receipt_verify)
fi
# Fuzz builds (sanitizer flags, nightly) stay out of the shared target dir.
export CARGO_TARGET_DIR="$PWD/fuzz/target"
# Built once, then the binaries are run directly: `cargo fuzz run` would
# rebuild whenever the tree changed in between, eating the time budget.
# FUZZ_SKIP_BUILD=1 runs the binaries of the last build.
if [ -z "${FUZZ_SKIP_BUILD:-}" ]; then
  cargo +nightly fuzz build --fuzz-dir fuzz --features server
fi
bins="$CARGO_TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
export ASAN_OPTIONS="detect_odr_violation=0"
failed=()
for t in "${targets[@]}"; do
  work="fuzz/target/corpus/$t"
  mkdir -p "$work"
  echo "fuzz.sh: $t for ${secs}s"
  mkdir -p "fuzz/artifacts/$t"
  if ! "$bins/$t" "$work" "fuzz/corpus/$t" \
      -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>"fuzz/target/$t.log"; then
    failed+=("$t")
    tail -40 "fuzz/target/$t.log"
  fi
  grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "fuzz/target/$t.log" || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: no crashes in ${targets[*]} (${secs}s each)"
