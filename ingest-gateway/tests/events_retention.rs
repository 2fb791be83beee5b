//! The raw events' retention against the real ClickHouse server (18.16 in the local stack, which has no
//! TTL): old months of `page_visits` are dropped whole, the month the cutoff falls in and the recent ones
//! stay, and the rollups keep every number. Each test works in its own fresh database.
//!
//! Needs `scripts/stack.sh up` (or `CLICKHOUSE_URL`); see `clickhouse_support`.

mod clickhouse_support;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use clickhouse_support::TestDatabase;
use event_schema::StoredEvent;
use ingest_gateway::retention::{apply_events, drop_expired_partitions};
use ingest_gateway::warehouse;

const SITE: &str = "retention.example";

fn sql_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql")
}

fn unix(text: &str) -> u32 {
    u32::try_from(DateTime::parse_from_rfc3339(text).expect("a time").timestamp()).expect("a 2026 time")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("a time").to_utc()
}

fn page_view(id: &str, session: &str, visitor: &str, time: &str, pathname: &str) -> StoredEvent {
    let ts = unix(time);
    StoredEvent {
        event_id: id.into(),
        schema_version: event_schema::SCHEMA_VERSION,
        kind: "pageview".into(),
        site: SITE.into(),
        session_id: session.into(),
        visitor_id: visitor.into(),
        timestamp: ts,
        timestamp_ms: u64::from(ts) * 1_000,
        pathname: pathname.into(),
        props: "{}".into(),
        country: "DE".into(),
        browser: "Firefox".into(),
        os: "Linux".into(),
        device: "pc".into(),
        screen_width: 1280,
        ..Default::default()
    }
}

/// December and January wholly before the cutoff of the tests (2026-02-28, the last second of January
/// included), February holding days on both sides of it, March recent.
fn seeds() -> Vec<StoredEvent> {
    vec![
        page_view("d1", "SessionDec", "v1", "2025-12-31T23:59:59Z", "/"),
        page_view("j1", "SessionJanA", "v1", "2026-01-01T00:00:00Z", "/"),
        page_view("j2", "SessionJanA", "v1", "2026-01-01T00:01:00Z", "/pricing"),
        page_view("j3", "SessionJanB", "v2", "2026-01-31T23:59:59Z", "/docs"),
        page_view("f1", "SessionFebA", "v3", "2026-02-27T23:59:59Z", "/"),
        page_view("f2", "SessionFebB", "v4", "2026-02-28T00:00:00Z", "/"),
        page_view("m1", "SessionMar", "v5", "2026-03-01T00:00:00Z", "/"),
        page_view("m2", "SessionMar", "v5", "2026-03-29T12:00:00Z", "/docs"),
    ]
}

async fn insert(client: &clickhouse::Client, events: &[StoredEvent]) {
    let mut insert = client.insert::<StoredEvent>("page_visits").await.expect("starts an insert");
    for event in events {
        insert.write(event).await.expect("writes an event");
    }
    insert.end().await.expect("ends the insert");
}

async fn seeded() -> TestDatabase {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("migrates");
    insert(&db.client, &seeds()).await;
    db
}

async fn text_rows(client: &clickhouse::Client, sql: &str) -> Vec<Vec<String>> {
    let bytes = client.query(sql).fetch_bytes("TabSeparatedRaw").expect("starts").collect().await.expect("runs");
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

async fn raw_months(client: &clickhouse::Client) -> Vec<Vec<String>> {
    text_rows(
        client,
        "SELECT toString(toYYYYMM(timestamp)), toString(count()) FROM page_visits GROUP BY toYYYYMM(timestamp) \
         ORDER BY toYYYYMM(timestamp)",
    )
    .await
}

async fn active_partitions(client: &clickhouse::Client, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = ? \
             AND active ORDER BY partition",
        )
        .bind(table)
        .fetch_all()
        .await
        .expect("lists the partitions")
}

/// Every number the stats API reads from the rollups, per month: page views, visitors and visits from the
/// hourly rollup, visits and their page views from the sessions rollup.
async fn rollup_numbers(client: &clickhouse::Client) -> Vec<Vec<String>> {
    let mut rows = text_rows(
        client,
        "SELECT 'hourly', toString(toYYYYMM(hour)), toString(uniqExactMerge(events)), \
         toString(uniqExactMerge(visitors)), toString(uniqExactMerge(sessions)) \
         FROM stats_hourly GROUP BY toYYYYMM(hour) ORDER BY toYYYYMM(hour)",
    )
    .await;
    rows.extend(
        text_rows(
            client,
            "SELECT 'sessions', toString(month), toString(count()), toString(sum(views)) FROM \
             (SELECT toYYYYMM(min(day)) AS month, uniqExactIfMerge(pageviews) AS views FROM stats_sessions \
              GROUP BY site, session_id) GROUP BY month ORDER BY month",
        )
        .await,
    );
    rows
}

