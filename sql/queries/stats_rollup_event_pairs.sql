-- Writes one UTC day's paired event rows (sql/016) of one filter of few values (analytics-model's
-- `Dimension::paired`) for every site: per value of the filter, its events per value of every event dimension,
-- under the dimension `<filter>=<value>/<dimension>` (`country=DE/page`, the model's `paired_dimension`). The
-- rows of `country=DE/page` are the numbers stats_breakdown_raw.sql gives for that day under `country=DE`.
-- One statement per filter, beside stats_rollup_events.sql's rows: all filters in one would hold every
-- combination's sets at once, more memory than a query may take at 10M page views a month (BENCHMARKS.md).
-- Bound in order: the filter's column (an identifier), the day (YYYY-MM-DD), the run's version (unix ms), the
-- filter's name, the day's start and end (unix seconds).
INSERT INTO stats_daily_events (site, day, dimension, value, visitors, pageviews, custom_events, converted_visitors,
                                version)
SELECT
    site,
    any(rollup_day),
    concat(any(filter), '=', filter_value, '/', tupleElement(pair, 1)) AS dimension,
    tupleElement(pair, 2) AS value,
    toUInt64({{metric.visitors.raw}}) AS visitors,
    toUInt64({{metric.pageviews.raw}}) AS pageviews,
    toUInt64({{metric.custom_events.raw}}) AS custom_events,
    toUInt64({{metric.converted_visitors.raw}}) AS converted_visitors,
    any(rollup_version)
FROM
(
    SELECT site, rollup_day, rollup_version, filter, filter_value, kind, event_id, visitor_id,
           arrayJoin({{daily_pairs.breakdowns}}) AS pair
    FROM
    (
        SELECT ? AS filter_value, toDate(?) AS rollup_day, toUInt64(?) AS rollup_version, ? AS filter,
               site, kind, event_id, visitor_id, {{event_columns}}
        FROM page_visits
        WHERE timestamp >= toDateTime(?)
          AND timestamp < toDateTime(?)
          AND {{counted_kinds}}
    )
)
GROUP BY site, filter_value, pair
