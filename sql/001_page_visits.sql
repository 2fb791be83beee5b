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
CREATE TABLE IF NOT EXISTS page_visits
(
    event_id String,
    schema_version UInt8,
    kind String,
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
    language String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_term String,
    utm_content String,
    event_name String,
    props String,
    engaged_ms UInt32,
    browser String,
    browser_version String,
    os String,
    os_version String,
    device String,
    vendor String,
    ip String,
    country String,
    region String,
    region_code String,
    city String,
    continent String,
    timezone String,
    asn UInt32,
    colo String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (site, toDate(timestamp), kind, event_id);
