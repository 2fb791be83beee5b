-- The same as stats_counts.sql from the raw events, for ranges that are not whole hours and for questions
-- with filters. Every count is of distinct event or visitor ids, so a redelivered event counts once without
-- FINAL, which would merge every part of the range before filtering. With a filter this is faster than
-- merging the hourly rollup's sets (BENCHMARKS.md, "Stats at 10M page views"). Bound in the same order.
SELECT
    toUInt32(intDiv(toUInt32(timestamp) - ?, ?) * ? + ?) AS bucket,
    {{event_metrics.raw}}
FROM
(
    SELECT timestamp, kind, event_id, visitor_id, {{event_columns}}
    FROM page_visits
    WHERE site = ?
      AND timestamp >= toDateTime(?)
      AND timestamp < toDateTime(?)
      AND {{counted_kinds}}
)
WHERE 1
      {{event_filters}}
GROUP BY bucket
ORDER BY bucket
