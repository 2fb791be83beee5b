#!/usr/bin/env bash
# The stats API at 10 million page views (BENCHMARKS.md, "Stats at 10M page views"), on a private stack
# (digit 7: own ports, state in .stack-stats/): seeds page_visits through its materialized views with 32 days
# of synthetic traffic ending today (scripts/bench/stats_seed.sql: 17,142,858 slots, about 10M page views in
# 2.86M visits), waits until the seed has settled (STATS_ROLLUP_SETTLE_S), writes the daily rows of every
# seeded day but today (`ingest-gateway rollup`; today stays live, as under steady traffic), then times a
# fixed list of dashboard requests through the API, RUNS times each: curl's total time on loopback, which is
# the server's time plus well under a millisecond.
#
# The list: the aggregate and the time series over 1, 7 and 31 days (each including today), with none, one,
# two and three filters and a page filter, the realtime view's per-minute series, and every dimension's
# breakdown over 31 days without and with a filter (the dimensions come from the model's contract).
#
# Seeding and the rollup run only when the stack has no seeded events yet (minutes each); a stack seeded on
# another day is refused (its days no longer end today): `down --purge` it (see the end of the output).
#
# SERVER=chdb runs the same on current ClickHouse: chDB 26.9 (the engine in-process, no server installs here)
# behind scripts/bench/chdb_http.py, with the tables `migrate --print --server-version 26.9` creates (its Kafka
# tables cannot consume there, and the seed does not need them), in its own private stack (digit 6,
# .stack-stats-chdb/). SCALE=10 seeds ten times the slots (about 100M page views) over the same days.
#
#   scripts/bench/stats.sh        RUNS (default 3), SERVER (clickhouse or chdb), SCALE (default 1)
set -euo pipefail
source "$(dirname "$0")/../env.sh"
cd "$PATHLIGHT_ROOT"

runs=${RUNS:-3} server=${SERVER:-clickhouse} scale=${SCALE:-1}
site=bench.example slots=$((17142858 * scale)) chunk=2142858 days=32
today=$(date -u +%F)
start=$(($(date -u -d "$today" +%s) - (days - 1) * 86400))
day() { date -u -d "@$1" +%F; }

case $server in
  clickhouse) stack=stats digit=7 ;;
  chdb) stack=stats-chdb digit=6 ;;
  *) die "SERVER must be clickhouse or chdb, got $server" ;;
esac
((scale == 1)) || stack=$stack-x$scale
use_private_stack "$stack" "$digit"
# The release build, as deployed.
cargo build --locked --release -q -p ingest-gateway --bin ingest-gateway
export GATEWAY_BIN=$PATHLIGHT_ROOT/target/release/ingest-gateway
gateway=$GATEWAY_BIN
CH="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/?database=pathlight"
GW="http://127.0.0.1:$GATEWAY_PORT"
sql() { curl -fsS "$CH" --data-binary "$1"; }
stop_hint() {
  if [ "$server" = clickhouse ]; then
    echo "bash -c 'source scripts/env.sh; use_private_stack $stack $digit; scripts/stack.sh down --purge'"
  else
    echo "kill -- -\$(cat $PATHLIGHT_STATE/run/gateway.pid) -\$(cat $PATHLIGHT_STATE/run/chdb.pid); rm -rf $PATHLIGHT_STATE"
  fi
}
if [ "$server" = clickhouse ]; then
  bash scripts/stack.sh start broker >&2
  bash scripts/stack.sh start clickhouse >&2
  bash scripts/stack.sh start gateway >&2 # applies sql/, serves the stats API as user demo
  password=$(cat "$PATHLIGHT_STATE/gateway/replay-password")
  read -r server_pid _ <"$PATHLIGHT_STATE/run/clickhouse.pid"
