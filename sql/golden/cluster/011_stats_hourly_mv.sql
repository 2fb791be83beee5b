-- Keeps `stats_hourly` (010) from every insert into `page_visits`: the Kafka engine's view on servers that
-- cascade views, and direct inserts everywhere.
CREATE MATERIALIZED VIEW IF NOT EXISTS stats_hourly_mv ON CLUSTER pathlight TO stats_hourly_local
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
FROM page_visits_local
WHERE kind IN ('pageview', 'event')
GROUP BY site, hour, kind, pathname, referrer_host, utm_source, utm_medium, utm_campaign, country, region, city,
         browser, os, device, screen_class, event_name;
