#!/usr/bin/env bash
# The local stack, all on 127.0.0.1 with the ports of scripts/env.sh:
#   broker      tansu (Kafka API), persistent sqlite storage          :$BROKER_PORT
#   clickhouse  ClickHouse 18.16 on librdkafka 2.12.1, our config     :$CLICKHOUSE_HTTP_PORT (tcp :$CLICKHOUSE_TCP_PORT)
#   gateway     ingest-gateway: `migrate` (topic + sql/), then `serve` :$GATEWAY_PORT
#   worker      the edge worker under `wrangler dev`                  :$WORKER_PORT (inspector :$WORKER_PORT+1)
#
# Usage: scripts/stack.sh up | down [--purge] | status | logs [component]
#   up       starts whatever is not running yet (a running component is left alone) and waits until each
#            one answers; safe to repeat.
#   down     stops them in reverse order (SIGTERM, then SIGKILL after a deadline); data stays.
#            --purge also deletes the state directory ($PATHLIGHT_STATE).
#   status   one line per component.
#   logs     the last lines of each log (or of one component's).
#   stop NAME / start NAME   one component (broker, clickhouse, gateway or worker), as `down` and `up` do;
#            the outage tests (tests/faults/) take one down while events flow.
# Data, pid files and rendered configs live in $PATHLIGHT_STATE, logs in $PATHLIGHT_LOGS.
set -euo pipefail
source "$(dirname "$0")/env.sh"

COMPONENTS=(broker clickhouse gateway worker)
RUN_DIR="$PATHLIGHT_STATE/run"
# Written into the state directory when it is created; `down --purge` deletes only a directory carrying it.
STATE_MARKER="$PATHLIGHT_STATE/.pathlight-stack"
CLICKHOUSE_SERVER_BIN="${CLICKHOUSE_SERVER_BIN:-$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)}"
DEFAULT_GATEWAY_BIN="$PATHLIGHT_ROOT/target/debug/ingest-gateway"
GATEWAY_BIN="${GATEWAY_BIN:-$DEFAULT_GATEWAY_BIN}"
START_TIMEOUT_S="${START_TIMEOUT_S:-60}"
STOP_TIMEOUT_S="${STOP_TIMEOUT_S:-30}"

port_of() {
  case $1 in
    broker) echo "$BROKER_PORT" ;;
    clickhouse) echo "$CLICKHOUSE_HTTP_PORT" ;;
    gateway) echo "$GATEWAY_PORT" ;;
    worker) echo "$WORKER_PORT" ;;
  esac
}

# --- processes -------------------------------------------------------------------------------------------

