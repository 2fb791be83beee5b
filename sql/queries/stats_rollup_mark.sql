-- Records that a rollup run wrote one UTC day (sql/018), after both of its inserts succeeded.
-- Bound in order: the day (YYYY-MM-DD), the run's version (unix ms), closed (1 when the day is past its
-- late window).
INSERT INTO stats_daily_runs (day, version, closed)
SELECT toDate(?), toUInt64(?), toUInt8(?)
