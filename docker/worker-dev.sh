#!/usr/bin/env bash
# Runs the built worker under `wrangler dev` inside docker-compose.yml, producing to Redpanda's own HTTP proxy
# (the documented production path). VISITOR_SALT_SECRET comes from the compose environment.
set -euo pipefail
: "${VISITOR_SALT_SECRET:?set VISITOR_SALT_SECRET (any long random string) before docker compose up}"
printf 'VISITOR_SALT_SECRET=%s\n' "$VISITOR_SALT_SECRET" > .dev.vars
exec /opt/pathlight-tools/node/node_modules/.bin/wrangler dev --ip 0.0.0.0 --port 8787 \
    --var "PROXY_URL:${PROXY_URL}" --var "SITES:${SITES}"
