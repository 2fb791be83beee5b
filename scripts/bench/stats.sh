#!/usr/bin/env bash
# The stats API at 10 million page views (BENCHMARKS.md, "Stats at 10M page views"), on a private stack
# (digit 7: own ports, state in .stack-stats/): seeds page_visits through its materialized views with 32 days
# of synthetic traffic (scripts/bench/stats_seed.sql: 17,142,858 slots, about 10M page views in 2.86M visits),
# writes the daily rollup of every seeded day (`ingest-gateway rollup`), then times a 30-day aggregate and a
# country breakdown:
#   - through the API (`GET /api/v1/stats/...`, curl's total time), RUNS times;
#   - in server time (system.query_log query_duration_ms, summed over the statements one answer sends), for
#     the statements of the daily rows (RUNS times), of the hourly and visit rollups' states and of the raw
#     events (SLOW_RUNS times each: seconds per run).
# Seeding and the rollup run only when the stack has no seeded events yet (about 9 minutes each here);
# `down --purge` the stack (see the end of the output) to start over.
#
#   scripts/bench/stats.sh        RUNS (default 20), SLOW_RUNS (default 3)
set -euo pipefail
source "$(dirname "$0")/../env.sh"
cd "$PATHLIGHT_ROOT"

runs=${RUNS:-20} slow_runs=${SLOW_RUNS:-3}
site=bench.example slots=17142858 chunk=2142858 days=32
from_day=2026-10-01 to_day=2026-10-30 # the 30 days measured, both inclusive
from=1790812800 to=$((from + 30 * 86400))

