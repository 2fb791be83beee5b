-- Visitors, page views and custom events per day of [from, to) from the finalized daily rows (sql/016), for
-- the totals (dimension and value '') or for one filter (its dimension and value), or for two filters of which
-- one has few values: that one's paired rows (`country=DE/browser`, analytics-model's `paired_dimension`) and
-- the other's value.
-- A day's rows are those of the run its mark names or a later one (FINAL keeps a value's latest row): a value
-- that a later run no longer has (an exit page that a late event moved on) keeps the earlier run's row, which
-- the version leaves out.
-- Bound in order: site, dimension, value, from, to (YYYY-MM-DD), the days to read (an array of YYYY-MM-DD:
-- those whose rows answer, see sql/018 and 019), the version of the run that wrote each day from the first
-- of them to the last (an array; 0 between), the first of them again.
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
  AND version >= arrayElement(?, toRelativeDayNum(day) - toRelativeDayNum(toDate(?)) + 1)
ORDER BY day
