-- One row per value of a breakdown property (a column of the hourly rollup, sql/010, bound as an identifier
-- from the API's fixed list), most visitors first: visitors and page views (page views only), custom events
-- and the visitors who sent one (for a conversion rate). For custom event names, rows without a custom event
-- (page views' empty name) are left out. `from` and `to` are whole hours.
-- Bound in order: the property's column, site, from, to, the filters of stats_counts.sql, only_events
-- (1 to keep only rows with a custom event), limit.
SELECT
    ? AS value,
    toUInt64(uniqExactMergeIf(visitors, kind = 'pageview')) AS unique_visitors,
    toUInt64(uniqExactMergeIf(events, kind = 'pageview')) AS pageviews,
    toUInt64(uniqExactMergeIf(events, kind = 'event')) AS custom_events,
    toUInt64(uniqExactMergeIf(visitors, kind = 'event')) AS converted_visitors
FROM stats_hourly
WHERE site = ?
      AND hour >= toDateTime(?)
      AND hour < toDateTime(?)
      AND (? = '' OR country = ?)
      AND (? = '' OR region = ?)
      AND (? = '' OR city = ?)
      AND (? = '' OR browser = ?)
      AND (? = '' OR os = ?)
      AND (? = '' OR device = ?)
      AND (? = '' OR screen_class = ?)
      AND (? = '' OR referrer_host = ?)
      AND (? = '' OR utm_source = ?)
      AND (? = '' OR utm_medium = ?)
      AND (? = '' OR utm_campaign = ?)
      AND (? = '' OR pathname = ?)
GROUP BY value
HAVING ? = 0 OR custom_events > 0
ORDER BY unique_visitors DESC, custom_events DESC, value
LIMIT ?
