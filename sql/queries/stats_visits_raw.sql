-- The same as stats_visits.sql from the raw events, for a page filter (the visit table keeps only entry and
-- exit pages): a visit passes it when one of its page views is of that page.
-- Bound in order: from, step, step, from, site, from (its day, minus one), from_ms, to_ms, the filters of
-- stats_visits.sql, then pathname twice.
SELECT
    toUInt32(intDiv(toUInt32(intDiv(visit_started_ms, 1000)) - ?, ?) * ? + ?) AS bucket,
    toUInt64(count()) AS visits,
    toUInt64(countIf(visit_pageviews = 1 AND visit_custom_events = 0)) AS bounces,
    toUInt64(sum(visit_ended_ms - visit_started_ms)) AS duration_ms
FROM
(
    SELECT
        session_id,
        min(timestamp_ms) AS visit_started_ms,
        max(timestamp_ms) AS visit_ended_ms,
        countIf(kind = 'pageview') AS visit_pageviews,
        countIf(kind = 'event') AS visit_custom_events,
        groupUniqArrayIf(pathname, kind = 'pageview') AS visit_pages,
        argMin(country, (timestamp_ms, event_id)) AS visit_country,
        argMin(region, (timestamp_ms, event_id)) AS visit_region,
        argMin(city, (timestamp_ms, event_id)) AS visit_city,
        argMin(browser, (timestamp_ms, event_id)) AS visit_browser,
        argMin(os, (timestamp_ms, event_id)) AS visit_os,
        argMin(device, (timestamp_ms, event_id)) AS visit_device,
        argMin(multiIf(screen_width = 0, '', screen_width < 576, 'mobile', screen_width < 992, 'tablet',
                    screen_width < 1440, 'laptop', 'desktop'), (timestamp_ms, event_id)) AS visit_screen_class,
        argMin(referrer_host, (timestamp_ms, event_id)) AS visit_referrer_host,
        argMin(utm_source, (timestamp_ms, event_id)) AS visit_utm_source,
        argMin(utm_medium, (timestamp_ms, event_id)) AS visit_utm_medium,
        argMin(utm_campaign, (timestamp_ms, event_id)) AS visit_utm_campaign
    FROM page_visits FINAL
    WHERE site = ?
      AND toDate(timestamp) >= toDate(toDateTime(?)) - 1
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
      AND (? = '' OR has(visit_pages, ?))
GROUP BY bucket
ORDER BY bucket
