# Shared settings for the local stack scripts. Source it; every value can be overridden from the environment.
# shellcheck shell=bash

PATHLIGHT_ROOT="${PATHLIGHT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
# Tools installed once per machine and reused by every checkout (cargo binaries go to ~/.cargo/bin).
PATHLIGHT_TOOLS="${PATHLIGHT_TOOLS:-$HOME/.cache/pathlight-tools}"
# Runtime state of the local stack: data directories, logs, pid files.
PATHLIGHT_STATE="${PATHLIGHT_STATE:-$PATHLIGHT_ROOT/.stack}"
PATHLIGHT_LOGS="${PATHLIGHT_LOGS:-$PATHLIGHT_STATE/logs}"

# Ports (all on 127.0.0.1).
BROKER_PORT="${BROKER_PORT:-19092}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-18123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-19000}"
GATEWAY_PORT="${GATEWAY_PORT:-18082}"
WORKER_PORT="${WORKER_PORT:-18787}"
DEMO_SITE_PORT="${DEMO_SITE_PORT:-18080}"

# Pinned tool versions. The installer skips anything already present at exactly this version.
WASM_BINDGEN_VERSION="0.2.130"   # must equal the wasm-bindgen version in Cargo.lock
WORKER_BUILD_VERSION="0.8.7"     # must equal the worker crate version
TANSU_VERSION="0.6.0"
LIBRDKAFKA_VERSION="2.12.1"      # the librdkafka bundled in rdkafka-sys; ClickHouse 18.16 loads it at run time
CHDB_VERSION="26.9.0"

LIBRDKAFKA_PREFIX="$PATHLIGHT_TOOLS/librdkafka-$LIBRDKAFKA_VERSION"
NODE_TOOLS="$PATHLIGHT_TOOLS/node"
export PATH="$HOME/.cargo/bin:$NODE_TOOLS/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false

# Switches to a private stack beside the default one: state in .stack-NAME/, ports with the leading digit
# PREFIX instead of 1 (the test suite uses 2, the benchmarks 3), so a running demo stack is left alone.
use_private_stack() { # name prefix
  export PATHLIGHT_STATE="$PATHLIGHT_ROOT/.stack-$1" PATHLIGHT_LOGS="$PATHLIGHT_ROOT/.stack-$1/logs"
  export BROKER_PORT="${2}9092" CLICKHOUSE_HTTP_PORT="${2}8123" CLICKHOUSE_TCP_PORT="${2}9000"
  export GATEWAY_PORT="${2}8082" WORKER_PORT="${2}8787"
  export CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" KAFKA_BROKERS="127.0.0.1:$BROKER_PORT"
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
