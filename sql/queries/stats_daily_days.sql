-- The days of [from, to) that a rollup run wrote (sql/018): the latest run's version, whether any run
-- closed the day, and whether the latest run wrote the day's paired event rows (sql/023).
-- Bound in order: from, to (YYYY-MM-DD).
SELECT
    day_text,
    latest AS version,
    any_closed AS closed,
    latest_paired AS paired
FROM
(
    SELECT
        toString(day) AS day_text,
        max(version) AS latest,
        max(closed) AS any_closed,
        argMax(paired, version) AS latest_paired
    FROM stats_daily_runs
    WHERE day >= toDate(?)
      AND day < toDate(?)
    GROUP BY day
)
ORDER BY day_text
