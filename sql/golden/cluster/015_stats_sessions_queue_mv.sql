-- The visit table's second feed: every block `page_visits_queue` reads, directly, because 18.16 does not
-- cascade views (see 012). A server that cascades feeds each event twice, which no state of 013 notices.
CREATE MATERIALIZED VIEW IF NOT EXISTS stats_sessions_queue_mv ON CLUSTER pathlight TO stats_sessions_local
AS SELECT
    site,
    toDate(timestamp) AS day,
    session_id,
    minState(timestamp_ms) AS started_ms,
    maxState(timestamp_ms) AS ended_ms,
    uniqExactIfState(event_id, kind = 'pageview') AS pageviews,
    uniqExactIfState(event_id, kind = 'event') AS custom_events,
    argMinState(visitor_id, (timestamp_ms, event_id)) AS visitor_id,
    argMinState(pathname, (timestamp_ms, event_id)) AS entry_page,
    argMaxState(pathname, (timestamp_ms, event_id)) AS exit_page,
    argMinState(referrer_host, (timestamp_ms, event_id)) AS referrer_host,
    argMinState(utm_source, (timestamp_ms, event_id)) AS utm_source,
    argMinState(utm_medium, (timestamp_ms, event_id)) AS utm_medium,
    argMinState(utm_campaign, (timestamp_ms, event_id)) AS utm_campaign,
    argMinState(country, (timestamp_ms, event_id)) AS country,
    argMinState(region, (timestamp_ms, event_id)) AS region,
    argMinState(city, (timestamp_ms, event_id)) AS city,
    argMinState(browser, (timestamp_ms, event_id)) AS browser,
    argMinState(os, (timestamp_ms, event_id)) AS os,
    argMinState(device, (timestamp_ms, event_id)) AS device,
    argMinState(multiIf(screen_width = 0, '', screen_width < 576, 'mobile', screen_width < 992, 'tablet',
                        screen_width < 1440, 'laptop', 'desktop'), (timestamp_ms, event_id)) AS screen_class
FROM page_visits_queue WHERE length(_error) = 0
GROUP BY site, day, session_id;
