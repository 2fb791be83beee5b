-- Visits, bounces and summed duration per entry or exit page (the visit's first and last page, bound as the
-- identifier visit_entry_page or visit_exit_page from the API's fixed list), from the visit table (sql/013),
-- most visits first. Same visits and filters as stats_visits.sql.
-- Bound in order: the property's column, site, from (its day, minus one), from_ms, to_ms, the filters of
-- stats_visits.sql, limit.
SELECT
    ? AS value,
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
        argMinMerge(entry_page) AS visit_entry_page,
        argMaxMerge(exit_page) AS visit_exit_page,
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
GROUP BY value
ORDER BY visits DESC, value
LIMIT ?
