-- The hourly rollup's second feed: every block `page_visits_queue` reads, directly. ClickHouse 18.16 does not
-- cascade materialized views: rows that 003_page_visits_mv.sql writes into page_visits do not trigger
-- 011_stats_hourly_mv.sql, so the Kafka path feeds the rollup itself, with the same SELECT as 011. Servers
-- that do cascade feed it twice with the same events, which changes nothing: every state of 010 is a set.
CREATE MATERIALIZED VIEW IF NOT EXISTS stats_hourly_queue_mv ON CLUSTER pathlight TO stats_hourly_local
AS SELECT
    site,
    toStartOfHour(timestamp) AS hour,
    kind,
    pathname,
    referrer_host,
    utm_source,
    utm_medium,
    utm_campaign,
    country,
    region,
    city,
    browser,
    os,
    device,
    multiIf(screen_width = 0, '', screen_width < 576, 'mobile', screen_width < 992, 'tablet',
            screen_width < 1440, 'laptop', 'desktop') AS screen_class,
    event_name,
    uniqExactState(event_id) AS events,
    uniqExactState(visitor_id) AS visitors,
    uniqExactState(session_id) AS sessions
FROM page_visits_queue
WHERE length(_error) = 0 AND ( kind IN ('pageview', 'event'))
GROUP BY site, hour, kind, pathname, referrer_host, utm_source, utm_medium, utm_campaign, country, region, city,
         browser, os, device, screen_class, event_name;
