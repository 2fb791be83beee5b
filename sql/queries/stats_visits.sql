-- Visits, bounces and summed visit duration per bucket of visit start, from the visit table (sql/013).
-- A visit belongs to the bucket of its first event and counts when it has a page view; a bounce is a
-- visit of exactly one page view and no custom event; duration is its last event's time minus its first.
-- Its rows are read from the day before `from` on, so a visit that began then is not taken for one
-- starting in the range (a visit longer than a day may still be).
-- Filters apply to the visit's first event, in the order of stats_counts.sql without pathname.
-- Bound in order: from, step, step, from, site, from (its day, minus one), from_ms, to_ms, the filters.
SELECT
    toUInt32(intDiv(toUInt32(intDiv(visit_started_ms, 1000)) - ?, ?) * ? + ?) AS bucket,
    toUInt64(count()) AS visits,
    toUInt64(countIf(visit_pageviews = 1 AND visit_custom_events = 0)) AS bounces,
    toUInt64(sum(visit_ended_ms - visit_started_ms)) AS duration_ms
FROM
(
    SELECT
        session_id,
        minMerge(started_ms) AS visit_started_ms,
        maxMerge(ended_ms) AS visit_ended_ms,
        uniqExactIfMerge(pageviews) AS visit_pageviews,
        uniqExactIfMerge(custom_events) AS visit_custom_events,
        argMinMerge(country) AS visit_country,
        argMinMerge(region) AS visit_region,
        argMinMerge(city) AS visit_city,
        argMinMerge(browser) AS visit_browser,
        argMinMerge(os) AS visit_os,
        argMinMerge(device) AS visit_device,
        argMinMerge(screen_class) AS visit_screen_class,
        argMinMerge(referrer_host) AS visit_referrer_host,
        argMinMerge(utm_source) AS visit_utm_source,
        argMinMerge(utm_medium) AS visit_utm_medium,
        argMinMerge(utm_campaign) AS visit_utm_campaign
    FROM stats_sessions
    WHERE site = ?
      AND day >= toDate(toDateTime(?)) - 1
    GROUP BY session_id
)
WHERE visit_pageviews > 0
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
      AND (? = '' OR visit_country = ?)
      AND (? = '' OR visit_region = ?)
      AND (? = '' OR visit_city = ?)
      AND (? = '' OR visit_browser = ?)
      AND (? = '' OR visit_os = ?)
      AND (? = '' OR visit_device = ?)
      AND (? = '' OR visit_screen_class = ?)
      AND (? = '' OR visit_referrer_host = ?)
      AND (? = '' OR visit_utm_source = ?)
      AND (? = '' OR visit_utm_medium = ?)
      AND (? = '' OR visit_utm_campaign = ?)
GROUP BY bucket
ORDER BY bucket
