-- The durable store of enriched events: one row per `event_schema::StoredEvent`, column for column
-- (same names, same order; a test in ingest-gateway/tests/warehouse.rs checks it against DESCRIBE TABLE).
--
-- ReplacingMergeTree because delivery is at-least-once: the Kafka engine may re-read a batch after a
-- rebalance, and the edge worker may resend one. A resent event is byte-for-byte the same row, so every
-- column of the sorting key is equal, and background merges keep one copy. Merges run whenever they run,
-- so queries that must be exact read with FINAL (see sql/README.md).
--
-- Sorting key: a site's time-range queries read one contiguous range (site, day); `kind` next because
-- most reports read only page views; `event_id` last makes the key unique per event (it is what lets
-- duplicates collapse) and, being a UUIDv7, keeps each day's rows in time order.
-- Timestamps are DateTime('UTC') so month partitions and days do not depend on the server's time zone.
CREATE TABLE IF NOT EXISTS page_visits_local ON CLUSTER pathlight
(
    event_id String,
    schema_version UInt8,
    kind LowCardinality(String),
    site String,
    session_id String,
    visitor_id String,
    timestamp DateTime('UTC'),
    timestamp_ms UInt64,
    url String,
    hostname String,
    pathname String,
    referrer String,
    referrer_host String,
    title String,
    screen_width UInt16,
    language LowCardinality(String),
    utm_source String,
    utm_medium LowCardinality(String),
    utm_campaign String,
    utm_term String,
    utm_content String,
    event_name String,
    props String,
    engaged_ms UInt32,
    browser LowCardinality(String),
    browser_version String,
    os LowCardinality(String),
    os_version String,
    device LowCardinality(String),
    vendor LowCardinality(String),
    ip String,
    country LowCardinality(String),
    region String,
    region_code LowCardinality(String),
    city String,
    continent LowCardinality(String),
    timezone LowCardinality(String),
    asn UInt32,
    colo LowCardinality(String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(timestamp)
ORDER BY (site, toDate(timestamp), kind, event_id)
TTL timestamp + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS page_visits ON CLUSTER pathlight AS page_visits_local
ENGINE = Distributed(pathlight, pathlight, page_visits_local);
