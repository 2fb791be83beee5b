//! The local stack's read-only ClickHouse user, as the gateway's stats API and dashboard use it
//! (CLICKHOUSE_READONLY_USER): on the stack's own ClickHouse 18.16 and database, it reads every stats table
//! and answers the stats API with exact numbers, and the server refuses it every write, DDL and other
//! database. The user lives in the stack's users.xml (`scripts/clickhouse/users.xml.in`, profile with
//! `readonly = 2`), so these tests run against the stack's database, not a fresh one per test: what they
//! write there is one scratch table (dropped at the end) and the events of a site of their own.
//!
//! Needs `scripts/stack.sh up`. Reads `CLICKHOUSE_URL` and `CLICKHOUSE_DATABASE` (default: the stack's), and
//! the user from `CLICKHOUSE_READONLY_USER`/`CLICKHOUSE_READONLY_PASSWORD`, or else the stack's user with the
//! password it keeps in `$PATHLIGHT_STATE/clickhouse/readonly-password`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use event_schema::StoredEvent;
use http_body_util::BodyExt;
use ingest_gateway::auth::Auth;
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::stats::Stats;
use ingest_gateway::warehouse;
use ingest_gateway::{app, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

const DEFAULT_URL: &str = "http://127.0.0.1:18123";
/// The name scripts/stack.sh gives the user.
const STACK_READONLY_USER: &str = "pathlight_readonly";
const TOKEN: &str = "readonly-stats-token";
const FROM: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const TO: u32 = FROM + 86_400;
const H1: u32 = FROM + 3_600;
const H2: u32 = FROM + 7_200;

/// The stats tables the API reads (sql/010-022), and the raw events it falls back to.
const STATS_TABLES: [&str; 8] = [
    "page_visits",
    "stats_hourly",
    "stats_sessions",
    "stats_daily_runs",
    "stats_daily_events",
    "stats_daily_visits",
    "stats_arrivals",
    "stats_visit_rows",
];

struct Stack {
    url: String,
    database: String,
    /// `default`, the stack's administrator.
    admin: clickhouse::Client,
    readonly: clickhouse::Client,
}

impl Stack {
    async fn new() -> Self {
        let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let database = std::env::var("CLICKHOUSE_DATABASE").unwrap_or_else(|_| "pathlight".to_owned());
        let (user, password) = readonly_login();
        let admin = warehouse::client(&url, &database, "default", "");
        let probe = admin.query("SELECT count() FROM system.tables WHERE database = ? AND name = 'stats_hourly'");
        match tokio::time::timeout(Duration::from_secs(10), probe.bind(&database).fetch_one::<u64>()).await {
            Ok(Ok(1)) => {}
            outcome => panic!(
                "the stack's database {database} is not migrated at {url} ({outcome:?}): start the stack with \
                 `scripts/stack.sh up`, or set CLICKHOUSE_URL and CLICKHOUSE_DATABASE"
            ),
        }
        let readonly = warehouse::client(&url, &database, &user, &password);
        Self { url, database, admin, readonly }
    }
}

fn readonly_login() -> (String, String) {
    if let (Ok(user), Ok(password)) =
        (std::env::var("CLICKHOUSE_READONLY_USER"), std::env::var("CLICKHOUSE_READONLY_PASSWORD"))
    {
        return (user, password);
    }
    let state = std::env::var_os("PATHLIGHT_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.stack"));
    let file = state.join("clickhouse/readonly-password");
    let password = std::fs::read_to_string(&file).unwrap_or_else(|error| {
        panic!(
            "cannot read {} ({error}): start the stack with `scripts/stack.sh up` (PATHLIGHT_STATE names its \
             state directory), or set CLICKHOUSE_READONLY_USER and CLICKHOUSE_READONLY_PASSWORD",
            file.display()
        )
    });
    (STACK_READONLY_USER.to_owned(), password.trim().to_owned())
}

