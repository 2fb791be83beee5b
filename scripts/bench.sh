#!/usr/bin/env bash
# Benchmarks, on a private stack (own ports and state directory, release build of the gateway). Prints the
# figures recorded in BENCHMARKS.md. Not part of the test suite: numbers depend on the machine.
#   scripts/bench.sh            DURATION_S=20 CONNECTIONS=8 by default
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PATHLIGHT_ROOT"

use_private_stack bench 3
export GATEWAY_BIN="$PATHLIGHT_ROOT/target/release/ingest-gateway"
duration="${DURATION_S:-20}s" connections="${CONNECTIONS:-8}"

bash scripts/install.sh
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --locked --release -p ingest-gateway
bash scripts/build-worker.sh
bash scripts/stack.sh down --purge >/dev/null 2>&1 || true
bash scripts/stack.sh up
trap 'bash scripts/stack.sh down >/dev/null 2>&1' EXIT

bodies=$(mktemp -d)
load() { # label url body-file content-type [extra env...]
  local label=$1 url=$2 body=$3 type=$4; shift 4
  printf '%-44s ' "$label"
  env BODY_FILE="$body" CONTENT_TYPE="$type" "$@" \
    wrk -t2 -c"$connections" -d"$duration" -s scripts/bench/post.lua "$url" | tail -n1
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load: wrk -t2 -c$connections -d$duration"
for n in 1 10 100; do
  node scripts/bench/bodies.mjs "$bodies" "$n"
  cp "$bodies/produce.json" "$bodies/produce-$n.json"
  load "gateway POST /topics/page_visits ($n records)" "http://127.0.0.1:$GATEWAY_PORT/topics/page_visits" \
    "$bodies/produce-$n.json" application/vnd.kafka.json.v2+json
done
worker_line=$(load "worker POST /track (1 page view, wrangler dev)" "http://127.0.0.1:$WORKER_PORT/track" "$bodies/track.json" \
  text/plain ORIGIN=http://localhost \
  USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
echo "$worker_line"

# Loss check: every page view the worker accepted must become exactly one row. The worker's own counter is
# the reference (wrk does not tally the answers of requests still in flight when it stops); each event has
# its own id, so FINAL counts distinct events. Poll until the Kafka engine has caught up or 120 s passed.
health=$(curl -fsS "http://127.0.0.1:$WORKER_PORT/health")
accepted=$(python3 -c 'import json,sys; c=json.load(sys.stdin)["isolate_counters"]; print(c["events_accepted"])' <<<"$health")
forwarded=$(python3 -c 'import json,sys; c=json.load(sys.stdin)["isolate_counters"]; print(c["events_forwarded"], c["events_lost_after_retries"])' <<<"$health")
stored=0
for _ in $(seq 600); do
  stored=$(curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/" --data-binary \
    "SELECT count() FROM pathlight.page_visits FINAL WHERE site = 'demo'")
  [ "$stored" -ge "$accepted" ] && break
  sleep 0.2
done
echo "worker loss check: $accepted page views accepted by the worker, forwarded/lost ${forwarded/ //}, $stored rows stored"

node scripts/bench/freshness.mjs "http://127.0.0.1:$GATEWAY_PORT" "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" pathlight page_visits 10
(cd tracker-js && node scripts/size.mjs)
echo "worker wasm: $(gzip -9c edge-worker/build/index_bg.wasm | wc -c) bytes gzip"
