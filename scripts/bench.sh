#!/usr/bin/env bash
# Side-by-side benchmarks on a private stack (digit 3: own ports, state in .stack-bench/, release build of the
# gateway). Every figure is printed beside its reference, measured in the same run on the same machine:
#   1. broker ceiling  a plain librdkafka producer (ingest-gateway/examples/broker_ceiling.rs), the gateway's
#                      producer settings and record bytes, straight to the broker in batches of 100 from a
#                      few numbers of writers: the best records/s, before and after the gateway runs
#   2. gateway         POST /topics/page_visits with 1, 10 and 100 records per request, concurrency raised
#                      until records/s stops rising: records/s, p50/p99, ratio to (1), peak RSS (VmHWM)
#   3. worker          POST /track (1 and 10 page views) under wrangler dev, FORWARD_MODE queue and direct,
#                      forwarding to the gateway and to a sink that answers at once (scripts/bench/sink.mjs)
#   4. freshness       steady /track load -> row queryable in ClickHouse, p50/p99; the same from the gateway's
#                      produce alone; parts created meanwhile
#   5. sizes           snippet, recorder, worker wasm (gzip -9) and `wrangler deploy --dry-run`
# Load comes from wrk (Debian package; latency percentiles from its own histogram, scripts/bench/post.lua).
# Not part of the test suite: numbers depend on the machine and on what else runs on it.
#
#   scripts/bench.sh [--quick] [--append]
#     --quick   shorter runs and fewer concurrency levels (about 4 minutes instead of about 9)
#     --append  also appends the printed section to BENCHMARKS.md
#   DURATION_S (per load run, default 8, quick 3), FRESHNESS_RATE (events/s, 20), FRESHNESS_S (20, quick 8)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PATHLIGHT_ROOT"

quick=0 append=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --append) append=1 ;;
    *) echo "usage: $0 [--quick] [--append]" >&2; exit 2 ;;
  esac
done
if ((quick)); then
  duration=${DURATION_S:-3} levels=(1 8 32 128) fresh_s=${FRESHNESS_S:-8}
else
  duration=${DURATION_S:-8} levels=(1 4 16 64 128) fresh_s=${FRESHNESS_S:-20}
fi
fresh_rate=${FRESHNESS_RATE:-20}
# As many writers as the gateway's busiest run has connections, so the ceiling has as many batches in flight.
ceiling_levels=(8 32 128)
worker_connections=8

use_private_stack bench 3
export GATEWAY_BIN="$PATHLIGHT_ROOT/target/release/ingest-gateway"
# The gateway and the ceiling log what their producers sent to the broker (produce requests, records).
export KAFKA_STATISTICS_INTERVAL_MS=500
CEILING_BIN="$PATHLIGHT_ROOT/target/release/examples/broker_ceiling"
EXTRA_WORKER_PORT=$((WORKER_PORT + 10)) SINK_PORT=$((GATEWAY_PORT + 10))
CH="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT"
GW="http://127.0.0.1:$GATEWAY_PORT"
started=$(date -u '+%Y-%m-%d %H:%M UTC') t0=$SECONDS

bash scripts/install.sh >/dev/null
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --locked --release -p ingest-gateway --bin ingest-gateway --example broker_ceiling
bash scripts/build-worker.sh
bash scripts/stack.sh down --purge >/dev/null 2>&1 || true

