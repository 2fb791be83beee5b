-- The same as stats_counts.sql from the raw events (FINAL collapses redelivered ones), for ranges that are
-- not whole hours. Bound in the same order.
SELECT
    toUInt32(intDiv(toUInt32(timestamp) - ?, ?) * ? + ?) AS bucket,
    {{event_metrics.raw}}
FROM
(
    SELECT timestamp, kind, visitor_id, {{event_columns}}
    FROM page_visits FINAL
    WHERE site = ?
      AND timestamp >= toDateTime(?)
      AND timestamp < toDateTime(?)
      AND {{counted_kinds}}
)
WHERE 1
      {{event_filters}}
GROUP BY bucket
ORDER BY bucket
