//! The analytics against the real ClickHouse server (18.16 in the local stack): the rollups kept by their
//! views, the stats API on top of them with exact numbers, a redelivered event changing none of them, and
//! the same events arriving through the Kafka engine. The seeds are those of `tests/sql/test_chdb_stats.py`,
//! which holds the same queries to the same numbers on modern ClickHouse. Each test works in its own
//! fresh database.
//!
//! Needs `scripts/stack.sh up` (or `CLICKHOUSE_URL`, and `KAFKA_BROKERS` for the Kafka test); see
//! `clickhouse_support`.

mod clickhouse_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use clickhouse_support::TestDatabase;
use event_schema::StoredEvent;
use http_body_util::BodyExt;
use ingest_gateway::auth::Auth;
use ingest_gateway::sink::kafka::create_topic;
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::stats::cli::{self, Range, StatsCommand};
use ingest_gateway::stats::daily::Freshness;
use ingest_gateway::stats::{query, Stats};
use ingest_gateway::warehouse;
use ingest_gateway::{app, AppState};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use tower::ServiceExt;

const SITE: &str = "s.example";
const TOKEN: &str = "stats-test-token";
const FROM: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const TO: u32 = FROM + 86_400;
const H1: u32 = FROM + 3_600;
const H2: u32 = FROM + 7_200;
const DEADLINE: Duration = Duration::from_secs(60);

fn sql_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql")
}

struct Visitor {
    country: &'static str,
    browser: &'static str,
    os: &'static str,
    device: &'static str,
    screen_width: u16,
}

const DESKTOP_DE: Visitor = Visitor { country: "DE", browser: "Chrome", os: "Linux", device: "pc", screen_width: 1920 };
const PHONE_FR: Visitor =
    Visitor { country: "FR", browser: "Firefox", os: "Android", device: "smartphone", screen_width: 400 };

fn event(id: &str, session: &str, visitor: &str, ts: u32, pathname: &str, kind: &str, who: &Visitor) -> StoredEvent {
    StoredEvent {
        event_id: id.into(),
        schema_version: event_schema::SCHEMA_VERSION,
        kind: kind.into(),
        site: SITE.into(),
        session_id: session.into(),
        visitor_id: visitor.into(),
        timestamp: ts,
        timestamp_ms: u64::from(ts) * 1_000,
        pathname: pathname.into(),
        props: "{}".into(),
        country: who.country.into(),
        browser: who.browser.into(),
        os: who.os.into(),
        device: who.device.into(),
        screen_width: who.screen_width,
        ..Default::default()
    }
}

/// Three visits on 2026-01-01 (see test_chdb_stats.py): S1 (two page views, a signup, 100 s), S2 (a bounce
/// from a phone in France, 0 s), S3 (the first visitor in another tab, a bounce of 30 s); then an event of
/// another site and one of the next day.
fn seeds() -> Vec<StoredEvent> {
    let mut landing = event("a1", "S1", "v1", H1, "/", "pageview", &DESKTOP_DE);
    landing.referrer_host = "google.com".into();
    landing.utm_source = "newsletter".into();
    let mut signup = event("a3", "S1", "v1", H1 + 90, "/pricing", "event", &DESKTOP_DE);
    signup.event_name = "signup".into();
    let mut other_site = event("d1", "S4", "v4", H1 + 5, "/", "pageview", &DESKTOP_DE);
    other_site.site = "other.example".into();
    vec![
        landing,
        event("a2", "S1", "v1", H1 + 60, "/pricing", "pageview", &DESKTOP_DE),
        signup,
        event("a4", "S1", "v1", H1 + 100, "/pricing", "engagement", &DESKTOP_DE),
        event("b1", "S2", "v2", H2, "/", "pageview", &PHONE_FR),
        event("c1", "S3", "v1", H2 + 100, "/docs", "pageview", &DESKTOP_DE),
        event("c2", "S3", "v1", H2 + 130, "/docs", "engagement", &DESKTOP_DE),
        other_site,
        event("e1", "S5", "v5", TO + 100, "/", "pageview", &DESKTOP_DE),
    ]
}

async fn insert(client: &clickhouse::Client, events: &[StoredEvent]) {
    let mut insert = client.insert::<StoredEvent>("page_visits").await.expect("starts an insert");
    for event in events {
        insert.write(event).await.expect("writes an event");
    }
    insert.end().await.expect("ends the insert");
}

async fn migrated() -> TestDatabase {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("migrates");
    db
}

