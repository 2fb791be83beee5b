-- The days of [from, to) that a rollup run wrote (sql/018): the latest run's version and whether any run
-- closed the day. Bound in order: from, to (YYYY-MM-DD).
SELECT
    toString(day) AS day_text,
    max(version) AS version,
    max(closed) AS closed
FROM stats_daily_runs
WHERE day >= toDate(?)
  AND day < toDate(?)
GROUP BY day
ORDER BY day
