-- Keeps `stats_arrivals` (019) from every insert into `page_visits` (see 011 for which inserts those are).
-- Every kind of event counts: an engagement event changes a visit's duration.
CREATE MATERIALIZED VIEW IF NOT EXISTS stats_arrivals_mv TO stats_arrivals
AS SELECT
    site,
    toDate(timestamp) AS day,
    maxState(now()) AS arrived
FROM page_visits
GROUP BY site, day;