fn owned(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|row| row.iter().map(|&cell| cell.to_owned()).collect()).collect()
}

#[tokio::test]
async fn retention_drops_exactly_the_months_before_the_cutoff_and_the_rollups_keep_their_numbers() {
    let db = seeded().await;
    let rollups_before = rollup_numbers(&db.client).await;
    assert_eq!(
        rollups_before,
        owned(&[
            &["hourly", "202512", "1", "1", "1"],
            &["hourly", "202601", "3", "2", "2"],
            &["hourly", "202602", "2", "2", "2"],
            &["hourly", "202603", "2", "1", "1"],
            &["sessions", "202512", "1", "1"],
            &["sessions", "202601", "2", "3"],
            &["sessions", "202602", "2", "2"],
            &["sessions", "202603", "1", "2"],
        ]),
        "the views filled both rollups from the seeds"
    );

    let now = at("2026-03-30T12:00:00Z");
    let report = apply_events(&db.client, 30, now).await.expect("applies").expect("a retention is configured");
    assert_eq!(report.cutoff, NaiveDate::from_ymd_opt(2026, 2, 28).expect("a day"));
    assert_eq!(report.dropped_partitions, ["202512", "202601"]);

    assert_eq!(
        raw_months(&db.client).await,
        owned(&[&["202602", "2"], &["202603", "2"]]),
        "February holds a day inside the kept window, so all of it stays"
    );
    assert_eq!(active_partitions(&db.client, "page_visits").await, ["202602", "202603"]);
    assert_eq!(rollup_numbers(&db.client).await, rollups_before, "the rollups are not touched");
    assert_eq!(active_partitions(&db.client, "stats_hourly").await, ["202512", "202601", "202602", "202603"]);

    let again = apply_events(&db.client, 30, now).await.expect("applies again").expect("configured");
    assert!(again.dropped_partitions.is_empty(), "nothing is left to drop: {again:?}");
    let next_month = apply_events(&db.client, 30, at("2026-03-31T00:00:00Z")).await.expect("applies").expect("on");
    assert_eq!(next_month.dropped_partitions, ["202602"], "February goes once its last day is past the window");
    assert_eq!(raw_months(&db.client).await, owned(&[&["202603", "2"]]));
    db.drop().await;
}

#[tokio::test]
async fn zero_days_keeps_every_event_forever() {
    let db = seeded().await;
    let before = raw_months(&db.client).await;
    assert_eq!(before.len(), 4, "four months seeded: {before:?}");
    let outcome = apply_events(&db.client, 0, at("2030-01-01T00:00:00Z")).await.expect("applies");
    assert_eq!(outcome, None);
    assert_eq!(raw_months(&db.client).await, before);
    db.drop().await;
}

#[tokio::test]
async fn a_table_whose_months_are_not_those_of_the_retention_column_is_left_whole() {
    let db = TestDatabase::new().await;
    let client = db.client.clone().with_database("system");
    client.query("CREATE DATABASE ?").bind(clickhouse::sql::Identifier(&db.name)).execute().await.expect("creates");
    // Partitioned by when a row was sent, expired by when it was received: January by its name, but it holds a
    // row received inside the kept window.
    db.client
        .query(
            "CREATE TABLE sent_months (sent DateTime('UTC'), received DateTime('UTC')) ENGINE = MergeTree \
             PARTITION BY toYYYYMM(sent) ORDER BY received",
        )
        .execute()
        .await
        .expect("creates the table");
    db.client
        .query("INSERT INTO sent_months VALUES (?, ?), (?, ?)")
        .bind(unix("2026-01-10T00:00:00Z"))
        .bind(unix("2026-03-20T00:00:00Z"))
        .bind(unix("2025-11-10T00:00:00Z"))
        .bind(unix("2025-11-11T00:00:00Z"))
        .execute()
        .await
        .expect("inserts");
    let cutoff = NaiveDate::from_ymd_opt(2026, 3, 1).expect("a day");
    let refused = drop_expired_partitions(&db.client, "sent_months", "received", cutoff).await;
    let message = refused.expect_err("refuses").to_string();
    assert!(message.contains("sent_months is not partitioned by toYYYYMM(received)"), "{message}");
    assert_eq!(active_partitions(&db.client, "sent_months").await, ["202511", "202601"], "nothing dropped");
    let by_sent = drop_expired_partitions(&db.client, "sent_months", "sent", cutoff).await.expect("applies");
    assert_eq!(by_sent, ["202511", "202601"], "by the partitioning column itself, both months expired");
    db.drop().await;
}
