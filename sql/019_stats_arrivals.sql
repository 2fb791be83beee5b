-- When events last arrived, per site and UTC day of their timestamp, kept by 020_stats_arrivals_mv.sql and
-- 021_stats_arrivals_queue_mv.sql: the server's clock (`now()`) at each insert, so the largest is the time
-- the day's numbers last changed.
--
-- It is what makes the daily rows (016-018) safe to read for a day that can still receive events: a day's
-- rows answer a report only when the run that wrote them started at least `STATS_ROLLUP_SETTLE_S` after the
-- site's last arrival for that day; otherwise the day is read from the live rollups (010, 013), which every
-- insert updates. So today, while events arrive, is always live, and the rollup step writes only days
-- that received events since their last run (see sql/README.md, "Daily rollups"). A redelivered event is an
-- arrival too: it changes no number, but makes the day live until the next run.
CREATE TABLE IF NOT EXISTS stats_arrivals
(
    site String,
    day Date,
    arrived AggregateFunction(max, DateTime)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, day);
