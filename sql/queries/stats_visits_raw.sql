-- The same as stats_visits.sql from the raw events, for a page filter (the visit table keeps only entry and
-- exit pages): a visit passes it when one of its page views is of that page. Bound in the same order.
SELECT
    toUInt32(intDiv(toUInt32(intDiv(visit_started_ms, 1000)) - ?, ?) * ? + ?) AS bucket,
    {{visit_metrics}}
FROM {{visits_of_site.raw}}
WHERE {{is_visit}}
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      {{visit_filters}}
GROUP BY bucket
ORDER BY bucket