# A pid file holds "pid start-time": the start time (from /proc) tells our process from an unrelated one
# that reused the pid after a reboot or a crash.
start_time() { [ -r "/proc/$1/stat" ] && sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
pid_of() { # name -> pid of the running component, or nothing
  local file="$RUN_DIR/$1.pid" pid started
  [ -f "$file" ] || return 1
  read -r pid started <"$file" || return 1
  [ -n "$pid" ] && [ -n "$started" ] && [ "$(start_time "$pid" 2>/dev/null)" = "$started" ] && echo "$pid"
}
running() { pid_of "$1" >/dev/null; }

# Starts a command in the background in its own session (so `down` can signal its whole process group),
# with output appended to the component's log.
launch() { # name workdir command...
  local name=$1 dir=$2; shift 2
  (cd "$dir" && exec setsid "$@" </dev/null >>"$PATHLIGHT_LOGS/$name.log" 2>&1) &
  local pid=$!
  echo "$pid $(start_time "$pid")" >"$RUN_DIR/$name.pid"
}


# Polls `check` until it succeeds; fails early if the component exited, and at the deadline.
wait_ready() { # name check...
  local name=$1; shift
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until "$@"; do
    if ! running "$name"; then
      show_log "$name"
      die "$name exited during start-up (log: $PATHLIGHT_LOGS/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      show_log "$name"
      die "$name did not become ready within ${START_TIMEOUT_S}s (log: $PATHLIGHT_LOGS/$name.log)"
    fi
    sleep 0.2
  done
}

# Refuses to start a component whose port something else already holds: it would fail to bind, or worse,
# the readiness check would pass against the stranger.
claim_port() { # name port
  if port_open "$2"; then
    die "port $2 for $1 is already in use by another process; stop it or choose another port (see scripts/env.sh)"
  fi
}

stop() { # name
  local name=$1 pid
  if pid=$(pid_of "$name"); then
    log "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop within ${STOP_TIMEOUT_S}s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$RUN_DIR/$name.pid"
}

show_log() { # name [lines]
  local file="$PATHLIGHT_LOGS/$1.log"
  [ -f "$file" ] || return 0
  echo "--- $file (last ${2:-30} lines)" >&2
  tail -n "${2:-30}" "$file" >&2
}

# --- components ------------------------------------------------------------------------------------------

start_broker() {
  command -v tansu >/dev/null || die "tansu not found in PATH: run scripts/install.sh"
  mkdir -p "$PATHLIGHT_STATE/broker"
  # tansu resolves a sqlite:// URL against its working directory, so it runs inside its data directory.
  launch broker "$PATHLIGHT_STATE/broker" tansu broker \
    --listener-url "tcp://127.0.0.1:$BROKER_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
    --storage-engine "sqlite://tansu.db"
  wait_ready broker port_open "$BROKER_PORT"
}

sed_escape() { printf '%s' "$1" | sed 's/[&|\\]/\\&/g'; }

# The stack's own ClickHouse users besides `default` (scripts/clickhouse/users.xml.in), in the gateway's
# CLICKHOUSE_READONLY_USER and CLICKHOUSE_WRITER_USER: the stats API and the dashboard read as the first.
# Their passwords are made once per state directory and kept there (like the replay password below); users.xml
# holds only their SHA-256.
CLICKHOUSE_DB="${CLICKHOUSE_DATABASE:-pathlight}"
READONLY_USER=pathlight_readonly
WRITER_USER=pathlight_writer
clickhouse_password() { # readonly|writer -> the password, made on first use
  local file="$PATHLIGHT_STATE/clickhouse/$1-password"
  mkdir -p "$PATHLIGHT_STATE/clickhouse"
  [ -s "$file" ] || (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$file")
  cat "$file"
}
sha256_hex() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

render_clickhouse_config() { # dir
  local dir=$1 f
  for f in config users; do
    sed -e "s|@DATA_DIR@|$(sed_escape "$dir/data")|g" \
        -e "s|@LOG_DIR@|$(sed_escape "$PATHLIGHT_LOGS")|g" \
        -e "s|@HTTP_PORT@|$CLICKHOUSE_HTTP_PORT|g" \
        -e "s|@TCP_PORT@|$CLICKHOUSE_TCP_PORT|g" \
        -e "s|@DATABASE@|$(sed_escape "$CLICKHOUSE_DB")|g" \
        -e "s|@READONLY_USER@|$READONLY_USER|g" \
        -e "s|@READONLY_SHA256@|$(sha256_hex "$(clickhouse_password readonly)")|g" \
        -e "s|@WRITER_USER@|$WRITER_USER|g" \
        -e "s|@WRITER_SHA256@|$(sha256_hex "$(clickhouse_password writer)")|g" \
        "$PATHLIGHT_ROOT/scripts/clickhouse/$f.xml.in" >"$dir/$f.xml"
  done
  # Drop-ins ClickHouse merges into users.xml (the Kafka tables' pacing: scripts/clickhouse/users.d/).
  rm -rf "$dir/users.d"
  cp -R "$PATHLIGHT_ROOT/scripts/clickhouse/users.d" "$dir/users.d"
}

clickhouse_pings() { [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]; }

start_clickhouse() {
  [ -x "$CLICKHOUSE_SERVER_BIN" ] || die "clickhouse-server not found at $CLICKHOUSE_SERVER_BIN: run scripts/install.sh"
  local lib="$LIBRDKAFKA_PREFIX/lib"
  [ -f "$lib/librdkafka.so.1" ] || die "librdkafka $LIBRDKAFKA_VERSION missing at $lib: run scripts/install.sh"
  # Debian's librdkafka (2.0.2) cannot talk to tansu; make sure the loader will pick ours.
  # ldd's output is captured first: `grep -q` exiting early would SIGPIPE ldd and fail the pipe under pipefail.
  local libs
  libs=$(LD_LIBRARY_PATH="$lib" ldd "$CLICKHOUSE_SERVER_BIN")
  grep -q "librdkafka.so.1 => $lib/" <<<"$libs" \
    || die "clickhouse-server would not load $lib/librdkafka.so.1 (check: LD_LIBRARY_PATH=$lib ldd $CLICKHOUSE_SERVER_BIN)"
  claim_port clickhouse "$CLICKHOUSE_TCP_PORT"
  local dir="$PATHLIGHT_STATE/clickhouse"
  mkdir -p "$dir/data"
  render_clickhouse_config "$dir"
  launch clickhouse "$dir" env LD_LIBRARY_PATH="$lib" "$CLICKHOUSE_SERVER_BIN" --config-file="$dir/config.xml"
  wait_ready clickhouse clickhouse_pings
}

# The gateway's configuration comes from the environment (see ingest-gateway/src/config.rs).
# KAFKA_ENABLE_IDEMPOTENCE=false: tansu 0.6.0 panics on the producer epoch bump librdkafka makes after a broker
# restart under load, then refuses every produce (ingest-gateway README); Redpanda does not need this.
GATEWAY_ENV=(env KAFKA_ENABLE_IDEMPOTENCE=false GATEWAY_LISTEN="127.0.0.1:$GATEWAY_PORT" KAFKA_BROKERS="127.0.0.1:$BROKER_PORT"
  CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" SQL_DIR="$PATHLIGHT_ROOT/sql")

gateway_healthy() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/healthz" 2>/dev/null; }

# Builds the default gateway binary every time: cargo rebuilds only what changed (under a second when nothing
# did), so `up` never starts a binary older than its sources. A GATEWAY_BIN of the caller's is used as it is.
build_gateway() {
  if [ "$GATEWAY_BIN" = "$DEFAULT_GATEWAY_BIN" ]; then
    (cd "$PATHLIGHT_ROOT" && cargo build --locked -p ingest-gateway) || die "cargo build -p ingest-gateway failed"
  fi
  [ -x "$GATEWAY_BIN" ] || die "GATEWAY_BIN=$GATEWAY_BIN does not exist"
}

# Replay (recordings) and the stats API need credentials of their own. Locally both are user "demo" with a
# password made once per state directory and kept there, so scripts/demo.sh can print it and tests can read it.
replay_password_file() { echo "$PATHLIGHT_STATE/gateway/replay-password"; }

start_gateway() {
  mkdir -p "$PATHLIGHT_STATE/gateway"
  local secret
  secret=$(replay_password_file)
  [ -s "$secret" ] || od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$secret"
  GATEWAY_ENV+=(REPLAY_USERNAME=demo REPLAY_PASSWORD="$(cat "$secret")" STATS_USERNAME=demo STATS_PASSWORD="$(cat "$secret")")
  GATEWAY_ENV+=(CLICKHOUSE_READONLY_USER="$READONLY_USER" CLICKHOUSE_READONLY_PASSWORD="$(clickhouse_password readonly)"
    CLICKHOUSE_WRITER_USER="$WRITER_USER" CLICKHOUSE_WRITER_PASSWORD="$(clickhouse_password writer)")
  build_gateway
  log "gateway: creating the topic and applying sql/"
  (cd "$PATHLIGHT_ROOT" && "${GATEWAY_ENV[@]}" "$GATEWAY_BIN" migrate) >>"$PATHLIGHT_LOGS/gateway.log" 2>&1 \
    || { show_log gateway; die "ingest-gateway migrate failed (log: $PATHLIGHT_LOGS/gateway.log)"; }
  launch gateway "$PATHLIGHT_ROOT" "${GATEWAY_ENV[@]}" "$GATEWAY_BIN" serve
  wait_ready gateway gateway_healthy
}

# The worker runs under `wrangler dev` (scripts/worker-dev.sh: wrangler.toml, its [build] command, workerd;
# per-request geography from the MF-CF-Blob header, scripts/dev-geo.mjs).
worker_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$WORKER_PORT/health" >/dev/null 2>&1; }

start_worker() {
  claim_port worker "$((WORKER_PORT + 1))"
  local dir="$PATHLIGHT_STATE/worker"
  mkdir -p "$dir"
  local vars=(--var "PROXY_URL:http://127.0.0.1:$GATEWAY_PORT")
  # A .dev.vars file of the user's own holds the secrets; without one, a salt kept in the state directory
  # keeps visitor ids stable across restarts of this stack.
  if [ ! -f "$PATHLIGHT_ROOT/.dev.vars" ]; then
    [ -s "$dir/visitor-salt" ] || od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/visitor-salt"
    vars+=(--var "VISITOR_SALT_SECRET:$(cat "$dir/visitor-salt")")
  fi
  launch worker "$PATHLIGHT_ROOT" bash "$PATHLIGHT_ROOT/scripts/worker-dev.sh" "$WORKER_PORT" "$dir" "${vars[@]}"
  wait_ready worker worker_healthy
}

# --- commands --------------------------------------------------------------------------------------------

up() {
  mkdir -p "$PATHLIGHT_STATE" "$PATHLIGHT_LOGS" "$RUN_DIR"
  touch "$STATE_MARKER"
  local name
  for name in "${COMPONENTS[@]}"; do
    if running "$name"; then
      log "$name: already running (pid $(pid_of "$name"))"
      # The pid file is written at start: a binary newer than it is not the one running.
      if [ "$name" = gateway ] && build_gateway && [ "$GATEWAY_BIN" -nt "$RUN_DIR/gateway.pid" ]; then
        log "gateway: $GATEWAY_BIN was rebuilt after this gateway started; restart it to run the new build: $0 down && $0 up"
      fi
      continue
    fi
    rm -f "$RUN_DIR/$name.pid"
    claim_port "$name" "$(port_of "$name")"
    log "$name: starting"
    "start_$name"
    if running "$name"; then log "$name: ready on 127.0.0.1:$(port_of "$name")"; fi
  done
}

down() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop "${COMPONENTS[i]}"
  done
  if [ "${1:-}" = "--purge" ]; then
    if [ -f "$STATE_MARKER" ]; then
      log "deleting $PATHLIGHT_STATE"
      rm -rf "$PATHLIGHT_STATE"
    elif [ -e "$PATHLIGHT_STATE" ]; then
      die "$PATHLIGHT_STATE has no $(basename "$STATE_MARKER") marker; not deleting it"
    fi
  fi
}

status() {
  local name pid
  for name in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$name"); then
      printf '%-11s running  pid %-8s 127.0.0.1:%s\n' "$name" "$pid" "$(port_of "$name")"
    else
      printf '%-11s stopped\n' "$name"
    fi
  done
}

logs() {
  local names=("$@") name
  ((${#names[@]})) || names=("${COMPONENTS[@]}")
  for name in "${names[@]}"; do
    show_log "$name" 40
  done
  if [ -z "${1:-}" ] || [ "$1" = clickhouse ]; then
    [ -f "$PATHLIGHT_LOGS/clickhouse-server.err.log" ] && { echo "--- clickhouse-server.err.log" >&2; tail -n 20 "$PATHLIGHT_LOGS/clickhouse-server.err.log" >&2; }
  fi
  return 0
}

# One component at a time (tests/faults/ takes one down while events flow); `up` and `down` do the same for all.
component() { # name: dies unless it is one of COMPONENTS
  [[ " ${COMPONENTS[*]} " == *" ${1:-} "* ]] || die "unknown component '${1:-}': one of ${COMPONENTS[*]}"
}
start_one() { # name
  component "$1"
  mkdir -p "$PATHLIGHT_STATE" "$PATHLIGHT_LOGS" "$RUN_DIR"
  touch "$STATE_MARKER"
  if running "$1"; then log "$1: already running (pid $(pid_of "$1"))"; return 0; fi
  rm -f "$RUN_DIR/$1.pid"
  claim_port "$1" "$(port_of "$1")"
  log "$1: starting"
  "start_$1"
  log "$1: ready on 127.0.0.1:$(port_of "$1")"
}

case "${1:-}" in
  up) up ;;
  start) start_one "${2:-}" ;;
  stop) component "${2:-}"; stop "$2" ;;
  down) down "${2:-}" ;;
  status) status ;;
  logs) shift; logs "$@" ;;
  *) echo "usage: $0 up | down [--purge] | status | logs [component] | start NAME | stop NAME" >&2; exit 2 ;;
esac
