-- Visits, bounces and summed visit duration per bucket of visit start, from the finalized visit rows
-- (sql/022) of the days whose rows answer (sql/018 and 019): the numbers stats_visits.sql and
-- stats_visits_raw.sql give, under any filters, a page filter included, without merging visit states.
-- Buckets start at `from` and are `step` seconds long.
-- Bound in order: from, step, step, from, site, the first and last day to read (YYYY-MM-DD), the version of
-- the run that wrote each day from the first to the last (an array; 0 for a day not to read: a day's earlier
-- runs' rows are still stored, see sql/022), the first day again, from_ms, to_ms, the filters' values.
SELECT
    toUInt32(intDiv(toUInt32(intDiv(visit_started_ms, 1000)) - ?, ?) * ? + ?) AS bucket,
    {{visit_metrics}}
FROM {{visit_rows_of_site}}
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      {{visit_filters}}
GROUP BY bucket
ORDER BY bucket
