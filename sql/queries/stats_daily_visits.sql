-- Visits, bounces and summed duration per day of [from, to) from the finalized daily rows (sql/017), for the
-- totals (dimension and value '') or for one filter on the visit's first event.
-- Bound in order: site, dimension, value, from, to (YYYY-MM-DD), the days to read (an array of
-- YYYY-MM-DD: those whose rows answer, see sql/018 and 019).
SELECT
    toString(day) AS day_text,
    visits,
    bounces,
    duration_ms
FROM stats_daily_visits FINAL
WHERE site = ?
  AND dimension = ?
  AND value = ?
  AND day >= toDate(?)
  AND day < toDate(?)
  AND has(?, toString(day))
ORDER BY day
