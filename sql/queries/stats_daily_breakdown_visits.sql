-- Entry or exit pages over the days of [from, to), from the finalized daily rows (sql/017), summed over
-- days, most visits first, as stats_breakdown_visits.sql orders them.
-- Bound in order: site, dimension (entry_page or exit_page), from, to (YYYY-MM-DD), the days to read (an array of
-- YYYY-MM-DD: those whose rows answer, see sql/018 and 019), limit.
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
GROUP BY value
ORDER BY visits DESC, value
LIMIT ?
