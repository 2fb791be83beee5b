-- Visitors, page views and custom events per day of [from, to) from the finalized daily rows (sql/016), for
-- the totals (dimension and value '') or for one filter (its dimension and value).
-- Bound in order: site, dimension, value, from, to (YYYY-MM-DD), the days to read (an array of
-- YYYY-MM-DD: those whose rows answer, see sql/018 and 019).
SELECT
    toString(day) AS day_text,
    visitors,
    pageviews,
    custom_events
FROM stats_daily_events FINAL
WHERE site = ?
  AND dimension = ?
  AND value = ?
  AND day >= toDate(?)
  AND day < toDate(?)
  AND has(?, toString(day))
ORDER BY day
