-- Kafka ingestion, part 1: `page_visits_queue` is a consumer of the topic; it stores nothing. The view of
-- 003_page_visits_mv.sql moves every block it reads into `page_visits`, and consumption starts only once
-- that view is attached.
--
-- The broker list, topic and consumer group are substituted by the migration runner from its config
-- (ClickHouse cannot bind values in DDL); it accepts only [A-Za-z0-9._:,-] in them. They are fixed when the
-- table is created: to change them, add migrations that drop and recreate the view and this table (see
-- sql/README.md).
--
-- `AS page_visits` gives the queue exactly the columns the durable table has at the moment this runs, so
-- the two start equal; a column added to page_visits later reaches the queue only when it is recreated.
-- JSONEachRow: each record value is one flat StoredEvent object; `timestamp` travels as unix seconds.
-- On ClickHouse 18.16 a record that fails to parse stops this table's consumption for good, so only
-- well-formed events may be produced to the topic.
CREATE TABLE IF NOT EXISTS page_visits_queue ON CLUSTER pathlight AS page_visits_local
ENGINE = Kafka
SETTINGS
    kafka_broker_list = '127.0.0.1:19092',
    kafka_topic_list = 'page_visits',
    kafka_group_name = 'clickhouse-page-visits',
    kafka_format = 'JSONEachRow',
    -- Every row ends a block, so a read ends on time under a steady flow (sql/README.md, "Freshness and parts").
    kafka_flush_interval_ms = 500,
    kafka_handle_error_mode = 'stream';

CREATE TABLE IF NOT EXISTS kafka_dead_letters_local ON CLUSTER pathlight
(
    received_at DateTime('UTC'),
    queue String,
    topic String,
    partition UInt64,
    offset UInt64,
    error String,
    raw_message String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (queue, received_at)
TTL received_at + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS kafka_dead_letters ON CLUSTER pathlight AS kafka_dead_letters_local
ENGINE = Distributed(pathlight, pathlight, kafka_dead_letters_local);

CREATE MATERIALIZED VIEW IF NOT EXISTS page_visits_queue_dead_letters_mv ON CLUSTER pathlight TO kafka_dead_letters_local
AS SELECT
    now() AS received_at,
    'page_visits_queue' AS queue,
    _topic AS topic,
    _partition AS partition,
    _offset AS offset,
    _error AS error,
    _raw_message AS raw_message
FROM page_visits_queue
WHERE length(_error) > 0;