fn gateway(db: &TestDatabase) -> Router {
    let stats = Stats::new(Auth::bearer(TOKEN), db.client.clone()).with_clock(|| H2 + 200);
    app(AppState::new(Arc::new(MemorySink::new())).with_stats(Some(stats)))
}

async fn get(router: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri} answered {status} with no JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

async fn ok(router: &Router, uri: &str) -> Value {
    let (status, body) = get(router, uri, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

fn range() -> String {
    format!("site={SITE}&from={FROM}&to={TO}")
}

/// Every answer of the API on the seeds, as the tests compare them before and after a redelivery.
async fn every_answer(router: &Router) -> Vec<Value> {
    let r = range();
    let mut answers = Vec::new();
    for uri in [
        format!("/api/v1/stats/aggregate?{r}"),
        format!("/api/v1/stats/aggregate?{r}&page=/docs"),
        format!("/api/v1/stats/aggregate?site={SITE}&from={}&to={TO}", FROM + 1),
        format!("/api/v1/stats/timeseries?{r}&interval=hour"),
        format!("/api/v1/stats/breakdown?{r}&property=country"),
        format!("/api/v1/stats/breakdown?{r}&property=event"),
        format!("/api/v1/stats/breakdown?{r}&property=entry_page"),
        format!("/api/v1/stats/breakdown?{r}&property=exit_page"),
        format!("/api/v1/stats/realtime?site={SITE}"),
    ] {
        answers.push(ok(router, &uri).await);
    }
    answers
}

#[tokio::test]
async fn the_aggregate_has_exact_numbers_from_the_rollups_and_the_same_from_the_raw_events() {
    let db = migrated().await;
    insert(&db.client, &seeds()).await;
    let router = gateway(&db);

    let aggregate = ok(&router, &format!("/api/v1/stats/aggregate?{}", range())).await;
    let expected = json!({"visitors": 2, "visits": 3, "pageviews": 4, "views_per_visit": 1.33, "bounce_rate": 66.7,
                          "visit_duration": 43, "custom_events": 1});
    assert_eq!(aggregate["results"], expected);
    assert_eq!(aggregate["source"], json!({"counts": "rollup", "visits": "rollup"}));

    // A range that is not whole hours is read from the raw events; the seeds give the same numbers.
    let raw = ok(&router, &format!("/api/v1/stats/aggregate?site={SITE}&from={}&to={TO}", FROM + 1)).await;
    assert_eq!(raw["results"], expected);
    assert_eq!(raw["source"]["counts"], "raw");

    let germany = ok(&router, &format!("/api/v1/stats/aggregate?{}&country=DE", range())).await;
    assert_eq!(
        germany["results"],
        json!({"visitors": 1, "visits": 2, "pageviews": 3, "views_per_visit": 1.5, "bounce_rate": 50.0,
               "visit_duration": 65, "custom_events": 1})
    );
    let docs = ok(&router, &format!("/api/v1/stats/aggregate?{}&page=/docs", range())).await;
    assert_eq!(docs["source"], json!({"counts": "raw", "visits": "raw"}), "a filter counts the matching events");
    assert_eq!(
        docs["results"],
        json!({"visitors": 1, "visits": 1, "pageviews": 1, "views_per_visit": 1.0, "bounce_rate": 100.0,
               "visit_duration": 30, "custom_events": 0})
    );
    db.drop().await;
}

#[tokio::test]
async fn the_timeseries_lists_every_bucket_and_the_breakdowns_their_top_values() {
    let db = migrated().await;
    insert(&db.client, &seeds()).await;
    let router = gateway(&db);

    let series = ok(&router, &format!("/api/v1/stats/timeseries?{}&interval=hour", range())).await;
    let buckets = series["results"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 24, "every hour, the empty ones too");
    assert_eq!(buckets[0]["visitors"], 0);
    assert_eq!(
        buckets[1],
        json!({"time": H1, "visitors": 1, "visits": 1, "pageviews": 2, "views_per_visit": 2.0, "bounce_rate": 0.0,
               "visit_duration": 100, "custom_events": 1})
    );
    assert_eq!(
        buckets[2],
        json!({"time": H2, "visitors": 2, "visits": 2, "pageviews": 2, "views_per_visit": 1.0, "bounce_rate": 100.0,
               "visit_duration": 15, "custom_events": 0})
    );

    let countries = ok(&router, &format!("/api/v1/stats/breakdown?{}&property=country", range())).await;
    assert_eq!(
        countries["results"],
        json!([{"value": "DE", "visitors": 1, "pageviews": 3}, {"value": "FR", "visitors": 1, "pageviews": 1}])
    );
    let events = ok(&router, &format!("/api/v1/stats/breakdown?{}&property=event", range())).await;
    assert_eq!(events["results"], json!([{"value": "signup", "visitors": 1, "events": 1, "conversion_rate": 50.0}]));
    let entry = ok(&router, &format!("/api/v1/stats/breakdown?{}&property=entry_page", range())).await;
    assert_eq!(
        entry["results"],
        json!([{"value": "/", "visits": 2, "bounce_rate": 50.0, "visit_duration": 50},
               {"value": "/docs", "visits": 1, "bounce_rate": 100.0, "visit_duration": 30}])
    );
    let screens = ok(&router, &format!("/api/v1/stats/breakdown?{}&property=screen_class&limit=1", range())).await;
    assert_eq!(screens["results"], json!([{"value": "desktop", "visitors": 1, "pageviews": 3}]));

    let now = ok(&router, &format!("/api/v1/stats/realtime?site={SITE}")).await;
    assert_eq!((&now["visitors"], &now["pageviews"]), (&json!(2), &json!(2)), "{now}");
    db.drop().await;
}

#[tokio::test]
async fn a_redelivered_event_is_stored_twice_and_changes_no_number() {
    let db = migrated().await;
    let seeds = seeds();
    insert(&db.client, &seeds).await;
    let router = gateway(&db);
    let before = every_answer(&router).await;
    // Delivered again in its own insert, so in its own parts, as a Kafka re-read would.
    insert(&db.client, &[seeds[0].clone(), seeds[2].clone()]).await;
    let stored: u64 =
        db.client.query("SELECT count() FROM page_visits WHERE event_id = 'a1'").fetch_one().await.expect("counts");
    assert_eq!(stored, 2);
    assert_eq!(every_answer(&router).await, before);
    db.drop().await;
}

/// A request with its `If-None-Match`, as the dashboard refreshes: the status, the `ETag` and the body.
async fn conditional(router: &Router, uri: &str, tag: Option<&str>) -> (StatusCode, String, Vec<u8>) {
    let mut request = Request::builder().uri(uri).header("authorization", format!("Bearer {TOKEN}"));
    if let Some(tag) = tag {
        request = request.header("if-none-match", tag);
    }
    let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answers");
    let status = response.status();
    let tag = response.headers().get("etag").map(|v| v.to_str().expect("ascii").to_owned()).unwrap_or_default();
    let bytes = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, tag, bytes)
}

#[tokio::test]
async fn an_unchanged_answer_is_not_sent_again_and_a_new_event_changes_it_at_once() {
    let db = migrated().await;
    let seeds = seeds();
    insert(&db.client, &seeds).await;
    let router = gateway(&db);
    for uri in [
        format!("/api/v1/stats/aggregate?{}", range()),
        format!("/api/v1/stats/timeseries?{}&interval=hour", range()),
        format!("/api/v1/stats/breakdown?{}&property=page", range()),
    ] {
        let (status, tag, body) = conditional(&router, &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(tag.starts_with('"') && tag.len() == 34, "{uri}: a strong tag, {tag:?}");
        let (again, same_tag, empty) = conditional(&router, &uri, Some(&tag)).await;
        assert_eq!((again, same_tag.as_str(), empty.len()), (StatusCode::NOT_MODIFIED, tag.as_str(), 0), "{uri}");
        let (other, _, whole) = conditional(&router, &uri, Some("\"another\"")).await;
        assert_eq!((other, &whole), (StatusCode::OK, &body), "{uri}");
    }
    let uri = format!("/api/v1/stats/aggregate?{}", range());
    let (_, tag, _) = conditional(&router, &uri, None).await;
    insert(&db.client, &[event("n1", "S9", "v9", H1 + 30, "/new", "pageview", &DESKTOP_DE)]).await;
    let (status, new_tag, body) = conditional(&router, &uri, Some(&tag)).await;
    assert_eq!(status, StatusCode::OK, "the new event changed the answer");
    assert_ne!(new_tag, tag);
    let answer: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(answer["results"]["pageviews"], 5, "{answer}");
    let (refused, no_tag, _) = conditional(&router, &format!("/api/v1/stats/aggregate?site={SITE}"), Some(&tag)).await;
    assert_eq!((refused, no_tag.as_str()), (StatusCode::BAD_REQUEST, ""), "errors carry no tag");
    db.drop().await;
}

#[tokio::test]
async fn a_time_series_per_minute_counts_what_the_hour_counts() {
    let db = migrated().await;
    insert(&db.client, &seeds()).await;
    let router = gateway(&db);
    let hour = ok(&router, &format!("/api/v1/stats/aggregate?site={SITE}&from={H1}&to={H2}")).await;
    let minutes = ok(&router, &format!("/api/v1/stats/timeseries?site={SITE}&from={H1}&to={H2}&interval=minute")).await;
    let buckets = minutes["results"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 60);
    assert_eq!(buckets[0]["time"], H1);
    let sum = |name: &str| buckets.iter().map(|b| b[name].as_u64().expect("a count")).sum::<u64>();
    assert_eq!(sum("pageviews"), hour["results"]["pageviews"].as_u64().expect("a count"));
    assert!(sum("pageviews") > 0, "{hour}");
    assert_eq!(minutes["source"]["counts"], "raw", "minutes are finer than the hourly rollup");
    db.drop().await;
}

#[tokio::test]
async fn ingestion_per_minute_lists_empty_minutes_as_zero() {
    let db = migrated().await;
    insert(&db.client, &seeds()).await;
    let minutes = |rows: Vec<query::MinuteCount>| -> Vec<(u32, u64)> {
        rows.into_iter().map(|row| (row.minute, row.events)).collect()
    };
    let all = query::ingested_per_minute(&db.client, "", H1, 3).await.expect("runs");
    assert_eq!(minutes(all), [(H1, 2), (H1 + 60, 3), (H1 + 120, 0)]);
    let one = query::ingested_per_minute(&db.client, SITE, H1, 3).await.expect("runs");
    assert_eq!(minutes(one), [(H1, 1), (H1 + 60, 3), (H1 + 120, 0)]);
    db.drop().await;
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_them_and_credentials_are_required() {
    let db = TestDatabase::new().await;
    let router = gateway(&db);
    let (status, body) = get(&router, &format!("/api/v1/stats/aggregate?{}", range()), None).await;
    assert_eq!((status, &body["error"]), (StatusCode::UNAUTHORIZED, &json!("missing_credentials")));
    let (status, _) = get(&router, &format!("/api/v1/stats/aggregate?{}", range()), Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (query, parameter) in [
        (format!("/api/v1/stats/aggregate?from={FROM}&to={TO}"), "site"),
        (format!("/api/v1/stats/aggregate?{}&colour=red", range()), "colour"),
        (format!("/api/v1/stats/timeseries?{}&interval=week", range()), "interval"),
        (format!("/api/v1/stats/breakdown?{}&property=pathname", range()), "property"),
        (format!("/api/v1/stats/breakdown?{}&property=page&limit=x", range()), "limit"),
        (format!("/api/v1/stats/aggregate?site={SITE}&from={TO}&to={FROM}"), "to"),
        (format!("/api/v1/stats/realtime?site={SITE}&from=1"), "from"),
    ] {
        let (status, body) = get(&router, &query, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    let (status, _) = get(&router, "/api/v1/stats/funnel", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// On 18.16 views do not cascade: the rollups are fed from the Kafka table by views of their own
/// (sql/012, sql/015). Events produced to the topic must reach both, with the same numbers.
#[tokio::test]
async fn events_produced_to_the_topic_reach_the_rollups_through_the_kafka_engine() {
    let db = TestDatabase::new().await;
    let vars = db.sql_vars();
    // The topic exists before the queue table subscribes to it, as `migrate` orders it.
    create_topic(&vars.kafka_brokers, &vars.page_visits_topic, 1, Duration::from_secs(10)).await.expect("topic");
    warehouse::migrate(&db.client, &sql_dir(), &vars).await.expect("migrates");
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &vars.kafka_brokers).create().expect("producer");
    let produce = |event: StoredEvent| {
        let producer = producer.clone();
        let topic = vars.page_visits_topic.clone();
        async move {
            let value = serde_json::to_string(&event).expect("serializes");
            producer
                .send(FutureRecord::to(&topic).key(&event.session_id).payload(&value), Duration::from_secs(10))
                .await
                .map(drop)
                .map_err(|(error, _)| error)
                .expect("produced");
        }
    };
    // 18.16's Kafka engine builds its pipeline to the views when a read begins, so a read that began while
    // `migrate` was still creating views feeds only the views that existed then. Every view is fed once a
    // probe (a page view of another site) reaches both rollups; until then another probe is sent.
    let started = Instant::now();
    'probe: for attempt in 0.. {
        let probe = StoredEvent {
            site: "probe.example".into(),
            ..event(&format!("probe-{attempt}"), "P", "p", H1, "/", "pageview", &DESKTOP_DE)
        };
        produce(probe).await;
        let sent = Instant::now();
        while sent.elapsed() < Duration::from_secs(5) {
            let fed: u64 = db
                .client
                .query("SELECT least((SELECT count() FROM stats_sessions WHERE site = 'probe.example'), (SELECT count() FROM stats_hourly WHERE site = 'probe.example'))")
                .fetch_one()
                .await
                .expect("counts");
            if fed > 0 {
                break 'probe;
            }
            assert!(started.elapsed() < DEADLINE, "no probe reached both rollups in {DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let seeds = seeds();
    // The first event twice: a redelivery through Kafka. Then a marker: the topic has one partition, so
    // once the marker is in both rollups every record before it has been read.
    for event in seeds.iter().chain([&seeds[0]]) {
        produce(event.clone()).await;
    }
    let marker = StoredEvent {
        site: "probe.example".into(),
        ..event("probe-end", "P-end", "p", H1, "/", "pageview", &DESKTOP_DE)
    };
    produce(marker).await;
    let router = gateway(&db);
    loop {
        let fed: u64 = db
            .client
            .query(
                "SELECT least((SELECT count() FROM page_visits WHERE event_id = 'probe-end'), \
                 (SELECT count() FROM stats_sessions WHERE session_id = 'P-end'))",
            )
            .fetch_one()
            .await
            .expect("counts");
        if fed > 0 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the marker after the seeds did not reach both tables");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let aggregate = ok(&router, &format!("/api/v1/stats/aggregate?{}", range())).await;
    assert_eq!(
        aggregate["results"],
        json!({"visitors": 2, "visits": 3, "pageviews": 4, "views_per_visit": 1.33, "bounce_rate": 66.7,
               "visit_duration": 43, "custom_events": 1})
    );
    // The database stays until the stack is purged: dropping it stops consumers that joined their groups,
    // and ClickHouse 18.16 on librdkafka 2.12.1 then may abort in rd_kafka_cgrp_destroy_final (seen here).
    drop(db);
}

#[tokio::test]
async fn the_stats_command_prints_the_apis_numbers_as_tables() {
    let db = migrated().await;
    insert(&db.client, &seeds()).await;
    let range = |filters: Vec<String>| Range { site: SITE.into(), from: FROM.to_string(), to: TO.to_string(), filters };
    let aggregate = cli::run(&db.client, &StatsCommand::Aggregate(range(vec![])), H2 + 200, Freshness::default())
        .await
        .expect("runs");
    assert_eq!(
        aggregate,
        "visitors  visits  pageviews  views_per_visit  bounce_rate  visit_duration_s  custom_events\n\
         2              3          4             1.33        66.7%                43              1\n"
    );
    let countries = StatsCommand::Breakdown { range: range(vec![]), property: "country".into(), limit: 10 };
    assert_eq!(
        cli::run(&db.client, &countries, H2 + 200, Freshness::default()).await.expect("runs"),
        "country  visitors  pageviews\nDE              1          3\nFR              1          1\n"
    );
    let phones = StatsCommand::Breakdown {
        range: range(vec!["device=smartphone".into()]),
        property: "entry_page".into(),
        limit: 10,
    };
    assert_eq!(
        cli::run(&db.client, &phones, H2 + 200, Freshness::default()).await.expect("runs"),
        "entry_page  visits  bounce_rate  visit_duration_s\n/                1       100.0%                 0\n"
    );
    let refused =
        cli::run(&db.client, &StatsCommand::Aggregate(range(vec!["colour=red".into()])), 0, Freshness::default()).await;
    assert!(refused.expect_err("refused").to_string().contains("colour"));
    db.drop().await;
}

#[tokio::test]
async fn a_report_over_its_query_budget_is_refused_at_once_with_a_retry_after() {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("migrates");
    // A kilobyte is less than any query needs: ClickHouse stops the first one, as it would a page filter over
    // a month that needs more than STATS_QUERY_MAX_MEMORY_BYTES.
    let client = ingest_gateway::stats::budgeted(db.client.clone(), 10, 1_000);
    let stats = Stats::new(Auth::bearer(TOKEN), client).with_clock(|| H2 + 200);
    let router = app(AppState::new(Arc::new(MemorySink::new())).with_stats(Some(stats)));
    let started = Instant::now();
    let uri = format!("/api/v1/stats/aggregate?site={SITE}&from={FROM}&to={TO}&page=/");
    let response = router
        .clone()
        .oneshot(
            Request::builder()
                .uri(&uri)
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes()).expect("json");
    assert_eq!(body["error"], "query_over_budget", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("memory limit")), "{body}");
    assert!(started.elapsed() < DEADLINE, "refused, not left to run");
    db.drop().await;
}