/// The server's refusal as text, for assertions on its code and reason.
async fn refusal(client: &clickhouse::Client, sql: &str) -> String {
    match client.query(sql).execute().await {
        Ok(()) => panic!("the read-only user was allowed: {sql}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn the_readonly_user_reads_every_stats_table_with_the_clients_own_settings() {
    let stack = Stack::new().await;
    for table in STATS_TABLES {
        // The read must succeed; its count is not compared: merges and the Kafka tables change counts meanwhile.
        let query = stack.readonly.query("SELECT count() FROM ?").bind(clickhouse::sql::Identifier(table));
        query.fetch_one::<u64>().await.unwrap_or_else(|e| panic!("SELECT from {table} as the read-only user: {e}"));
    }
    // readonly = 2 lets a client set per-query settings, which report tools send with every query.
    let limited = stack.readonly.clone().with_setting("max_execution_time", "5").with_setting("max_result_rows", "10");
    assert_eq!(limited.query("SELECT 7").fetch_one::<u8>().await.expect("a query with settings"), 7);
}

#[tokio::test]
async fn the_readonly_user_is_refused_inserts_alters_drops_creates_and_other_databases() {
    let stack = Stack::new().await;
    let scratch = format!("readonly_probe_{}", uuid::Uuid::new_v4().simple());
    let (database, table) = (&stack.database, &scratch);
    stack
        .admin
        .query_raw(&format!("CREATE TABLE {database}.{table} (n UInt8) ENGINE = MergeTree ORDER BY n"))
        .execute()
        .await
        .expect("creates the scratch table");
    stack.admin.query_raw(&format!("INSERT INTO {table} VALUES (1)")).execute().await.expect("inserts a row");

    for (sql, reason) in [
        (format!("INSERT INTO {table} VALUES (2)"), "Cannot insert into table in readonly mode"),
        (format!("ALTER TABLE {table} DELETE WHERE 1"), "Cannot execute query in readonly mode"),
        (format!("ALTER TABLE {table} ADD COLUMN m UInt8"), "Cannot execute query in readonly mode"),
        (format!("DROP TABLE {table}"), "Cannot drop table in readonly mode"),
        (format!("CREATE TABLE {table}_copy AS {table}"), "Cannot create table in readonly mode"),
    ] {
        let error = refusal(&stack.readonly, &sql).await;
        assert!(error.contains("Code: 164") && error.contains(reason), "{sql}: {error}");
    }
    // Its per-query settings stop at `readonly` itself: it cannot lift its own restriction.
    let lifted = stack.readonly.clone().with_setting("readonly", "0");
    let error = refusal(&lifted, &format!("INSERT INTO {table} VALUES (3)")).await;
    assert!(error.contains("Code: 164") && error.contains("Setting 'readonly' cannot be overrided"), "{error}");

    let other = stack.readonly.clone().with_database("system");
    let error = other.query("SELECT count() FROM default.one").fetch_one::<u64>().await.expect_err("refused");
    let error = error.to_string();
    assert!(error.contains("Code: 291") && error.contains("Access denied to database default"), "{error}");

    let rows: Vec<u8> =
        stack.admin.query(&format!("SELECT n FROM {table} ORDER BY n")).fetch_all().await.expect("reads");
    assert_eq!(rows, [1], "the refused statements changed nothing");
    stack.admin.query_raw(&format!("DROP TABLE {database}.{table}")).execute().await.expect("drops the scratch table");
}

fn event(site: &str, id: &str, session: &str, visitor: &str, ts: u32, pathname: &str) -> StoredEvent {
    StoredEvent {
        event_id: id.into(),
        schema_version: event_schema::SCHEMA_VERSION,
        kind: "pageview".into(),
        site: site.into(),
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

async fn ok(router: &Router, uri: &str) -> Value {
    let request = Request::builder().uri(uri).header("authorization", format!("Bearer {TOKEN}"));
    let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri} answered {status} with no JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

#[tokio::test]
async fn the_stats_api_answers_with_exact_numbers_through_the_readonly_user() {
    let stack = Stack::new().await;
    // A site of this test's own, on a day long past: no other test or visitor of the stack counts it.
    let site = format!("readonly-{}.example", uuid::Uuid::new_v4().simple());
    let mut insert = stack.admin.insert::<StoredEvent>("page_visits").await.expect("starts an insert");
    for seed in [
        event(&site, "r1", "S1", "v1", H1, "/"),
        event(&site, "r2", "S1", "v1", H1 + 60, "/pricing"),
        event(&site, "r3", "S2", "v2", H2, "/"),
    ] {
        insert.write(&seed).await.expect("writes an event");
    }
    insert.end().await.expect("ends the insert");

    let stats = Stats::new(Auth::bearer(TOKEN), stack.readonly.clone()).with_clock(|| H2 + 60);
    let router = app(AppState::new(Arc::new(MemorySink::new())).with_stats(Some(stats)));
    let range = format!("site={site}&from={FROM}&to={TO}");

    let aggregate = ok(&router, &format!("/api/v1/stats/aggregate?{range}")).await;
    assert_eq!(
        aggregate["results"],
        json!({"visitors": 2, "visits": 2, "pageviews": 3, "views_per_visit": 1.5, "bounce_rate": 50.0,
               "visit_duration": 30, "custom_events": 0}),
        "on {} / {}",
        stack.url,
        stack.database
    );
    let raw = ok(&router, &format!("/api/v1/stats/aggregate?site={site}&from={}&to={TO}", FROM + 1)).await;
    assert_eq!(raw["source"]["counts"], "raw");
    assert_eq!(raw["results"]["pageviews"], 3);

    let hours = ok(&router, &format!("/api/v1/stats/timeseries?{range}&interval=hour")).await;
    let pageviews: Vec<u64> =
        hours["results"].as_array().expect("buckets").iter().filter_map(|b| b["pageviews"].as_u64()).collect();
    assert_eq!(pageviews.len(), 24);
    assert_eq!((pageviews[1], pageviews[2], pageviews.iter().sum::<u64>()), (2, 1, 3));

    let pages = ok(&router, &format!("/api/v1/stats/breakdown?{range}&property=page")).await;
    assert_eq!(
        pages["results"],
        json!([{"value": "/", "visitors": 2, "pageviews": 2}, {"value": "/pricing", "visitors": 1, "pageviews": 1}])
    );
    let now = ok(&router, &format!("/api/v1/stats/realtime?site={site}")).await;
    assert_eq!((now["visitors"].as_u64(), now["pageviews"].as_u64()), (Some(1), Some(1)), "{now}");
}
