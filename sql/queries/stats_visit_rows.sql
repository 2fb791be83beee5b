-- Visits, bounces and summed visit duration per bucket of visit start, from the finalized visit rows
-- (sql/022) of the days whose rows answer (sql/018 and 019): the numbers stats_visits.sql and
-- stats_visits_raw.sql give, under any filters, a page filter included, without merging visit states.
-- Buckets start at `from` and are `step` seconds long.
-- Bound in order: from, step, step, from, site, the first and last day (YYYY-MM-DD), the days to read with
-- the version of the run that wrote each (an array of 'YYYY-MM-DD/version'), from_ms, to_ms, the filters'
-- values.
SELECT
    toUInt32(intDiv(toUInt32(intDiv(visit_started_ms, 1000)) - ?, ?) * ? + ?) AS bucket,
    {{visit_metrics}}
FROM stats_visit_rows
WHERE site = ?
      AND day >= toDate(?)
      AND day <= toDate(?)
      AND has(?, concat(toString(day), '/', toString(version)))
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      {{visit_filters}}
GROUP BY bucket
ORDER BY bucket
