-- Visits, bounces and summed duration per value of a visit dimension (entry or exit page, bound as the
-- identifier of its visit column from the analytics model), from the visit table (sql/013), most visits
-- first. Same visits and filters as stats_visits.sql.
-- Bound in order: the dimension's visit column, site, from, site, from, from_ms, to_ms, the filters' values,
-- limit.
SELECT
    ? AS value,
    {{visit_metrics}}
FROM {{visits_of_site.rollup}}
WHERE {{is_visit}}
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      {{visit_filters}}
GROUP BY value
ORDER BY visits DESC, value
LIMIT ?
