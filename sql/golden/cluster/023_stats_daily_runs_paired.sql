-- Whether the run that wrote a day (sql/018) also wrote its paired event rows (sql/016 rows of
-- `<filter>=<value>/<dimension>`, queries/stats_rollup_event_pairs.sql): 1 from the rollup that writes them on.
-- A day written by an earlier rollup has 0, so a question that reads paired rows takes that day from the live
-- rollups and the raw events instead of reading no rows there, until a run writes the day again
-- (`ingest-gateway rollup --from DAY --to DAY`, see sql/README.md, "Daily rollups").
ALTER TABLE stats_daily_runs_local ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS paired UInt8 DEFAULT 0;

ALTER TABLE stats_daily_runs ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS paired UInt8 DEFAULT 0;
