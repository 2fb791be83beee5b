-- The per-session summary the replay list reads, kept by 008_recording_sessions_mv.sql: one row per
-- (site, receive day, session, tab) and insert; AggregatingMergeTree merges rows of the same key, and
-- queries merge the rest with the -Merge functions, grouped by session.
--
-- Delivery is at least once, so every state here is one a duplicate chunk cannot change: min, max, argMin
-- (the same value at the same time), and sets. `chunks` is the set of each chunk's envelope (seq, part,
-- parts, is_final, full_snapshot, compressed_bytes, raw_bytes, event_count): a resent chunk adds the same
-- tuple again, which the set holds once, so counts, byte sums, the highest sequence, the missing sequences
-- and the final flag are all computed exactly from it at query time (ingest-gateway/src/replay/queries/).
--
-- `day` (the chunks' receive day, UTC) is in the key so the list can skip days before its range, and is
-- the partition key so retention drops the same months here as in recording_chunks.
CREATE TABLE IF NOT EXISTS recording_sessions_local ON CLUSTER pathlight
(
    site String,
    day Date,
    session_id String,
    tab_id String,
    started_ms AggregateFunction(min, UInt64),
    ended_ms AggregateFunction(max, UInt64),
    pages AggregateFunction(groupUniqArray, String),
    entry_url AggregateFunction(argMin, String, UInt64),
    visitor_id AggregateFunction(argMin, String, UInt64),
    country AggregateFunction(argMin, String, UInt64),
    browser AggregateFunction(argMin, String, UInt64),
    os AggregateFunction(argMin, String, UInt64),
    device AggregateFunction(argMin, String, UInt64),
    chunks AggregateFunction(groupUniqArray, Tuple(UInt32, UInt16, UInt16, UInt8, UInt8, UInt32, UInt32, UInt32))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, session_id, tab_id);

CREATE TABLE IF NOT EXISTS recording_sessions ON CLUSTER pathlight AS recording_sessions_local
ENGINE = Distributed(pathlight, pathlight, recording_sessions_local);
