-- Visits, page views and visitors per country for one site over [from, to), in unix seconds: the headline
-- report, in the analytics model's terms (analytics-model), so it gives the stats API's numbers. A visit
-- counts in the country and the range of its first event; page views and visitors in the country of each
-- page view. FINAL collapses events delivered more than once (see sql/README.md).
-- Bound in order: site, from, to, site, from, site, from, from_ms, to_ms.
SELECT
    country,
    visits,
    pageviews,
    visitors
FROM
(
    SELECT
        country,
        toUInt64({{metric.pageviews.raw}}) AS pageviews,
        toUInt64({{metric.visitors.raw}}) AS visitors
    FROM page_visits FINAL
    WHERE site = ?
      AND timestamp >= toDateTime(?)
      AND timestamp < toDateTime(?)
    GROUP BY country
) AS per_pageview
ANY LEFT JOIN
(
    SELECT
        visit_country AS country,
        {{visit_metrics}}
    FROM {{visits_of_site.raw}}
    WHERE {{is_visit}}
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
    GROUP BY country
) AS per_visit USING country
WHERE visits > 0 OR pageviews > 0
ORDER BY visits DESC, pageviews DESC, country
