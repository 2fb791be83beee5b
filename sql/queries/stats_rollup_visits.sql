-- Writes the finalized visit numbers (sql/017) of the visits that started on one UTC day, for every site,
-- per dimension value and in total (dimension ''), from the visit table (sql/013): the numbers
-- stats_visits.sql and stats_breakdown_visits.sql give for that day. A visit's rows are read from the day
-- before (so a visit that began then is not taken for one starting on this day) to the day after (a visit
-- still going more than a day after its start day ends there for its duration).
-- Bound in order: the day (YYYY-MM-DD), the run's version (unix ms), the day again (twice), the day's start
-- and end (unix ms).
INSERT INTO stats_daily_visits (site, day, dimension, value, visits, bounces, duration_ms, version)
SELECT
    site,
    toDate(?) AS day,
    tupleElement(pair, 1) AS dimension,
    tupleElement(pair, 2) AS value,
    toUInt64(count()) AS visits,
    toUInt64(countIf(visit_pageviews = 1 AND visit_custom_events = 0)) AS bounces,
    toUInt64(sum(visit_ended_ms - visit_started_ms)) AS duration_ms,
    toUInt64(?) AS version
FROM
(
    SELECT
        site,
        visit_started_ms,
        visit_ended_ms,
        visit_pageviews,
        visit_custom_events,
        arrayJoin([('', ''), ('entry_page', visit_entry_page), ('exit_page', visit_exit_page),
                   ('source', visit_referrer_host), ('utm_source', visit_utm_source),
                   ('utm_medium', visit_utm_medium), ('utm_campaign', visit_utm_campaign),
                   ('country', visit_country), ('region', visit_region), ('city', visit_city),
                   ('browser', visit_browser), ('os', visit_os), ('device', visit_device),
                   ('screen_class', visit_screen_class)]) AS pair
    FROM
    (
        SELECT
            site,
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
        WHERE day >= toDate(?) - 1
          AND day <= toDate(?) + 1
        GROUP BY site, session_id
    )
    WHERE visit_pageviews > 0
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
)
GROUP BY site, dimension, value
