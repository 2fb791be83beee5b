-- The arrivals' second feed: every block `page_visits_queue` reads, directly, because 18.16 does not cascade
-- views (see 012). A server that cascades records each arrival twice, which a maximum does not notice.
CREATE MATERIALIZED VIEW IF NOT EXISTS stats_arrivals_queue_mv ON CLUSTER pathlight TO stats_arrivals_local
AS SELECT
    site,
    toDate(timestamp) AS day,
    maxState(now()) AS arrived
FROM page_visits_queue WHERE length(_error) = 0
GROUP BY site, day;
