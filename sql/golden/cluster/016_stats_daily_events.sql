-- Finalized daily numbers of events, per (site, UTC day, dimension, value), written by the rollup step
-- (`ingest-gateway rollup`, and the gateway's timer) from `page_visits FINAL`: plain counts, so a 30-day
-- report sums about 30 rows per value instead of merging sets of millions of ids (see sql/README.md,
-- "Daily rollups").
--
-- `dimension` is the API's name of a breakdown property (`page`, `source`, `utm_source`, `utm_medium`,
-- `utm_campaign`, `country`, `region`, `city`, `browser`, `os`, `device`, `screen_class`, `event`), and ''
-- with value '' for the day's totals. Every number is exact for its day: visitors are distinct visitor ids
-- among page views, which the edge derives with a salt that rotates at UTC midnight, so the visitors of
-- several days are the sum of each day's.
--
-- A day is written again (every column) by each later rollup run that covers it; ReplacingMergeTree keeps
-- the row of the highest `version` (the run's time in ms), and queries read with FINAL. A redelivered event
-- cannot change a number: the rows are computed from `page_visits FINAL`, where it is one row.
CREATE TABLE IF NOT EXISTS stats_daily_events_local ON CLUSTER pathlight
(
    site String,
    day Date,
    dimension String,
    value String,
    visitors UInt64,
    pageviews UInt64,
    custom_events UInt64,
    converted_visitors UInt64,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, dimension, day, value);

CREATE TABLE IF NOT EXISTS stats_daily_events ON CLUSTER pathlight AS stats_daily_events_local
ENGINE = Distributed(pathlight, pathlight, stats_daily_events_local);
