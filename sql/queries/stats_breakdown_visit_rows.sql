-- Visits, bounces and summed duration per value of a visit dimension (entry or exit page, bound as the
-- identifier of its visit column from the analytics model), from the finalized visit rows (sql/022) of the
-- days whose rows answer, most visits first: the numbers stats_breakdown_visits.sql gives, under any
-- filters.
-- Bound in order: the dimension's visit column, site, the first and last day (YYYY-MM-DD), the days to read
-- with their run's version (an array of 'YYYY-MM-DD/version'), from_ms, to_ms, the filters' values, limit.
SELECT
    ? AS value,
    {{visit_metrics}}
FROM stats_visit_rows
WHERE site = ?
      AND day >= toDate(?)
      AND day <= toDate(?)
      AND has(?, concat(toString(day), '/', toString(version)))
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      {{visit_filters}}
GROUP BY value
ORDER BY visits DESC, value
LIMIT ?
