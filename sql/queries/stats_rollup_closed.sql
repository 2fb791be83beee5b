-- The days of [from, to) that a rollup run has closed already (sql/018): the server's timer does not write
-- them again. Bound in order: from, to (YYYY-MM-DD).
SELECT DISTINCT toString(day) AS day_text
FROM stats_daily_runs
WHERE closed = 1
  AND day >= toDate(?)
  AND day < toDate(?)
