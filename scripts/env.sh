# Shared settings for the local stack scripts. Source it; paths and ports can be overridden from the environment.
# shellcheck shell=bash

PATHLIGHT_ROOT="${PATHLIGHT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
# Tools installed once per machine and reused by every checkout (cargo binaries go to ~/.cargo/bin).
PATHLIGHT_TOOLS="${PATHLIGHT_TOOLS:-$HOME/.cache/pathlight-tools}"
# Runtime state of the local stack: data directories, logs, pid files.
PATHLIGHT_STATE="${PATHLIGHT_STATE:-$PATHLIGHT_ROOT/.stack}"
PATHLIGHT_LOGS="${PATHLIGHT_LOGS:-$PATHLIGHT_STATE/logs}"

# Ports (all on 127.0.0.1): the defaults of scripts/ports.env, each overridden by a variable of the same
# name. Exported, so Node code (scripts/ports.mjs) sees exactly the values the shell uses.
declare -gA PORT_DEFAULTS=() PRIVATE_STACK_OFFSETS=()
while IFS= read -r line || [ -n "$line" ]; do
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  if [[ $line =~ ^PRIVATE_STACK_([2-9])=([+-][0-9]{1,5})$ ]]; then
    PRIVATE_STACK_OFFSETS[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    continue
  fi
  [[ $line =~ ^([A-Z][A-Z0-9_]*)=([0-9]{1,5})$ ]] || { echo "scripts/ports.env: bad line: $line" >&2; return 1; }
  PORT_DEFAULTS[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  export "${BASH_REMATCH[1]}=${!BASH_REMATCH[1]:-${BASH_REMATCH[2]}}"
done <"$PATHLIGHT_ROOT/scripts/ports.env"
unset line

# The version of a crate in Cargo.lock (exactly one must be locked). Tools that must match a crate the
# project builds with take their version from here (scripts/install.sh).
locked_version() { # crate
  python3 - "$PATHLIGHT_ROOT/Cargo.lock" "$1" <<'PY'
import sys, tomllib
versions = [p["version"] for p in tomllib.load(open(sys.argv[1], "rb"))["package"] if p["name"] == sys.argv[2]]
if len(versions) != 1:
    sys.exit(f"Cargo.lock locks {len(versions)} versions of {sys.argv[2]}, expected exactly one")
print(versions[0])
PY
}
# The librdkafka that rdkafka-sys bundles (its version's build metadata, e.g. 4.10.0+2.12.1): ClickHouse 18.16
# loads the same one at run time, built by scripts/install.sh.
LIBRDKAFKA_VERSION="$(locked_version rdkafka-sys | sed 's/.*+//')"
LIBRDKAFKA_PREFIX="$PATHLIGHT_TOOLS/librdkafka-$LIBRDKAFKA_VERSION"
NODE_TOOLS="$PATHLIGHT_TOOLS/node"
export PATH="$HOME/.cargo/bin:$NODE_TOOLS/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false

# Switches to a private stack beside the default one, so a running demo stack is left alone: state in
# .stack-NAME/, and the stack's ports moved by the offset scripts/ports.env gives PREFIX (one digit, 2-9; the
# test suite uses 2: 29092, 28123, ...). The demo site's port is not the stack's and stays as it is.
use_private_stack() { # name prefix
  [[ ${2:-} =~ ^[2-9]$ ]] || die "use_private_stack: the prefix must be one digit from 2 to 9, got '${2:-}'"
  [ -n "${PRIVATE_STACK_OFFSETS[$2]:-}" ] || die "scripts/ports.env has no PRIVATE_STACK_$2"
  export PATHLIGHT_STATE="$PATHLIGHT_ROOT/.stack-$1" PATHLIGHT_LOGS="$PATHLIGHT_ROOT/.stack-$1/logs"
  local name offset=$((PRIVATE_STACK_OFFSETS[$2]))
  for name in BROKER_PORT CLICKHOUSE_HTTP_PORT CLICKHOUSE_TCP_PORT GATEWAY_PORT WORKER_PORT; do
    export "$name=$((PORT_DEFAULTS[$name] + offset))"
  done
  export CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" KAFKA_BROKERS="127.0.0.1:$BROKER_PORT"
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Whether something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