work=$(mktemp -d)
extra_pids=()
cleanup() {
  local pid
  for pid in "${extra_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  bash scripts/stack.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/stack.sh up

out="$work/report.md"
say() { printf '%s\n' "$*" | tee -a "$out"; }
sql() { curl -fsS "$CH/" --data-binary "$1"; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; } # name line -> value of name=value
fmt() { python3 -c "import sys; print(f'{float(sys.argv[1]):,.0f}')" "$1"; }

# One wrk run; prints post.lua's line. wrk wants at least one connection per thread.
load() { # connections url body-file content-type [extra env...]
  local c=$1 url=$2 body=$3 type=$4; shift 4
  env BODY_FILE="$body" CONTENT_TYPE="$type" "$@" \
    wrk -t"$((c < 2 ? 1 : 2))" -c"$c" -d"${duration}s" -s scripts/bench/post.lua "$url" | tail -n1
}

# A second `wrangler dev` with other vars, in its own process group so it can be stopped with its workerd.
start_worker() { # var...
  local vars=() v
  for v in "$@"; do vars+=(--var "$v"); done
  # A helper started on a taken port would fail to bind while its checks passed against whatever holds the
  # port, and the stage would measure against that.
  ! port_open "$EXTRA_WORKER_PORT" || die "port $EXTRA_WORKER_PORT for the extra worker is taken"
  setsid bash scripts/worker-dev.sh "$EXTRA_WORKER_PORT" "$work/worker-$RANDOM" \
    --var "VISITOR_SALT_SECRET:$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" "${vars[@]}" \
    </dev/null >>"$PATHLIGHT_LOGS/bench-worker.log" 2>&1 &
  extra_pids+=($!)
  local deadline=$((SECONDS + 90))
  until curl -fsS --max-time 2 "http://127.0.0.1:$EXTRA_WORKER_PORT/health" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "the extra worker did not answer within 90 s ($PATHLIGHT_LOGS/bench-worker.log)"
    sleep 0.3
  done
}
stop_worker() {
  local pid=${extra_pids[-1]}
  kill -TERM -- "-$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  unset 'extra_pids[-1]'
}

for n in 1 10 100; do
  node scripts/bench/bodies.mjs "$work" "$n"
  cp "$work/produce.json" "$work/produce-$n.json"
done

# --- header --------------------------------------------------------------------------------------------------
ch_version=$(sql "SELECT version()")
kafka_settings=$(sql "SELECT engine_full FROM system.tables WHERE database = 'pathlight' AND name = 'page_visits_queue'" \
  | grep -o "kafka_max_block_size = [0-9]*" || echo "kafka_max_block_size default")
say "## Harness run, $started"
say ""
say "- Command: \`scripts/bench.sh$( ((quick)) && echo ' --quick')\` (load runs of ${duration} s, wrk; freshness ${fresh_rate} events/s for ${fresh_s} s)."
say "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
  "load average at the start $(cut -d' ' -f1-3 /proc/loadavg)."
say "- Versions: ClickHouse $ch_version (librdkafka $LIBRDKAFKA_VERSION), $(tansu --version 2>&1 | head -n1)," \
  "wrangler $(wrangler --version 2>/dev/null | tail -n1), $(rustc --version | cut -d' ' -f1-2);" \
  "page_visits_queue: $kafka_settings."
say "- Producer settings of the gateway and of the ceiling alike: acks=all, linger.ms=5, enable.idempotence=false" \
  "(the local stack's, for tansu 0.6.0's epoch-bump panic: ingest-gateway/README.md)."
say ""

# --- 1 and 2: broker ceiling, gateway ------------------------------------------------------------------------
# Where the CPU goes during a run: clock ticks of the gateway, the broker and ClickHouse (/proc/PID/stat, all
# threads) and of the whole machine (/proc/stat), so a ratio to the ceiling can be read against what each
# process took of the 2 cores; "rest" is the load generator (wrk or the ceiling's producer) and anything else.
pid_file() { cut -d' ' -f1 "$PATHLIGHT_STATE/run/$1.pid"; }
gw_pid=$(pid_file gateway)
broker_pid=$(pid_file broker)
ch_pid=$(pid_file clickhouse)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_snapshot() { # -> "gateway broker clickhouse machine-busy machine-all" in clock ticks
  echo "$(ticks "$gw_pid") $(ticks "$broker_pid") $(ticks "$ch_pid")" \
    "$(awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat)"
}
cpu_shares() { # before after -> "busy gateway broker clickhouse rest", each in % of one core
  python3 - "$1" "$2" "$(getconf CLK_TCK)" "$(nproc)" <<'PY'
import sys
a = [int(x) for x in sys.argv[1].split()]; b = [int(x) for x in sys.argv[2].split()]
hz, cores = int(sys.argv[3]), int(sys.argv[4])
d = [y - x for x, y in zip(a, b)]
wall = d[4] / cores / hz  # seconds that passed (machine ticks count every core)
pct = lambda t: 100 * t / hz / wall if wall else 0
busy = pct(d[3]) / 1  # machine ticks are per core already summed: % of one core
print(f"{busy:.0f} {pct(d[0]):.0f} {pct(d[1]):.0f} {pct(d[2]):.0f} {max(0, busy - pct(d[0]) - pct(d[1]) - pct(d[2])):.0f}")
PY
}
# What the gateway's producer has sent to the broker: "produce-requests records", from the statistics line it
# logs every KAFKA_STATISTICS_INTERVAL_MS; waits for a line written a whole interval after the call, so every
# request of a run that just ended is counted.
gateway_sent() {
  local log="$PATHLIGHT_LOGS/gateway.log" seen line deadline=$((SECONDS + 10))
  seen=$(grep -c "producer statistics" "$log" || true)
  until (($(grep -c "producer statistics" "$log" || true) > seen + 1)); do
    ((SECONDS < deadline)) || die "the gateway logs no producer statistics ($log)"
    sleep 0.1
  done
  line=$(grep "producer statistics" "$log" | tail -n1 | sed 's/\x1b\[[0-9;]*m//g')
  echo "$(field produce_requests_total "$line") $(field records_total "$line")"
}
# The ceiling: batches of the 100-record body from several writers; the best of a few writer counts.
ceiling() {
  local best=0 c line rps
  for c in "${ceiling_levels[@]}"; do
    local before after
    before=$(cpu_snapshot)
    line=$("$CEILING_BIN" --body "$work/produce-100.json" --duration-s "$duration" \
      --kafka-enable-idempotence false --concurrency "$c")
    after=$(cpu_snapshot)
    log "broker ceiling, $c writers: $line"
    rps=$(field records_per_s "$line")
    if ((rps > best)); then
      best=$rps
      echo "$rps $(cpu_shares "$before" "$after") $(field produce_requests "$line") $(field sent_records "$line")" \
        >>"$work/cpu-ceiling"
    fi
  done
  echo "$best"
}
# A short unmeasured run first: right after the stack starts, the broker and ClickHouse's consumer are still
# settling and the first figures come out low.
"$CEILING_BIN" --body "$work/produce-100.json" --duration-s 2 --kafka-enable-idempotence false --concurrency 8 \
  >/dev/null
ceiling_before=$(ceiling)

declare -A peak
rows=()
for n in 1 10 100; do
  best=0
  ((n == 100)) && sent_before=$(gateway_sent)
  for c in "${levels[@]}"; do
    before=$(cpu_snapshot)
    line=$(load "$c" "$GW/topics/page_visits" "$work/produce-$n.json" application/vnd.kafka.json.v2+json)
    after=$(cpu_snapshot)
    rps=$(field accepted_per_s "$line")
    records=$(python3 -c "print(round($rps * $n))")
    if ((n == 100)); then
      sent_after=$(gateway_sent)
      read -r requests_before records_before <<<"$sent_before"
      read -r requests_after records_after <<<"$sent_after"
      sent="$((requests_after - requests_before)) $((records_after - records_before))" sent_before=$sent_after
      ((records > best)) && cpu_gateway="$records $c $(cpu_shares "$before" "$after") $sent"
    fi
    rows+=("$n $c $rps $records $(field p50_ms "$line") $(field p99_ms "$line") $(($(field requests "$line") - $(field accepted "$line")))")
    # Stop raising concurrency once records/s grew by less than 5 %: the curve has flattened.
    if ((records * 100 < best * 105)); then ((records > best)) && best=$records; break; fi
    best=$records
  done
  peak[$n]=$best
done
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$gw_pid/status")
ceiling_after=$(ceiling)
# The reference is the better of the two ceilings of this run (machine noise only ever lowers a figure).
ceiling_rps=$((ceiling_before > ceiling_after ? ceiling_before : ceiling_after))
pct() { python3 -c "print(f'{100 * $1 / $ceiling_rps:.0f} %')"; }

say "### Gateway: POST /topics/page_visits (worker-shaped records, ~900 B) against the broker ceiling"
say ""
say "Broker ceiling (plain librdkafka producer, same records and producer settings, batches of 100 from" \
  "${ceiling_levels[*]} writers, best): **$(fmt "$ceiling_rps") records/s** (before the gateway runs" \
  "$(fmt "$ceiling_before"), after $(fmt "$ceiling_after"))."
say ""
say "| records/request | connections | requests/s | records/s | p50 | p99 | non-2xx | of ceiling |"
say "|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
  read -r n c rps records p50 p99 bad <<<"$row"
  say "| $n | $c | $(fmt "$rps") | $(fmt "$records") | $p50 ms | $p99 ms | $bad | $(pct "$records") |"
done
say ""
say "Peak records/s: 1 record/request $(fmt "${peak[1]}") ($(pct "${peak[1]}") of the ceiling)," \
  "10 records/request $(fmt "${peak[10]}") ($(pct "${peak[10]}")), 100 records/request $(fmt "${peak[100]}")" \
  "($(pct "${peak[100]}")). Gateway peak resident memory (VmHWM): $((hwm_kib / 1024)) MiB."
say ""

cpu_ceiling=$(sort -n "$work/cpu-ceiling" | tail -n1)
say "CPU during the best 100-record run and the best ceiling run, % of one core (the machine has $(nproc)), and"
say "what the broker got (the producers' librdkafka statistics: produce requests, records per request):"
say ""
say "| run | records/s | machine busy | gateway | broker | ClickHouse | rest (load generator, others) | produce requests | records per produce request |"
say "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
per_request() { python3 -c "print(f'{$2 / $1:.0f}' if $1 else '-')"; }
read -r rec conns busy g b ch rest requests sent <<<"$cpu_gateway"
say "| gateway, 100 records/request, $conns connections | $(fmt "$rec") | $busy % | $g % | $b % | $ch % | $rest % |" \
  "$(fmt "$requests") | $(per_request "$requests" "$sent") |"
read -r rec busy g b ch rest requests sent <<<"$cpu_ceiling"
say "| broker ceiling (plain producer) | $(fmt "$rec") | $busy % | $g % | $b % | $ch % | $rest % |" \
  "$(fmt "$requests") | $(per_request "$requests" "$sent") |"
say ""

# The gateway runs leave a backlog in ClickHouse's consumer; later figures must not pay for it.
drained=$(node scripts/bench/drained.mjs "$GW" "$CH" pathlight)
say "ClickHouse consumed the backlog of these runs $(field drained_s "$drained") s after the last of them."
say ""

# --- 3: worker -----------------------------------------------------------------------------------------------
UA="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
worker_rows() { # label port
  local label=$1 port=$2 body events line
  for body in track.json track-10.json; do
    events=$([ "$body" = track.json ] && echo 1 || echo 10)
    line=$(load "$worker_connections" "http://127.0.0.1:$port/track" "$work/$body" text/plain ORIGIN=http://localhost USER_AGENT="$UA")
    say "| $label | $events | $(fmt "$(field accepted_per_s "$line")") | $(fmt "$(python3 -c "print($(field accepted_per_s "$line") * $events)")") |" \
      "$(field p50_ms "$line") ms | $(field p99_ms "$line") ms | $(($(field requests "$line") - $(field accepted "$line"))) |"
  done
}
counter() { # port name -> the worker's isolate counter
  curl -fsS "http://127.0.0.1:$1/health" | python3 -c "import json,sys; print(json.load(sys.stdin)['isolate_counters']['$2'])"
}

say "### Worker: POST /track under wrangler dev (workerd), $worker_connections connections"
say ""
say "| forwarding | events/request | requests/s | events/s | p50 | p99 | non-2xx |"
say "|---|---:|---:|---:|---:|---:|---:|"
worker_rows "queue → gateway (the stack's worker)" "$WORKER_PORT"
# Loss check: every page view the stack's worker accepted must become exactly one row (FINAL: distinct ids).
accepted=$(counter "$WORKER_PORT" events_accepted)
stored=0 deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
  stored=$(sql "SELECT count() FROM pathlight.page_visits FINAL WHERE site = 'demo'")
  ((stored >= accepted)) && break
  sleep 0.3
done
loss_line="queue mode loss check: $accepted page views accepted by the stack's worker, $stored distinct rows stored"
start_worker "FORWARD_MODE:direct" "PROXY_URL:$GW"
worker_rows "direct → gateway" "$EXTRA_WORKER_PORT"
fresh_direct=$(node scripts/bench/freshness.mjs worker "http://127.0.0.1:$EXTRA_WORKER_PORT" "$CH" pathlight "$fresh_rate" "$fresh_s")
stop_worker
! port_open "$SINK_PORT" || die "port $SINK_PORT for the instant sink is taken"
setsid node scripts/bench/sink.mjs "$SINK_PORT" >>"$PATHLIGHT_LOGS/bench-sink.log" 2>&1 &
sink_pid=$!
extra_pids+=("$sink_pid")
sink_count() { curl -fsS --max-time 2 "http://127.0.0.1:$SINK_PORT/count"; }
deadline=$((SECONDS + 30))
until sink_count >/dev/null 2>&1; do
  kill -0 "$sink_pid" 2>/dev/null || die "the instant sink exited: $(tail -n 3 "$PATHLIGHT_LOGS/bench-sink.log")"
  ((SECONDS < deadline)) || die "the instant sink did not answer on port $SINK_PORT within 30 s"
  sleep 0.2
done
for mode in queue direct; do
  before=$(sink_count)
  start_worker "FORWARD_MODE:$mode" "PROXY_URL:http://127.0.0.1:$SINK_PORT"
  worker_rows "$mode → instant sink" "$EXTRA_WORKER_PORT"
  # Both modes answer 202 before forwarding: the rows measured something only if every event this worker
  # accepted reached the sink.
  accepted=$(counter "$EXTRA_WORKER_PORT" events_accepted) deadline=$((SECONDS + 60))
  until (($(sink_count) - before >= accepted)); do
    ((SECONDS < deadline)) ||
      die "$mode → instant sink: the worker accepted $accepted events, the sink took $(($(sink_count) - before))"
    sleep 0.3
  done
  ((accepted > 0)) || die "$mode → instant sink: the worker accepted no event"
  stop_worker
done
sink_records=$(sink_count)
kill -TERM -- "-$sink_pid" 2>/dev/null || true
say ""
say "$loss_line; the instant sink took $(fmt "$sink_records") records."
say ""

# --- 4: freshness --------------------------------------------------------------------------------------------
node scripts/bench/drained.mjs "$GW" "$CH" pathlight >/dev/null
parts() { sql "SELECT count(), sum(active) FROM system.parts WHERE database = 'pathlight' AND table = 'page_visits'" | tr '\t' ' '; }
blocks() { sql "SELECT max(max_block_number) FROM system.parts WHERE database = 'pathlight' AND table = 'page_visits'"; }
b0=$(blocks)
fresh_gw=$(node scripts/bench/freshness.mjs gateway "$GW" "$CH" pathlight "$fresh_rate" "$fresh_s")
b1=$(blocks)
fresh_queue=$(node scripts/bench/freshness.mjs worker "http://127.0.0.1:$WORKER_PORT" "$CH" pathlight "$fresh_rate" "$fresh_s")
b2=$(blocks)
read -r parts_all parts_active <<<"$(parts)"
fresh_row() { # label line
  say "| $1 | $(field p50_ms "$2") ms | $(field p99_ms "$2") ms | $(field max_ms "$2") ms | $(field seen "$2") of $(field events "$2") |"
}
say "### Freshness: ${fresh_rate} events/s for ${fresh_s} s, request sent → row queryable in ClickHouse (polled every 50 ms)"
say ""
say "| path | p50 | p99 | max | rows seen |"
say "|---|---:|---:|---:|---:|"
fresh_row "gateway produce alone (reference)" "$fresh_gw"
fresh_row "/track, worker in queue mode (the stack's)" "$fresh_queue"
fresh_row "/track, worker in direct mode" "$fresh_direct"
say ""
say "Parts: the gateway run created $((b1 - b0)) parts and the queue-mode run $((b2 - b1))" \
  "($(python3 -c "print(f'{($b2 - $b0) / (2 * $fresh_s):.1f}')") a second); page_visits has $parts_active active parts" \
  "($parts_all with those merged away and not yet removed)."
say ""

# --- 5: sizes ------------------------------------------------------------------------------------------------
gz() { gzip -9c "$1" | wc -c; }
# The snippet and recorder as their budgets measure them (zlib level 9 without gzip's file name; tracker-js/scripts/size.mjs).
tracker_size() { node -e 'import("./tracker-js/scripts/size.mjs").then((m) => console.log(m.gzipSize(process.argv[1])))' "$1"; }
bundle=$(bash scripts/check-bundle.sh 2>&1 || true)
upload=$(grep -m1 -i "total upload" <<<"$bundle" | sed 's/^[^A-Za-z]*//' || true)
dry_wasm=$(grep -m1 "^bundle:" <<<"$bundle" || true)
say "### Sizes"
say ""
say "| artifact | gzip, level 9 | budget |"
say "|---|---:|---:|"
say "| snippet tracker-js/dist/pathlight.js | $(fmt "$(tracker_size tracker-js/dist/pathlight.js)") B | 1,536 B |"
say "| recorder tracker-js/dist/record.js | $(fmt "$(tracker_size tracker-js/dist/record.js)") B | 32,768 B |"
say "| worker wasm edge-worker/build/index_bg.wasm | $(fmt "$(gz edge-worker/build/index_bg.wasm)") B | |"
say "| \`wrangler deploy --dry-run\` (scripts/check-bundle.sh) | ${upload:-no total reported}; ${dry_wasm:-no wasm found} | 450 KB gzip |"
say ""
say "Run time: $((SECONDS - t0)) s."

if ((append)); then
  { echo; cat "$out"; } >>BENCHMARKS.md
  log "appended to BENCHMARKS.md"
fi
