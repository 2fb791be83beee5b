-- One row per visit, for visits, bounce rate, visit duration, entry and exit pages, kept by
-- 014_stats_sessions_mv.sql and 015_stats_sessions_queue_mv.sql: one row per (site, receive day, session)
-- and insert; queries merge them grouped by (site, session_id), so a visit across midnight is one visit.
--
-- A visit is the snippet's session id (a random id per browser tab, kept in sessionStorage), not "page
-- views without a 30-minute gap": the id is on every event, so a visit is a keyed aggregation that a
-- view maintains block by block, whereas a gap rule needs each visitor's events in order across blocks and
-- days (no window functions on 18.16), and a late or redelivered event could split or join visits
-- already counted. The cost: a tab left open for hours is one visit, and two tabs are two.
--
-- Every state is one a redelivered event cannot change: sets of event ids (page views, custom events),
-- min and max of the receive time, and argMin/argMax keyed on (receive time ms, event id), which is unique
-- per event, so a duplicate compares equal to itself and ties between events resolve the same way always.
-- Descriptive fields are those of the visit's first event; the exit page is the page of its last event.
CREATE TABLE IF NOT EXISTS stats_sessions_local ON CLUSTER pathlight
(
    site String,
    day Date,
    session_id String,
    started_ms AggregateFunction(min, UInt64),
    ended_ms AggregateFunction(max, UInt64),
    pageviews AggregateFunction(uniqExactIf, String, UInt8),
    custom_events AggregateFunction(uniqExactIf, String, UInt8),
    visitor_id AggregateFunction(argMin, String, Tuple(UInt64, String)),
    entry_page AggregateFunction(argMin, String, Tuple(UInt64, String)),
    exit_page AggregateFunction(argMax, String, Tuple(UInt64, String)),
    referrer_host AggregateFunction(argMin, String, Tuple(UInt64, String)),
    utm_source AggregateFunction(argMin, String, Tuple(UInt64, String)),
    utm_medium AggregateFunction(argMin, String, Tuple(UInt64, String)),
    utm_campaign AggregateFunction(argMin, String, Tuple(UInt64, String)),
    country AggregateFunction(argMin, String, Tuple(UInt64, String)),
    region AggregateFunction(argMin, String, Tuple(UInt64, String)),
    city AggregateFunction(argMin, String, Tuple(UInt64, String)),
    browser AggregateFunction(argMin, String, Tuple(UInt64, String)),
    os AggregateFunction(argMin, String, Tuple(UInt64, String)),
    device AggregateFunction(argMin, String, Tuple(UInt64, String)),
    screen_class AggregateFunction(argMin, String, Tuple(UInt64, String))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, session_id);

CREATE TABLE IF NOT EXISTS stats_sessions ON CLUSTER pathlight AS stats_sessions_local
ENGINE = Distributed(pathlight, pathlight, stats_sessions_local);
