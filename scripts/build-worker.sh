#!/usr/bin/env bash
# Builds the edge worker (edge-worker/) to edge-worker/build/ with worker-build, fully offline.
#
# worker-build would download wasm-bindgen, wasm-opt and esbuild; here they come from the pinned tool
# installs (scripts/install.sh). wasm-opt must be binaryen 132 from npm: Debian's binaryen 108 produces
# a worker that crashes at start. Wrangler runs this as its [build] command; it is also safe to run by hand.
# The build is skipped when no input changed since the last successful one (FORCE=1 rebuilds).
set -euo pipefail
source "$(dirname "$0")/env.sh"

crate="$PATHLIGHT_ROOT/edge-worker"
out="$crate/build"
stamp="$out/.inputs.sha256"

export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$NODE_TOOLS/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$NODE_TOOLS/node_modules/.bin/esbuild}"
for bin in "$HOME/.cargo/bin/worker-build" "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  [ -x "$bin" ] || die "$bin is missing; run scripts/install.sh"
done

# Everything that ends up in the bundle: the crate and its patched woothee, the shared schema, the embedded
# scripts, the lock file, and this script (its wasm-opt flags).
inputs_hash() {
  (cd "$PATHLIGHT_ROOT" && find edge-worker/src edge-worker/Cargo.toml edge-worker/vendor scripts/build-worker.sh event-schema/src event-schema/Cargo.toml \
      tracker-js/dist/pathlight.js tracker-js/dist/record.js Cargo.toml Cargo.lock -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# wasm-opt, run here rather than by worker-build, whose step always keeps the names section (edge-worker/Cargo.toml).
# -Os: -Oz and -O3 came out larger gzipped (BENCHMARKS.md "Worker bundle size"). The feature list is
# worker-build's own: binaryen may emit no encoding that workerd does not run.
optimize() { # wasm
  local features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
  "$WASM_OPT_BIN" "$1" -o "$1.opt" -Os --strip-debug --strip-producers "${features[@]/#/--enable-}"
  mv "$1.opt" "$1"
}

hash=$(inputs_hash)
if [ "${FORCE:-0}" != 1 ] && [ -f "$out/worker/shim.mjs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
  log "edge worker unchanged since the last build; skipping (FORCE=1 to rebuild)"
else
  log "building the edge worker (worker-build --release)"
  rm -f "$stamp"
  (cd "$crate" && "$HOME/.cargo/bin/worker-build" --release)
  optimize "$out/index_bg.wasm"
  echo "$hash" >"$stamp"
fi

wasm="$out/index_bg.wasm"
[ -f "$wasm" ] || die "$wasm is missing after the build"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
log "bundle: $(basename "$wasm") $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzip (Workers limit: 3 MiB gzip on Free, 10 MiB on Paid)"
