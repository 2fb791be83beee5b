-- The same as stats_counts.sql from the raw events (FINAL collapses redelivered ones), for ranges that are
-- not whole hours. Bound in the same order.
SELECT
    toUInt32(intDiv(toUInt32(timestamp) - ?, ?) * ? + ?) AS bucket,
    toUInt64(uniqExactIf(visitor_id, kind = 'pageview')) AS unique_visitors,
    toUInt64(countIf(kind = 'pageview')) AS pageviews,
    toUInt64(countIf(kind = 'event')) AS custom_events
FROM
(
    SELECT
        timestamp, kind, visitor_id, pathname, referrer_host, utm_source, utm_medium, utm_campaign, country, region,
        city, browser, os, device,
        multiIf(screen_width = 0, '', screen_width < 576, 'mobile', screen_width < 992, 'tablet',
                    screen_width < 1440, 'laptop', 'desktop') AS screen_class
    FROM page_visits FINAL
    WHERE site = ?
      AND timestamp >= toDateTime(?)
      AND timestamp < toDateTime(?)
      AND kind IN ('pageview', 'event')
)
WHERE 1
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
