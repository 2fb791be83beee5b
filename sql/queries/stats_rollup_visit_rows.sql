-- Writes the finalized visit rows (sql/022) of the visits that started on one UTC day, for every site, from
-- the raw events (`page_visits FINAL`: a redelivered event is one row): the visit subquery of the analytics
-- model, as stats_visits_raw.sql reads it. A visit's events are read from the day before (so a visit that
-- began then is not taken for one starting on this day) to the day after (a visit still going after
-- midnight ends there).
-- Bound in order: the day (YYYY-MM-DD), the run's version (unix ms), the day again (twice), the day's start
-- and end (unix ms).
INSERT INTO stats_visit_rows (site, day, version, session_id, {{visit_row_columns}})
SELECT
    site,
    toDate(?) AS day,
    toUInt64(?) AS version,
    session_id,
    {{visit_row_columns}}
FROM
(
    SELECT
        site,
        session_id,
        {{visit_columns.raw}}
    FROM page_visits FINAL
    WHERE toDate(timestamp) >= toDate(?) - 1
      AND toDate(timestamp) <= toDate(?) + 1
    GROUP BY site, session_id
)
WHERE {{is_visit}}
  AND visit_started_ms >= ?
  AND visit_started_ms < ?
