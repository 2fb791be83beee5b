-- Writes the finalized visit numbers (sql/017) of the visits that started on one UTC day, for every site,
-- per dimension value and in total (dimension ''), from the visit table (sql/013): the numbers
-- stats_visits.sql and stats_breakdown_visits.sql give for that day. A visit's rows are read from the day
-- before (so a visit that began then is not taken for one starting on this day) to the day after (a visit
-- still going more than a day after its start day ends there for its duration).
-- Bound in order: the day (YYYY-MM-DD), the run's version (unix ms), the day again (twice), the day's start
-- and end (unix ms).
INSERT INTO stats_daily_visits (site, day, dimension, value, visits, bounces, duration_ms, version)
SELECT
    site,
    toDate(?) AS day,
    tupleElement(pair, 1) AS dimension,
    tupleElement(pair, 2) AS value,
    {{visit_metrics}},
    toUInt64(?) AS version
FROM
(
    SELECT
        site,
        visit_started_ms,
        visit_ended_ms,
        visit_pageviews,
        visit_custom_events,
        arrayJoin({{daily_pairs.visits}}) AS pair
    FROM
    (
        SELECT
            site,
            session_id,
            {{visit_columns.rollup}}
        FROM stats_sessions
        WHERE day >= toDate(?) - 1
          AND day <= toDate(?) + 1
        GROUP BY site, session_id
    )
    WHERE {{is_visit}}
      AND visit_started_ms >= ?
      AND visit_started_ms < ?
)
GROUP BY site, dimension, value
