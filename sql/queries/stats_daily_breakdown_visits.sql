-- Entry or exit pages over the days of [from, to), from the finalized daily rows (sql/017), summed over
-- days, most visits first, as stats_breakdown_visits.sql orders them.
-- A day's rows are those of the run its mark names or a later one (FINAL keeps a value's latest row): a value
-- that a later run no longer has (an exit page that a late event moved on) keeps the earlier run's row, which
-- the version leaves out.
-- Bound in order: site, dimension (entry_page or exit_page), from, to (YYYY-MM-DD), the days to read (an array of YYYY-MM-DD:
-- those whose rows answer, see sql/018 and 019), the version of the run that wrote each day from the first
-- of them to the last (an array; 0 between), the first of them again,
-- limit.
SELECT
    value,
    toUInt64(sum(visits)) AS visits,
    toUInt64(sum(bounces)) AS bounces,
    toUInt64(sum(duration_ms)) AS duration_ms
FROM stats_daily_visits FINAL
WHERE site = ?
  AND dimension = ?
  AND day >= toDate(?)
  AND day < toDate(?)
  AND has(?, toString(day))
  AND version >= arrayElement(?, toRelativeDayNum(day) - toRelativeDayNum(toDate(?)) + 1)
GROUP BY value
ORDER BY visits DESC, value
LIMIT ?
