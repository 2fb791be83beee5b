-- Current visitors: distinct visitors (with any event) and page views of a site in [since, until) (the API
-- asks for the last 5 minutes), from the raw events, which are seconds old; FINAL collapses redelivered
-- events. Metrics of the analytics model.
-- Bound in order: site, since, until (unix seconds).
SELECT
    toUInt64({{metric.current_visitors.raw}}) AS visitors,
    toUInt64({{metric.pageviews.raw}}) AS pageviews
FROM page_visits FINAL
WHERE site = ?
  AND timestamp >= toDateTime(?)
  AND timestamp < toDateTime(?)
