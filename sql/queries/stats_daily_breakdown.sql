-- The values of an event property over the days of [from, to), from the finalized daily rows (sql/016): the
-- property's own rows, or under a filter of few values that filter's paired rows (`country=DE/page`,
-- analytics-model's `paired_dimension`), summed over days (visitors too: visitor ids rotate daily), most
-- visitors first, as stats_breakdown.sql orders them.
-- A day's rows are those of the run its mark names or a later one (FINAL keeps a value's latest row): a value
-- that a later run no longer has (an exit page that a late event moved on) keeps the earlier run's row, which
-- the version leaves out.
-- Bound in order: site, dimension, from, to (YYYY-MM-DD), the days to read (an array of YYYY-MM-DD:
-- those whose rows answer, see sql/018 and 019), the version of the run that wrote each day from the first
-- of them to the last (an array; 0 between), the first of them again, only_events (1 to keep
-- only values with a custom event) twice, limit.
SELECT
    value,
    toUInt64(sum(visitors)) AS unique_visitors,
    toUInt64(sum(pageviews)) AS pageviews,
    toUInt64(sum(custom_events)) AS custom_events,
    toUInt64(sum(converted_visitors)) AS converted_visitors
FROM stats_daily_events FINAL
WHERE site = ?
  AND dimension = ?
  AND day >= toDate(?)
  AND day < toDate(?)
  AND has(?, toString(day))
  AND version >= arrayElement(?, toRelativeDayNum(day) - toRelativeDayNum(toDate(?)) + 1)
GROUP BY value
HAVING ? = 0 OR custom_events > 0
ORDER BY if(? = 1, converted_visitors, unique_visitors) DESC, custom_events DESC, value
LIMIT ?
