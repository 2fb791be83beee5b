#!/usr/bin/env bash
# The product end to end on this machine: installs what is missing, starts the local stack (broker,
# ClickHouse, gateway, worker), serves a demo site whose pages carry the script tag, walks headless Chromium
# through it as visitors from several countries (one of them on a recorded page), and prints visits by country
# from ClickHouse, where to watch the recorded session and the analytics dashboard's URL.
# The stack keeps running afterwards; stop it with `scripts/stack.sh down`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PATHLIGHT_ROOT"

bash scripts/install.sh
cargo build --locked -p ingest-gateway
bash scripts/build-worker.sh
bash scripts/stack.sh up

node demo/run.mjs | tee "$PATHLIGHT_LOGS/demo-run.log"
replay_session=$(sed -n 's/^REPLAY_SESSION=//p' "$PATHLIGHT_LOGS/demo-run.log" | tail -n 1)

echo
echo "Visits by country (site \"demo\", every demo run so far, from ClickHouse; visits, page views and visitors as the"
echo "stats API and the dashboard count them, analytics-model/src/lib.rs):"
CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" "$PATHLIGHT_ROOT/target/debug/ingest-gateway" query visits-by-country --site demo
gateway="http://127.0.0.1:$GATEWAY_PORT"
echo
echo "Where to look (user \"demo\", password: $(cat "$PATHLIGHT_STATE/gateway/replay-password")):"
echo "  recorded sessions:  $gateway/replay"
echo "  stats API:          $gateway/api/v1/stats/breakdown?site=demo&property=country&from=$(date -u +%F)&to=$(date -u +%F)"
[ -z "$replay_session" ] || echo "  the demo's replay:  $gateway/replay/sessions/demo/$replay_session"
echo "  dashboard:          $gateway/dashboard?site=demo&period=day"
echo "  ClickHouse:         clickhouse-client --port $CLICKHOUSE_TCP_PORT --database pathlight   (or HTTP on :$CLICKHOUSE_HTTP_PORT)"
echo
echo "The stack is still running (scripts/stack.sh status); stop it with: scripts/stack.sh down"
