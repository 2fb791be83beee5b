-- Keeps `stats_arrivals` (019) from every insert into `page_visits` (see 011 for which inserts those are).
-- Every kind of event counts: an engagement event changes a visit's duration.
CREATE MATERIALIZED VIEW IF NOT EXISTS stats_arrivals_mv ON CLUSTER pathlight TO stats_arrivals_local
AS SELECT
    site,
    toDate(timestamp) AS day,
    maxState(now()) AS arrived
FROM page_visits_local
GROUP BY site, day;
