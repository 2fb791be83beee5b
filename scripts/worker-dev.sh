#!/usr/bin/env bash
# Runs the edge worker locally: `wrangler dev` from the repository root, the one way this project runs it
# (scripts/stack.sh and the worker tests both start it here). Wrangler reads wrangler.toml, runs its [build]
# command (scripts/build-worker.sh, skipped when nothing changed) and serves the bundle in workerd.
#
#   scripts/worker-dev.sh PORT STATE_DIR [wrangler dev arguments: --var NAME:VALUE, --env-file FILE, ...]
#
# Listens on 127.0.0.1:PORT, inspector on PORT+1; local state (wrangler --persist-to) and the rendered cf
# file live in STATE_DIR. Vars: wrangler.toml [vars] < .dev.vars (if present, unless --env-file is given)
# < --var.
#
# Geography: the worker reads `request.cf`. A request's own MF-CF-Blob header sets it (scripts/dev-geo.mjs
# builds one; demo/edge.mjs adds it per visitor); without the header, wrangler uses the default location of
# scripts/dev-cf.json, rendered into STATE_DIR/cf.json at every start because wrangler ignores a cf file
# older than 30 days and would then try to fetch one from the internet.
set -euo pipefail
source "$(dirname "$0")/env.sh"

(($# >= 2)) || { echo "usage: $0 PORT STATE_DIR [wrangler dev arguments...]" >&2; exit 2; }
port=$1 dir=$2
shift 2
command -v wrangler >/dev/null || die "wrangler not found in PATH: run scripts/install.sh"
mkdir -p "$dir"
node -e 'const t = require(process.argv[1]); process.stdout.write(JSON.stringify(t.default))' \
  "$PATHLIGHT_ROOT/scripts/dev-cf.json" >"$dir/cf.json"
cd "$PATHLIGHT_ROOT"
exec env WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_PATH="$dir/cf.json" \
  wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "$((port + 1))" \
  --persist-to "$dir/wrangler" --show-interactive-dev-session=false "$@"
