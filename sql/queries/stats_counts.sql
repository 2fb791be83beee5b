-- Visitors, page views and custom events per time bucket, from the hourly rollup (sql/010): exact, since its
-- states are sets (see there). Buckets start at `from` and are `step` seconds long; a step of (to - from)
-- gives one bucket, the aggregate. `from` and `to` are whole hours.
-- A template of the analytics model (analytics-model/src/lib.rs): its metrics and filters are written there.
-- Bound in order: from, step, step, from, site, from, to, the filters' values.
SELECT
    toUInt32(intDiv(toUInt32(hour) - ?, ?) * ? + ?) AS bucket,
    {{event_metrics.hourly}}
FROM stats_hourly
WHERE site = ?
      AND hour >= toDateTime(?)
      AND hour < toDateTime(?)
      {{event_filters}}
GROUP BY bucket
ORDER BY bucket
