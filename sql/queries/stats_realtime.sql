-- Current visitors: distinct visitors and page views of a site in [since, until) (the API asks for the last
-- 5 minutes), from the raw events, which are seconds old; FINAL collapses redelivered events.
-- Bound in order: site, since, until (unix seconds).
SELECT
    toUInt64(uniqExact(visitor_id)) AS visitors,
    toUInt64(countIf(kind = 'pageview')) AS pageviews
FROM page_visits FINAL
WHERE site = ?
  AND timestamp >= toDateTime(?)
  AND timestamp < toDateTime(?)
