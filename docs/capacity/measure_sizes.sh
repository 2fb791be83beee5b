#!/usr/bin/env bash
# Bytes per stored page view (docs/CAPACITY.md): applies sql/ (without the Kafka-engine tables, which would
# consume from a broker) to a scratch database on CLICKHOUSE_URL, loads docs/capacity/seed_page_visits.sql
# (1,000,000 events through the views into the rollups), merges every table to one part per partition
# (OPTIMIZE ... FINAL) and prints rows and bytes per table from system.parts. Drops the database at the end.
# Usage: CLICKHOUSE_URL=http://127.0.0.1:18123 docs/capacity/measure_sizes.sh [ingest-gateway binary]
set -euo pipefail
cd "$(dirname "$0")/../.."
url=${CLICKHOUSE_URL:-http://127.0.0.1:18123}
gateway=${1:-target/debug/ingest-gateway}
db=capacity_sizes
q() { curl -fsS "$url/?database=${2:-default}" --data-binary "$1"; }

q "DROP DATABASE IF EXISTS $db" && q "CREATE DATABASE $db"
"$gateway" migrate --print | python3 -c '
import json, re, sys
for m in json.load(sys.stdin):
    if not re.search(r"ENGINE\s*=\s*Kafka|FROM\s+\w+_queue\b", m["statement"]):
        print(json.dumps(m["statement"]))' | while read -r statement; do
  q "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]))' "$statement")" "$db"
done
start=$(date +%s.%N)
q "$(cat docs/capacity/seed_page_visits.sql)" "$db"
echo "seeded in $(echo "$(date +%s.%N) - $start" | bc) s"
for table in page_visits stats_hourly stats_sessions; do q "OPTIMIZE TABLE $table FINAL" "$db"; done
q "SELECT kind, count() FROM page_visits GROUP BY kind ORDER BY kind FORMAT PrettyCompactMonoBlock" "$db"
q "SELECT table, sum(rows) AS rows, sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS uncompressed,
     round(sum(data_compressed_bytes) / (SELECT count() FROM $db.page_visits WHERE kind = 'pageview'), 1) AS bytes_per_pageview,
     round(sum(data_compressed_bytes) / (SELECT count() FROM $db.page_visits), 1) AS bytes_per_event
   FROM system.parts WHERE database = '$db' AND active GROUP BY table ORDER BY table FORMAT PrettyCompactMonoBlock"
[ -n "${KEEP:-}" ] || q "DROP DATABASE $db"
