-- One row per value of a breakdown dimension (its column in the hourly rollup, sql/010, bound as an
-- identifier from the analytics model), most visitors first (for custom event names, the visitors who sent
-- the event, whom the API shows as the row's visitors): visitors and page views (page views only),
-- custom events and the visitors who sent one (for a conversion rate). For custom event names, rows without
-- a custom event (page views' empty name) are left out. `from` and `to` are whole hours.
-- Bound in order: the dimension's column, site, from, to, the filters' values, only_events (1 to keep only
-- rows with a custom event) twice, limit.
SELECT
    ? AS value,
    {{event_metrics.hourly}},
    toUInt64({{metric.converted_visitors.hourly}}) AS converted_visitors
FROM stats_hourly
WHERE site = ?
      AND hour >= toDateTime(?)
      AND hour < toDateTime(?)
      {{event_filters}}
GROUP BY value
HAVING ? = 0 OR custom_events > 0
ORDER BY if(? = 1, converted_visitors, unique_visitors) DESC, custom_events DESC, value
LIMIT ?