use_private_stack stats 7
cargo build --locked -q -p ingest-gateway
gateway=$PATHLIGHT_ROOT/target/debug/ingest-gateway
bash scripts/stack.sh start broker >&2
bash scripts/stack.sh start clickhouse >&2
bash scripts/stack.sh start gateway >&2 # applies sql/, serves the stats API as user demo
password=$(cat "$PATHLIGHT_STATE/gateway/replay-password")
CH="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/?database=pathlight"
GW="http://127.0.0.1:$GATEWAY_PORT"
sql() { curl -fsS "$CH" --data-binary "$1"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$(sql "SELECT count() FROM page_visits WHERE site = '$site'")" = 0 ]; then
  t0=$SECONDS
  for ((offset = 0; offset < slots; offset += chunk)); do
    count=$((slots - offset < chunk ? slots - offset : chunk))
    sed -e "s/__OFFSET__/$offset/; s/__COUNT__/$count/; s/__SLOTS__/$slots/; s/__DAYS__/$days/" \
      scripts/bench/stats_seed.sql | curl -fsS "$CH" --data-binary @-
  done
  echo "seeded in $((SECONDS - t0)) s (through page_visits' views, in chunks of $chunk slots)"
  t0=$SECONDS
  CLICKHOUSE_URL="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" "$gateway" rollup --from "$from_day" --to 2026-11-02 \
    2>/dev/null
  echo "rollup of 33 days in $((SECONDS - t0)) s"
fi
sql "SELECT 'page views', countIf(kind = 'pageview'), 'events', count(), 'visits', uniqExact(session_id)
     FROM page_visits FINAL WHERE site = '$site' AND timestamp >= toDateTime($from) AND timestamp < toDateTime($to)"
sql "SELECT table, sum(rows), formatReadableSize(sum(bytes_on_disk)) FROM system.parts
     WHERE active AND database = 'pathlight' AND table LIKE '%s%' GROUP BY table ORDER BY table"

p50() { sort -n | python3 -c "import sys; v=[float(x) for x in sys.stdin]; print(f'{sorted(v)[len(v)//2]:.1f}')"; }

# API: curl's total time in ms over `runs` requests.
api() { # path
  local i
  for ((i = 0; i < runs; i++)); do
    curl -fsS -o /dev/null -u "demo:$password" -w '%{time_total}\n' "$GW$1"
  done | awk '{ print $1 * 1000 }' | p50
}

# Server time: each bound statement (a file of $work) sent with log_queries=1 under its own query id; the run's
# time is the sum of its statements' query_duration_ms.
bind() { "$gateway" bind-sql "$@"; }
server() { # n statement-file...
  local n=$1 i file id; shift
  for ((i = 0; i < n; i++)); do
    for file in "$@"; do
      id="bench-$RANDOM$RANDOM-$i"
      curl -fsS -o /dev/null "$CH&log_queries=1&query_id=$id" --data-binary "@$file"
      echo "$id $i" >>"$work/ids"
    done
  done
  sql "SYSTEM FLUSH LOGS" >/dev/null
  local ids
  ids=$(awk '{ printf "%s\x27%s\x27", (NR > 1 ? "," : ""), $1 }' "$work/ids")
  : >"$work/ids"
  sql "SELECT sum(query_duration_ms) FROM system.query_log WHERE type = 2 AND query_id IN ($ids)
       GROUP BY toUInt32(extract(query_id, '-([0-9]+)\$'))" | p50
}

day_list=$(python3 -c "import json; print(json.dumps(['2026-10-%02d' % d for d in range(1, 31)]))")
q=sql/queries
none=() # the twelve filters, each bound twice, all empty
for _ in $(seq 24); do none+=('""'); done
step=$((to - from))
bind $q/stats_daily_days.sql "\"$from_day\"" '"2026-10-31"' >"$work/days.sql"
bind $q/stats_daily_counts.sql "\"$site\"" '""' '""' "\"$from_day\"" '"2026-10-31"' "$day_list" >"$work/d_counts.sql"
bind $q/stats_daily_visits.sql "\"$site\"" '""' '""' "\"$from_day\"" '"2026-10-31"' "$day_list" >"$work/d_visits.sql"
bind $q/stats_daily_breakdown.sql "\"$site\"" '"country"' "\"$from_day\"" '"2026-10-31"' "$day_list" 0 100 \
  >"$work/d_country.sql"
bind $q/stats_counts.sql $from $step $step $from "\"$site\"" $from $to "${none[@]}" >"$work/s_counts.sql"
bind $q/stats_visits.sql $from $step $step $from "\"$site\"" $from "${from}000" "${to}000" "${none[@]:2}" \
  >"$work/s_visits.sql"
bind $q/stats_counts_raw.sql $from $step $step $from "\"$site\"" $from $to "${none[@]}" >"$work/r_counts.sql"
bind $q/stats_visits_raw.sql $from $step $step $from "\"$site\"" $from "${from}000" "${to}000" "${none[@]}" \
  >"$work/r_visits.sql"
# The breakdown's first `?` is the property's column, bound as an identifier (no `?` precedes it in the file).
sed '0,/?/s//`country`/' $q/stats_breakdown.sql >"$work/breakdown.sql"
bind "$work/breakdown.sql" "\"$site\"" $from $to "${none[@]}" 0 100 >"$work/s_country.sql"
sed '0,/?/s//`country`/' $q/stats_breakdown_raw.sql >"$work/breakdown_raw.sql"
bind "$work/breakdown_raw.sql" "\"$site\"" $from $to "${none[@]}" 0 100 >"$work/r_country.sql"

range="site=$site&from=$from_day&to=$to_day"
aggregate_api=$(api "/api/v1/stats/aggregate?$range")
aggregate_daily=$(server "$runs" "$work/days.sql" "$work/d_counts.sql" "$work/d_visits.sql")
aggregate_states=$(server "$slow_runs" "$work/s_counts.sql" "$work/s_visits.sql")
aggregate_raw=$(server "$slow_runs" "$work/r_counts.sql" "$work/r_visits.sql")
country_api=$(api "/api/v1/stats/breakdown?$range&property=country")
country_daily=$(server "$runs" "$work/days.sql" "$work/d_country.sql")
country_states=$(server "$slow_runs" "$work/s_country.sql")
country_raw=$(server "$slow_runs" "$work/r_country.sql")
echo
echo "30 days ($from_day to $to_day), p50 in ms: API and daily rows over $runs runs, states and raw over $slow_runs"
echo "| answer | API (daily rows) | server: daily rows | server: hourly + visit states | server: raw events |"
echo "|---|---:|---:|---:|---:|"
echo "| aggregate | $aggregate_api | $aggregate_daily | $aggregate_states | $aggregate_raw |"
echo "| country breakdown | $country_api | $country_daily | $country_states | $country_raw |"
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared)"
echo "the stack keeps running with its data; to stop it and delete the data:"
echo "  bash -c 'source scripts/env.sh; use_private_stack stats 7; scripts/stack.sh down --purge'"
