-- Keeps `recording_sessions` (007) from every insert into `recording_chunks`, whether the Kafka engine's
-- view made it or a direct insert did. Times of the session are the recorder's (first/last event), the
-- descriptive fields those of the tab's earliest chunk.
CREATE MATERIALIZED VIEW IF NOT EXISTS recording_sessions_mv ON CLUSTER pathlight TO recording_sessions_local
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
FROM recording_chunks_local
GROUP BY site, day, session_id, tab_id;
