-- The summary's second feed: every block `recording_chunks_queue` reads, directly. ClickHouse 18.16 does
-- not cascade materialized views: rows that 006_recording_chunks_mv.sql writes into recording_chunks do
-- not trigger 008_recording_sessions_mv.sql (measured: the chunk arrived, the summary stayed empty), so
-- the Kafka path feeds the summary itself, with the same SELECT as 008. Servers that do cascade feed the
-- summary twice with the same chunk, which changes nothing: each of its states ignores a repeated chunk
-- (see 007_recording_sessions.sql).
CREATE MATERIALIZED VIEW IF NOT EXISTS recording_sessions_queue_mv ON CLUSTER pathlight TO recording_sessions_local
AS SELECT
    site,
    toDate(timestamp) AS day,
    session_id,
    tab_id,
    minState(first_ts_ms) AS started_ms,
    maxState(last_ts_ms) AS ended_ms,
    groupUniqArrayState(pathname) AS pages,
    argMinState(url, first_ts_ms) AS entry_url,
    argMinState(visitor_id, first_ts_ms) AS visitor_id,
    argMinState(country, first_ts_ms) AS country,
    argMinState(browser, first_ts_ms) AS browser,
    argMinState(os, first_ts_ms) AS os,
    argMinState(device, first_ts_ms) AS device,
    groupUniqArrayState((seq, part, parts, is_final, full_snapshot, compressed_bytes, raw_bytes, event_count)) AS chunks
FROM recording_chunks_queue WHERE length(_error) = 0
GROUP BY site, day, session_id, tab_id;
