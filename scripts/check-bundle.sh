#!/usr/bin/env bash
# Proves `wrangler deploy --dry-run` bundles the worker offline and reports its size. Exit status 0 when a
# bundle with a wasm module was written.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PATHLIGHT_ROOT"
out=$(mktemp -d)
trap 'rm -rf "$out" "$out.log"' EXIT
wrangler deploy --dry-run --outdir "$out" >"$out.log" 2>&1 || { cat "$out.log"; die "wrangler deploy --dry-run failed"; }
grep -iE "total upload|gzip" "$out.log" || true
wasm=$(find "$out" -name '*.wasm' | head -n1)
[ -n "$wasm" ] || die "no wasm module in the bundle"
echo "bundle: $(stat -c %s "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) bytes gzip"
