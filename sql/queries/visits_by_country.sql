-- Page views and distinct visitors per country for one site over [from, to), in unix seconds.
-- Bound in order: site, from, to. FINAL collapses events delivered more than once (see sql/README.md).
SELECT
    country,
    count() AS visits,
    uniqExact(visitor_id) AS visitors
FROM page_visits FINAL
WHERE site = ?
  AND timestamp >= toDateTime(?)
  AND timestamp < toDateTime(?)
  AND kind = 'pageview'
GROUP BY country
ORDER BY visits DESC, country
