#!/usr/bin/env bash
# Proves `wrangler deploy --dry-run` bundles the worker offline and reports its size.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PATHLIGHT_ROOT"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
wrangler deploy --dry-run --outdir "$out" >"$out.log" 2>&1 || { cat "$out.log"; echo "0 passed, 1 failed"; exit 1; }
grep -iE "total upload|gzip" "$out.log" || true
wasm=$(find "$out" -name '*.wasm' | head -n1)
[ -n "$wasm" ] || { echo "no wasm module in the bundle"; echo "0 passed, 1 failed"; exit 1; }
echo "bundle: $(stat -c %s "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) bytes gzip"
echo "1 passed, 0 failed"
