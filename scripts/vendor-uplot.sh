#!/usr/bin/env bash
# Vendor uPlot (MIT) into the console's embedded assets. The console never
# loads anything from another host, so the chart library is copied into
# crates/server/assets/console/vendor/ and compiled into the binary.
#
# Pinned version and the sha256 of its npm tarball: a changed tarball fails
# the script instead of landing silently. To upgrade, change both, run this,
# and commit the vendored files.
set -euo pipefail
VERSION=1.6.32
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/crates/server/assets/console/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "uplot@$VERSION" >/dev/null)
tarball="$work/uplot-$VERSION.tgz"
actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$actual" != "$SHA256" ]; then
  echo "vendor-uplot: sha256 mismatch for uplot@$VERSION: expected $SHA256, got $actual" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"
mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$dest/"
cp "$work/package/LICENSE" "$dest/uPlot.LICENSE"
echo "vendor-uplot: uplot@$VERSION copied to ${dest#"$root"/}"
