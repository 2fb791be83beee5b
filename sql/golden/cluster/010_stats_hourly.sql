-- The hourly rollup the stats API reads for counts, kept by 011_stats_hourly_mv.sql and
-- 012_stats_hourly_queue_mv.sql: one row per (site, hour, kind and every breakdown dimension) and insert;
-- AggregatingMergeTree merges rows of the same key, queries merge the rest with the -Merge functions.
--
-- Delivery is at least once, and a redelivered event must count once. A `count()` or `sum()` state would
-- count it twice (and the Kafka path on a server that cascades views feeds this table twice anyway, see
-- 012), so every count here is a set: `events` is the exact set of event ids, `visitors` of visitor ids,
-- `sessions` of the snippet's session ids. A duplicate adds a member the set already holds. uniqExact, not
-- uniq/uniqCombined: the numbers must be exact, and its state is a set of 128-bit hashes of the values.
--
-- `screen_class` is derived here (mobile < 576 px <= tablet < 992 px <= laptop < 1440 px <= desktop; empty
-- when the width was not collected), so filters and breakdowns by it read the key. Page views and custom
-- events share the table, told apart by `kind`; engagement events carry no count and are not rolled up.
CREATE TABLE IF NOT EXISTS stats_hourly_local ON CLUSTER pathlight
(
    site String,
    hour DateTime('UTC'),
    kind LowCardinality(String),
    pathname String,
    referrer_host String,
    utm_source String,
    utm_medium LowCardinality(String),
    utm_campaign String,
    country LowCardinality(String),
    region String,
    city String,
    browser LowCardinality(String),
    os LowCardinality(String),
    device LowCardinality(String),
    screen_class LowCardinality(String),
    event_name String,
    events AggregateFunction(uniqExact, String),
    visitors AggregateFunction(uniqExact, String),
    sessions AggregateFunction(uniqExact, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, kind, pathname, referrer_host, utm_source, utm_medium, utm_campaign, country, region, city,
          browser, os, device, screen_class, event_name);

CREATE TABLE IF NOT EXISTS stats_hourly ON CLUSTER pathlight AS stats_hourly_local
ENGINE = Distributed(pathlight, pathlight, stats_hourly_local);
