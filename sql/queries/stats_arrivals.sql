-- When events of each UTC day of [from, to) last arrived (sql/019), for one site, or for every site when the
-- site is '' (the rollup step writes all sites' rows of a day at once). Bound in order: site, site, from, to
-- (YYYY-MM-DD).
SELECT
    toString(day) AS day_text,
    toUInt32(maxMerge(arrived)) AS arrived
FROM stats_arrivals
WHERE (site = ? OR ? = '')
  AND day >= toDate(?)
  AND day < toDate(?)
GROUP BY day
ORDER BY day
