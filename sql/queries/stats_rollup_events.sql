-- Writes one UTC day's finalized event numbers (sql/016) for every site, per dimension value and in total
-- (dimension ''), from the raw events (every count is of distinct ids: a redelivered event counts once). Its
-- metrics and its dimension values are the analytics model's (analytics-model). The rows of a value are the
-- same numbers stats_breakdown.sql gives for that day; the totals those of stats_counts.sql.
-- Bound in order: the day (YYYY-MM-DD), the run's version (unix ms), the day's start and end (unix seconds).
INSERT INTO stats_daily_events (site, day, dimension, value, visitors, pageviews, custom_events, converted_visitors,
                                version)
SELECT
    site,
    toDate(?) AS day,
    tupleElement(pair, 1) AS dimension,
    tupleElement(pair, 2) AS value,
    toUInt64({{metric.visitors.raw}}) AS visitors,
    toUInt64({{metric.pageviews.raw}}) AS pageviews,
    toUInt64({{metric.custom_events.raw}}) AS custom_events,
    toUInt64({{metric.converted_visitors.raw}}) AS converted_visitors,
    toUInt64(?) AS version
FROM
(
    SELECT site, kind, event_id, visitor_id, arrayJoin({{daily_pairs.events}}) AS pair
    FROM
    (
        SELECT site, kind, event_id, visitor_id, {{event_columns}}
        FROM page_visits
        WHERE timestamp >= toDateTime(?)
          AND timestamp < toDateTime(?)
          AND {{counted_kinds}}
    )
)
GROUP BY site, dimension, value
