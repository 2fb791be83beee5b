#!/usr/bin/env bash
# Proves `wrangler deploy --dry-run` bundles the worker offline, reports its size, and keeps it within its
# budget. Exit status 0 when a bundle with a wasm module was written and its gzipped upload is within
# BUNDLE_BUDGET_GZIP_KIB.
set -euo pipefail
source "$(dirname "$0")/env.sh"
# The gzipped upload as wrangler reports it ("Total Upload: ... / gzip: N KiB"), in KiB: the size measured
# when the bundle was last cut down (BENCHMARKS.md "Worker bundle size") plus a little headroom, so that a
# regression fails here rather than in production cold starts. Raise it only on purpose.
budget_kib="${BUNDLE_BUDGET_GZIP_KIB:-380}"
cd "$PATHLIGHT_ROOT"
out=$(mktemp -d)
trap 'rm -rf "$out" "$out.log"' EXIT
wrangler deploy --dry-run --outdir "$out" >"$out.log" 2>&1 || { cat "$out.log"; die "wrangler deploy --dry-run failed"; }
grep -iE "total upload|gzip" "$out.log" || true
wasm=$(find "$out" -name '*.wasm' | head -n1)
[ -n "$wasm" ] || die "no wasm module in the bundle"
echo "bundle: $(stat -c %s "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) bytes gzip"
gzip_kib=$(sed -nE 's/.*Total Upload:.*gzip: ([0-9.]+) KiB.*/\1/p' "$out.log" | head -n1)
[ -n "$gzip_kib" ] || die "wrangler printed no 'Total Upload: ... gzip: N KiB' line to check the budget against"
awk -v size="$gzip_kib" -v budget="$budget_kib" 'BEGIN { exit !(size <= budget) }' ||
  die "the bundle is $gzip_kib KiB gzip, over its budget of $budget_kib KiB (see BENCHMARKS.md \"Worker bundle size\")"
echo "budget: $gzip_kib KiB gzip of $budget_kib KiB"
