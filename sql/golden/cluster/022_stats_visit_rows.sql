-- Finalized visits, one row per visit, written by the rollup step (sql/queries/stats_rollup_visit_rows.sql)
-- for each UTC day it writes: the visits that started that day, with their start, end, page views, custom
-- events, entry and exit pages, every value taken from their first event, and the distinct pages they
-- viewed. A question with any filters (several, or a page: `has(visit_pathname_values, ...)`) reads plain
-- values here instead of merging weeks of `stats_sessions` states per visit. The columns are named as the
-- analytics model names a visit's values (`visit_*`), so the model's filter clauses apply unchanged; a test
-- holds them to the model.
--
-- Each run writes a day's rows under its own `version` (its start, unix ms); a day is read only with the
-- version its run mark holds (sql/018), so a run cut short before its mark is never read, and a visit whose
-- start moved to another day by a late event is not counted twice. Nothing is replaced in place: the rows
-- of a day's earlier runs stay, one copy per run (a day is written once after its events settle, plus once
-- per batch of late events), like the rollups they are kept with (retention drops raw events only).
CREATE TABLE IF NOT EXISTS stats_visit_rows_local ON CLUSTER pathlight
(
    site String,
    day Date,
    version UInt64,
    session_id String,
    visit_started_ms UInt64,
    visit_ended_ms UInt64,
    visit_pageviews UInt64,
    visit_custom_events UInt64,
    visit_pathname_values Array(String),
    visit_entry_page String,
    visit_exit_page String,
    visit_referrer_host String,
    visit_utm_source String,
    visit_utm_medium LowCardinality(String),
    visit_utm_campaign String,
    visit_country LowCardinality(String),
    visit_region String,
    visit_city String,
    visit_browser LowCardinality(String),
    visit_os LowCardinality(String),
    visit_device LowCardinality(String),
    visit_screen_class LowCardinality(String)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, version, session_id);

CREATE TABLE IF NOT EXISTS stats_visit_rows ON CLUSTER pathlight AS stats_visit_rows_local
ENGINE = Distributed(pathlight, pathlight, stats_visit_rows_local);
