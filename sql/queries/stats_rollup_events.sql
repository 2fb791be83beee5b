-- Writes one UTC day's finalized event numbers (sql/016) for every site, per dimension value and in total
-- (dimension ''), from the raw events (FINAL collapses redelivered ones). The rows of a value are the same
-- numbers stats_breakdown.sql gives for that day; the totals those of stats_counts.sql.
-- Bound in order: the day (YYYY-MM-DD), the run's version (unix ms), the day's start and end (unix seconds).
INSERT INTO stats_daily_events (site, day, dimension, value, visitors, pageviews, custom_events, converted_visitors,
                                version)
SELECT
    site,
    toDate(?) AS day,
    tupleElement(pair, 1) AS dimension,
    tupleElement(pair, 2) AS value,
    toUInt64(uniqExactIf(visitor_id, kind = 'pageview')) AS visitors,
    toUInt64(countIf(kind = 'pageview')) AS pageviews,
    toUInt64(countIf(kind = 'event')) AS custom_events,
    toUInt64(uniqExactIf(visitor_id, kind = 'event')) AS converted_visitors,
    toUInt64(?) AS version
FROM
(
    SELECT
        site,
        kind,
        visitor_id,
        arrayJoin([('', ''), ('page', pathname), ('source', referrer_host), ('utm_source', utm_source),
                   ('utm_medium', utm_medium), ('utm_campaign', utm_campaign), ('country', country),
                   ('region', region), ('city', city), ('browser', browser), ('os', os), ('device', device),
                   ('screen_class', multiIf(screen_width = 0, '', screen_width < 576, 'mobile',
                                            screen_width < 992, 'tablet', screen_width < 1440, 'laptop',
                                            'desktop')),
                   ('event', event_name)]) AS pair
    FROM page_visits FINAL
    WHERE timestamp >= toDateTime(?)
      AND timestamp < toDateTime(?)
      AND kind IN ('pageview', 'event')
)
GROUP BY site, dimension, value
