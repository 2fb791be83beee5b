-- Visits, bounces and summed visit duration per bucket of visit start, from the visit table (sql/013).
-- The visit subquery, the visit metrics and the filters are the analytics model's (analytics-model): a visit
-- belongs to the bucket of its first event, filters apply to that first event.
-- Its rows are read from the day of `from` on, leaving out the visits with an event the day before, so a
-- visit that began then is not taken for one starting in the range (a visit longer than a day may still be).
-- Bound in order: from, step, step, from, site, from, site, from, from_ms, to_ms, the filters' values.
SELECT
    toUInt32(intDiv(toUInt32(intDiv(visit_started_ms, 1000)) - ?, ?) * ? + ?) AS bucket,
    {{visit_metrics}}
FROM {{visits_of_site.rollup}}
WHERE {{is_visit}}
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      {{visit_filters}}
GROUP BY bucket
ORDER BY bucket
