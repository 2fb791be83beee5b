-- Finalized daily visit numbers, per (site, UTC day of the visit's first event, dimension, value), written
-- by the rollup step from `stats_sessions` (013) beside 016's event numbers.
--
-- `dimension` is `entry_page`, `exit_page`, or a filter that applies to a visit's first event (`source`,
-- `utm_source`, `utm_medium`, `utm_campaign`, `country`, `region`, `city`, `browser`, `os`, `device`,
-- `screen_class`), and '' with value '' for the day's totals. A visit counts on the day it started when it
-- has a page view; a bounce is a visit of one page view and no custom event; `duration_ms` sums last minus
-- first event time. All three are sums over visits, so days add up.
--
-- Replaced as a whole by later runs (highest `version` wins, queries read with FINAL), like 016.
CREATE TABLE IF NOT EXISTS stats_daily_visits
(
    site String,
    day Date,
    dimension String,
    value String,
    visits UInt64,
    bounces UInt64,
    duration_ms UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, dimension, day, value);
