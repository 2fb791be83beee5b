#!/usr/bin/env bash
# Kafka-engine consumption on ClickHouse (docs/CAPACITY.md). For one topic of PARTITIONS partitions and a
# Kafka table with CONSUMERS consumers (kafka_num_consumers) feeding a copy of page_visits through a view:
#   live     the consumer is attached, then N records are produced through the gateway (docs/capacity/produce.mjs);
#            prints when the broker acknowledged the last one and when the last one was in the table;
#   backlog  a second consumer group with the same number of consumers reads the same N records from the start
#            of the topic: the consumers' own rate, with no producer competing for the CPU.
# The Kafka table has sql/002's settings: kafka_max_block_size = 1 (KAFKA_MAX_BLOCK_SIZE overrides it; the
# server's default is 65536), with the server profile's stream_flush_interval_ms (scripts/clickhouse/users.d).
# Needs a running stack (tansu, ClickHouse) and a gateway that allows TOPIC (ALLOWED_TOPICS).
# Usage: CLICKHOUSE_URL=... KAFKA_BROKERS=... GATEWAY_URL=... measure_consumption.sh TOPIC PARTITIONS CONSUMERS N
set -euo pipefail
cd "$(dirname "$0")/../.."
topic=$1 partitions=$2 consumers=$3 n=$4
url=${CLICKHOUSE_URL:?} brokers=${KAFKA_BROKERS:?} gateway=${GATEWAY_URL:?}
db=capacity_kafka
q() { curl -fsS "$url/" --data-binary "$1"; }
now() { date +%s.%N; }
since() { echo "scale=2; ($(now) - $1) / 1" | bc; }

attach() { # name group: a Kafka table on $topic with $consumers consumers and a view into $db.$name
  q "CREATE TABLE $db.$1 AS $db.template ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(timestamp)
     ORDER BY (site, toDate(timestamp), kind, event_id)"
  q "CREATE TABLE $db.$1_queue AS $db.template ENGINE = Kafka SETTINGS kafka_broker_list = '$brokers',
     kafka_topic_list = '$topic', kafka_group_name = '$2', kafka_format = 'JSONEachRow',
     kafka_num_consumers = $consumers, kafka_max_block_size = ${KAFKA_MAX_BLOCK_SIZE:-1}"
  q "CREATE MATERIALIZED VIEW $db.$1_mv TO $db.$1 AS SELECT * FROM $db.$1_queue"
}
wait_for_rows() { # table -> seconds until it holds $n rows (deadline 10 minutes)
  local start=$1 table=$2 rows=0
  while ((rows < n)); do
    rows=$(q "SELECT count() FROM $db.$table")
    (($(echo "$(now) - $start > 600" | bc))) && { echo "only $rows of $n rows in $table after 600 s" >&2; exit 1; }
    ((rows >= n)) || sleep 0.2 # polling interval of a deadline loop
  done
  since "$start"
}

tansu topic create --broker "tcp://$brokers" --partitions "$partitions" "$topic" >/dev/null
q "CREATE DATABASE IF NOT EXISTS $db"
q "DROP TABLE IF EXISTS $db.template"
q "CREATE TABLE $db.template AS $(q "SELECT database FROM system.tables WHERE name = 'page_visits' LIMIT 1").page_visits"
suffix=$(date +%s)
live="live_${topic}_c${consumers}" backlog="backlog_${topic}_c${consumers}"
attach "$live" "capacity_live_$suffix"
start=$(now)
produced=$(node docs/capacity/produce.mjs "$gateway" "$topic" "$n" 500 4)
acknowledged_s=$(since "$start")
stored_s=$(wait_for_rows "$start" "$live")
attach "$backlog" "capacity_backlog_$suffix"
start=$(now)
backlog_s=$(wait_for_rows "$start" "$backlog")
echo "{\"kafka_max_block_size\":${KAFKA_MAX_BLOCK_SIZE:-1},\"stream_flush_interval_ms\":$(q "SELECT value FROM system.settings WHERE name = 'stream_flush_interval_ms'"),\"topic\":\"$topic\",\"partitions\":$partitions,\"consumers\":$consumers,\"records\":$n,\"produce\":$produced,\
\"live_acknowledged_s\":$acknowledged_s,\"live_all_stored_s\":$stored_s,\"backlog_all_stored_s\":$backlog_s,\
\"backlog_records_per_s\":$(echo "$n / $backlog_s" | bc)}"
for table in "$live" "$backlog"; do q "DROP TABLE $db.${table}_mv"; q "DROP TABLE $db.${table}_queue"; done
