-- Records that a rollup run wrote one UTC day (sql/018), after all of its inserts succeeded, with its paired
-- event rows (sql/023).
-- Bound in order: the day (YYYY-MM-DD), the run's version (unix ms), closed (1 when the day is past its
-- late window).
INSERT INTO stats_daily_runs (day, version, closed, paired)
SELECT toDate(?), toUInt64(?), toUInt8(?), toUInt8(1)
