-- The same as stats_breakdown.sql from the raw events, for ranges that are not whole hours and for questions
-- with filters (distinct ids, no FINAL: see stats_counts_raw.sql). Bound in the same order.
SELECT
    ? AS value,
    {{event_metrics.raw}},
    toUInt64({{metric.converted_visitors.raw}}) AS converted_visitors
FROM
(
    SELECT kind, event_id, visitor_id, {{event_columns}}
    FROM page_visits
    WHERE site = ?
      AND timestamp >= toDateTime(?)
      AND timestamp < toDateTime(?)
      AND {{counted_kinds}}
)
WHERE 1
      {{event_filters}}
GROUP BY value
HAVING ? = 0 OR custom_events > 0
ORDER BY if(? = 1, converted_visitors, unique_visitors) DESC, custom_events DESC, value
LIMIT ?