else
  mkdir -p "$PATHLIGHT_STATE/run" "$PATHLIGHT_LOGS" "$PATHLIGHT_STATE/gateway"
  password_file=$PATHLIGHT_STATE/gateway/replay-password
  [ -s "$password_file" ] || od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$password_file"
  password=$(cat "$password_file")
  alive() { [ -f "$PATHLIGHT_STATE/run/$1.pid" ] && kill -0 "$(cat "$PATHLIGHT_STATE/run/$1.pid")" 2>/dev/null; }
  until_up() { # name url
    local deadline=$((SECONDS + 120))
    until curl -fsS -o /dev/null "$2" 2>/dev/null; do
      alive "$1" || die "$1 exited (log: $PATHLIGHT_LOGS/$1.log)"
      ((SECONDS < deadline)) || die "$1 did not answer $2 within 120 s (log: $PATHLIGHT_LOGS/$1.log)"
      sleep 0.2
    done
  }
  if ! alive chdb; then
    setsid python3 scripts/bench/chdb_http.py "$PATHLIGHT_STATE/chdb" "$CLICKHOUSE_HTTP_PORT" \
      </dev/null >>"$PATHLIGHT_LOGS/chdb.log" 2>&1 &
    echo $! >"$PATHLIGHT_STATE/run/chdb.pid"
  fi
  until_up chdb "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping"
  if [ "$(curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/" --data-binary \
    "SELECT count() FROM system.tables WHERE database = 'pathlight' AND name = 'page_visits'")" = 0 ]; then
    curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/" --data-binary "CREATE DATABASE IF NOT EXISTS pathlight"
    # What migrate creates on a current server, statement by statement; a Kafka table is created but cannot
    # start consuming in chDB ("Shutdown was called"), and the seed does not need it.
    { "$gateway" migrate --print --server-version 26.9 | python3 -c 'import json, sys
for m in json.load(sys.stdin):
    for s in [*m.get("before", []), m["statement"], *m.get("after", [])]:
        print(json.dumps(s))'
      "$gateway" migrate --print --rollups --server-version 26.9 | python3 -c 'import json, sys
for s in json.load(sys.stdin):
    print(json.dumps(s))'; } | while IFS= read -r statement; do
      python3 -c 'import json, sys; sys.stdout.write(json.loads(sys.argv[1]))' "$statement" >"$PATHLIGHT_STATE/statement.sql"
      if ! out=$(curl -sS -w '\n%{http_code}' "$CH" \
        --data-binary @"$PATHLIGHT_STATE/statement.sql"); then die "chDB did not answer"; fi
      [ "${out##*$'\n'}" = 200 ] || [[ $out == *"Shutdown was called"* ]] || die "statement failed: $out"
    done
    # chDB cannot open a path again while it holds a Kafka table: drop them and the views they feed.
    sql "SELECT arrayJoin(arrayConcat(dependencies_table, [name])) FROM system.tables
         WHERE database = 'pathlight' AND engine = 'Kafka'" | while read -r table; do
      sql "DROP TABLE pathlight.$table"
    done
  fi
  if ! alive gateway; then
    CLICKHOUSE_URL=$CLICKHOUSE_URL KAFKA_BROKERS=$KAFKA_BROKERS GATEWAY_LISTEN="127.0.0.1:$GATEWAY_PORT" \
      STATS_USERNAME=demo STATS_PASSWORD=$password REPLAY_USERNAME=demo REPLAY_PASSWORD=$password \
      setsid "$gateway" serve </dev/null >>"$PATHLIGHT_LOGS/gateway.log" 2>&1 &
    echo $! >"$PATHLIGHT_STATE/run/gateway.pid"
  fi
  until_up gateway "$GW/healthz"
  server_pid=$(cat "$PATHLIGHT_STATE/run/chdb.pid")
fi

seeded_from=$(sql "SELECT toString(min(toDate(timestamp))) FROM page_visits WHERE site = '$site'")
if [ "$(sql "SELECT count() FROM page_visits WHERE site = '$site'")" = 0 ]; then
  t0=$SECONDS
  for ((offset = 0; offset < slots; offset += chunk)); do
    count=$((slots - offset < chunk ? slots - offset : chunk))
    sed -e "s/__START__/$start/; s/__OFFSET__/$offset/; s/__COUNT__/$count/; s/__SLOTS__/$slots/; s/__DAYS__/$days/" \
      scripts/bench/stats_seed.sql | curl -fsS "$CH" --data-binary @-
  done
  echo "seeded in $((SECONDS - t0)) s (through page_visits' views, in chunks of $chunk slots)"
  # The daily rows answer only once written at least the settle time after a day's last arrival (sql/019).
  settle=$((${STATS_ROLLUP_SETTLE_S:-60} + 1))
  until [ "$(sql "SELECT now() >= toDateTime(maxMerge(arrived)) + $settle FROM stats_arrivals WHERE site = '$site'")" = 1 ]; do
    sleep 1
  done
  t0=$SECONDS
  CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" "$gateway" rollup --from "$(day "$start")" \
    --to "$(day $(($(date -u -d "$today" +%s) - 86400)))" 2>/dev/null
  echo "rollup of $((days - 1)) days in $((SECONDS - t0)) s"
elif [ "$seeded_from" != "$(day "$start")" ]; then
  echo "this stack was seeded from $seeded_from, not $(day "$start"): purge it and run again:" >&2
  echo "  $(stop_hint)" >&2
  exit 1
fi
sql "SELECT 'page views', countIf(kind = 'pageview'), 'events', count(), 'visits', uniqExact(session_id)
     FROM page_visits WHERE site = '$site'"
sql "SELECT table, sum(rows), formatReadableSize(sum(bytes_on_disk)) FROM system.parts
     WHERE active AND database = 'pathlight' AND table LIKE '%s%' GROUP BY table ORDER BY table"

d1="from=$today&to=$today"
d7="from=$(day $(($(date -u -d "$today" +%s) - 6 * 86400)))&to=$today"
d31="from=$(day $(($(date -u -d "$today" +%s) - 30 * 86400)))&to=$today"
minute_to=$(($(date -u +%s) / 60 * 60 + 60))
requests=(
  "aggregate?$d1" "aggregate?$d7" "aggregate?$d31"
  "timeseries?$d1&interval=hour" "timeseries?$d7&interval=day" "timeseries?$d31&interval=day"
  "timeseries?from=$((minute_to - 1800))&to=$minute_to&interval=minute"
  "aggregate?$d31&country=C1" "aggregate?$d7&source=google.com" "aggregate?$d1&device=smartphone"
  "aggregate?$d31&country=C1&browser=Chrome" "aggregate?$d7&source=google.com&os=Android"
  "aggregate?$d31&country=C1&browser=Chrome&device=pc"
  "aggregate?$d31&page=/p/1" "aggregate?$d7&page=/p/1&country=C1"
  "timeseries?$d31&interval=day&country=C1" "timeseries?$d7&interval=day&page=/p/1"
)
dimensions=$(python3 -c "import json; print(' '.join(d['name'] for d in json.load(open(
  'analytics-model/contracts/dimensions.json'))['dimensions']))")
