-- Visits, bounces and summed duration per value of a visit dimension (entry or exit page, bound as the
-- identifier of its visit column from the analytics model), from the finalized visit rows (sql/022) of the
-- days whose rows answer, most visits first: the numbers stats_breakdown_visits.sql gives, under any
-- filters.
-- Bound in order: the dimension's visit column, site, the first and last day to read (YYYY-MM-DD), the version
-- of the run that wrote each day from the first to the last (an array; 0 for a day not to read), the first
-- day again, from_ms, to_ms, the filters' values, limit.
SELECT
    ? AS value,
    {{visit_metrics}}
FROM {{visit_rows_of_site}}
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      {{visit_filters}}
GROUP BY value
ORDER BY visits DESC, value
LIMIT ?
