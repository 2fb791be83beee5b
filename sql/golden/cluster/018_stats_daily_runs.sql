-- Which UTC days the rollup step has written into 016 and 017 (for every site at once), when, and whether
-- the day was closed then: over `STATS_ROLLUP_LATE_S` after its end, so that no event of it can still be on
-- its way (the edge's queue gives up on a message after a day). One row per day and run; the stats API
-- reads a day's finalized rows only when a run closed it or ran recently, and merges the states of
-- 010/013 for any other day, so a stopped rollup timer makes reports slower, never stale.
CREATE TABLE IF NOT EXISTS stats_daily_runs_local ON CLUSTER pathlight
(
    day Date,
    version UInt64,
    closed UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, closed);

CREATE TABLE IF NOT EXISTS stats_daily_runs ON CLUSTER pathlight AS stats_daily_runs_local
ENGINE = Distributed(pathlight, pathlight, stats_daily_runs_local);
