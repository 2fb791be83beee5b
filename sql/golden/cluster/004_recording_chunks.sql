-- The durable store of session recordings: one row per `event_schema::RecordingChunk`, column for column
-- (same names, same order as event-schema/contracts/recording_chunks.columns.json; a test in
-- ingest-gateway/tests/replay_warehouse.rs checks it against DESCRIBE TABLE).
--
-- `payload` holds the chunk's bytes in base64, exactly as they travel on the topic. ClickHouse 18.16, the
-- server this must run on, has no base64Decode (measured: "Unknown function base64Decode"), so the gateway
-- decodes when it replays; base64 costs 4/3 of the compressed bytes, which LZ4 cannot win back (see
-- sql/README.md for the measurement).
--
-- ReplacingMergeTree because delivery is at least once (the Kafka engine may re-read a batch, the browser
-- and the edge may resend a chunk): a resent chunk has the same (site, session_id, tab_id, seq, part), the
-- whole sorting key, so merges keep one copy and replay reads with FINAL.
--
-- Sorting key: a replay reads one session, tab by tab, in sequence and part order: one contiguous range.
-- Monthly partitions by receive time, so retention drops whole months (`ingest-gateway retention`).
CREATE TABLE IF NOT EXISTS recording_chunks_local ON CLUSTER pathlight
(
    schema_version UInt8,
    site String,
    session_id String,
    tab_id String,
    seq UInt32,
    part UInt16,
    parts UInt16,
    first_ts_ms UInt64,
    last_ts_ms UInt64,
    event_count UInt32,
    raw_bytes UInt32,
    compressed_bytes UInt32,
    encoding LowCardinality(String),
    full_snapshot UInt8,
    is_final UInt8,
    dropped String,
    url String,
    pathname String,
    visitor_id String,
    timestamp DateTime('UTC'),
    timestamp_ms UInt64,
    browser LowCardinality(String),
    os LowCardinality(String),
    device LowCardinality(String),
    country LowCardinality(String),
    region String,
    city String,
    payload String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(timestamp)
ORDER BY (site, session_id, tab_id, seq, part);

CREATE TABLE IF NOT EXISTS recording_chunks ON CLUSTER pathlight AS recording_chunks_local
ENGINE = Distributed(pathlight, pathlight, recording_chunks_local);