for property in $dimensions; do
  requests+=("breakdown?$d31&property=$property&limit=10")
done
for property in $dimensions; do
  requests+=("breakdown?$d31&property=$property&limit=10&country=C1")
done

p() { # percentile file
  python3 -c "import sys; v=sorted(float(x) for x in open(sys.argv[1])); print(f'{v[min(len(v)-1, int(len(v)*float(sys.argv[2])/100))]:.0f}' if v else '-')" "$@"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo
echo "| # | request (GET /api/v1/stats/..., site=$site) | p50 ms | max ms | answers |"
echo "|---:|---|---:|---:|---|"
n=0
for request in "${requests[@]}"; do
  n=$((n + 1))
  : >"$work/one"
  codes=()
  for ((i = 0; i < runs; i++)); do
    read -r code seconds < <(curl -sS -o /dev/null -u "demo:$password" -w '%{http_code} %{time_total}\n' \
      "$GW/api/v1/stats/${request/\?/"?site=$site&"}")
    codes+=("$code")
    awk -v s="$seconds" 'BEGIN { print s * 1000 }' | tee -a "$work/all" >>"$work/one"
    [ "$code" = 200 ] || echo "$request" >>"$work/failed"
  done
  shown=${request//$today/TODAY}
  echo "| $n | \`$shown\` | $(p "$work/one" 50) | $(p "$work/one" 100) | $(printf '%s\n' "${codes[@]}" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }') |"
done
echo
echo "$n requests x $runs runs: p50 $(p "$work/all" 50) ms, p95 $(p "$work/all" 95) ms, max $(p "$work/all" 100) ms;" \
  "not 200: $(sort -u "$work/failed" 2>/dev/null | wc -l) requests"

# What keeping the numbers fresh costs the server: ClickHouse's CPU time (utime + stime of its process) for a
# timer tick of the earlier design (every tick rewrote today and the two open days), for a tick now when no
# event arrived (two small reads), and for writing one settled day, which now happens once per day.
cpu_ms() { awk '{ printf "%d\n", ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"' }' "/proc/$server_pid/stat"; }
costed() { # label, then the gateway's arguments
  local label=$1 before after t0
  shift
  before=$(cpu_ms) t0=$(date +%s%N)
  CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" "$gateway" "$@" >/dev/null 2>&1
  after=$(cpu_ms)
  echo "| $label | $(((after - before))) | $((($(date +%s%N) - t0) / 1000000)) |"
}
yesterday=$(day $(($(date -u -d "$today" +%s) - 86400)))
echo
echo "| rollup work | server CPU ms | wall ms |"
echo "|---|---:|---:|"
# Three past days stand for the earlier tick's today and two open days (the same work), so today stays live.
costed "earlier design, one tick: three days rewritten (today and the two open days)" \
  rollup --from "$(day $(($(date -u -d "$today" +%s) - 3 * 86400)))" --to "$yesterday"
costed "one tick now, no event arrived since the last run" rollup
costed "one settled day written (once a day, and again after late events)" rollup --from "$yesterday" --to "$yesterday"
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
echo "the stack keeps running with its data; to stop it and delete the data:"
echo "  $(stop_hint)"
