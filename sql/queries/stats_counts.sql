-- Visitors, page views and custom events per time bucket, from the hourly rollup (sql/010): exact, since its
-- states are sets (see there). Buckets start at `from` and are `step` seconds long; a step of (to - from)
-- gives one bucket, the aggregate. `from` and `to` are whole hours.
-- Filters (an empty value means any), in order: country, region, city, browser, os, device, screen_class,
-- referrer_host, utm_source, utm_medium, utm_campaign, pathname; each bound twice.
-- Bound in order: from, step, step, from, site, from, to, the filters.
SELECT
    toUInt32(intDiv(toUInt32(hour) - ?, ?) * ? + ?) AS bucket,
    toUInt64(uniqExactMergeIf(visitors, kind = 'pageview')) AS unique_visitors,
    toUInt64(uniqExactMergeIf(events, kind = 'pageview')) AS pageviews,
    toUInt64(uniqExactMergeIf(events, kind = 'event')) AS custom_events
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
GROUP BY bucket
ORDER BY bucket
