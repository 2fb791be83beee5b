-- Recording ingestion, part 1: `recording_chunks_queue` consumes the session_recordings topic; it stores
-- nothing. The view of 006_recording_chunks_mv.sql moves what it reads into `recording_chunks`.
--
-- `AS recording_chunks`: the queue has exactly the chunk table's columns, which are the RecordingChunk
-- contract's. JSONEachRow: each record value is one flat RecordingChunk object, `payload` a base64 string.
-- On ClickHouse 18.16 one record that fails to parse stops this table's consumption for good, so the
-- gateway refuses any record on this topic that is not an exact chunk row (ingest-gateway/src/replay/).
--
-- Its own consumer group, `clickhouse-page-visits_recordings`: a group shared with page_visits_queue would
-- rebalance both tables whenever either consumer joins or leaves.
CREATE TABLE IF NOT EXISTS recording_chunks_queue ON CLUSTER pathlight AS recording_chunks_local
ENGINE = Kafka
SETTINGS
    kafka_broker_list = '127.0.0.1:19092',
    kafka_topic_list = 'session_recordings',
    kafka_group_name = 'clickhouse-page-visits_recordings',
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

CREATE MATERIALIZED VIEW IF NOT EXISTS recording_chunks_queue_dead_letters_mv ON CLUSTER pathlight TO kafka_dead_letters_local
AS SELECT
    now() AS received_at,
    'recording_chunks_queue' AS queue,
    _topic AS topic,
    _partition AS partition,
    _offset AS offset,
    _error AS error,
    _raw_message AS raw_message
FROM recording_chunks_queue
WHERE length(_error) > 0;
