//! The daily rollups against the real ClickHouse server (18.16 in the local stack): after a rollup run,
//! reports over whole days read the finalized daily rows and give exactly the numbers the hourly and visit
//! rollups give (and the raw events, for the headline counts); days without usable rows are read from the
//! states and merged; a redelivered event changes no number before or after the next run. The seed is three
//! days of the stats benchmark's synthetic traffic (`scripts/bench/stats_seed.sql`, 1,000 visits), the same
//! as `tests/sql/test_chdb_stats_daily.py` uses on modern ClickHouse. Each test works in its own database.
//!
//! Needs `scripts/stack.sh up` (or `CLICKHOUSE_URL`); see `clickhouse_support`.

mod clickhouse_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clickhouse_support::TestDatabase;
use ingest_gateway::stats::api;
use ingest_gateway::stats::daily::{self, Freshness};
use ingest_gateway::stats::query::{dimension, Filters, Question};
use ingest_gateway::stats::rollup;
use ingest_gateway::warehouse;
use serde_json::Value;

const SITE: &str = "bench.example";
const DAY: u32 = 86_400;
const FROM: u32 = 1_790_812_800; // 2026-10-01T00:00:00Z, where the seed starts
const TO: u32 = FROM + 3 * DAY;
const SLOTS: u32 = 6_000;
/// Long after the seeded days: every run closes them.
const LATER: u32 = TO + 10 * DAY;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn seed(client: &clickhouse::Client, offset: u32, count: u32) {
    let text = std::fs::read_to_string(repository().join("scripts/bench/stats_seed.sql")).expect("the seed");
    let sql = text
        .replace("__START__", &FROM.to_string())
        .replace("__OFFSET__", &offset.to_string())
        .replace("__COUNT__", &count.to_string())
        .replace("__SLOTS__", &SLOTS.to_string())
        .replace("__DAYS__", "3");
    client.query(&sql).execute().await.expect("seeds");
}

async fn seeded() -> TestDatabase {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &repository().join("sql"), &db.sql_vars()).await.expect("migrates");
    seed(&db.client, 0, SLOTS / 2).await;
    seed(&db.client, SLOTS / 2, SLOTS - SLOTS / 2).await;
    db
}

fn question(from: u32, to: u32, filter: Option<(&str, &str)>) -> Question {
    let mut filters = Filters::default();
    if let Some((name, value)) = filter {
        filters.set(name, value).expect(name);
    }
    Question { site: SITE.into(), from, to, filters }
}

fn filtered(from: u32, to: u32, given: &[(&str, &str)]) -> Question {
    let mut q = question(from, to, None);
    for (name, value) in given {
        q.filters.set(name, value).expect(name);
    }
    q
}

/// Every answer the daily and visit rows can give, as JSON: aggregates (with and without a filter, and two
/// filters from the paired rows), the daily time series, and breakdowns of event and visit properties (of
/// events also under one filter); and those the finalized visit rows answer for visits: several filters, a page
/// filter, a range that starts and ends inside a day, an hourly series under filters, entry pages under a
/// filter.
async fn answers(client: &clickhouse::Client, freshness: Freshness) -> Vec<Value> {
    let mut answers = Vec::new();
    let filter_sets: [&[(&str, &str)]; 7] = [
        &[],
        &[("country", "C0")],
        &[("source", "google.com")],
        &[("screen_class", "mobile")],
        &[("country", "C1"), ("browser", "Chrome")],
        &[("page", "/p/1")],
        &[("page", "/p/2"), ("device", "smartphone")],
    ];
    for (from, to) in [(FROM, TO), (FROM + 12 * 3_600, TO - 12 * 3_600)] {
        for given in filter_sets {
            let q = filtered(from, to, given);
            let (metrics, _) = api::aggregate_metrics(client, &q, freshness).await.expect("runs");
            assert!(metrics.visits > 0, "{given:?}");
            answers.push(serde_json::to_value(metrics).expect("json"));
        }
    }
    let (buckets, _) = api::timeseries_buckets(client, &question(FROM, TO, None), DAY, freshness).await.expect("runs");
    answers.push(serde_json::to_value(buckets).expect("json"));
    let q = filtered(FROM, TO, &[("page", "/p/1"), ("country", "C0")]);
    let (buckets, _) = api::timeseries_buckets(client, &q, 3_600, freshness).await.expect("runs");
    answers.push(serde_json::to_value(buckets).expect("json"));
    for (property, limit) in
        [("country", 100), ("page", 10), ("event", 100), ("entry_page", 10), ("exit_page", 10), ("device", 100)]
    {
        let property = dimension(property).expect("a dimension");
        let (_, rows) =
            api::breakdown_rows(client, &question(FROM, TO, None), property, limit, freshness).await.expect("runs");
        assert!(!rows.is_empty(), "{}", property.name);
        answers.push(serde_json::to_value(rows).expect("json"));
    }
    // Under a filter of few values, from its paired daily rows (`country=C1/page`); under one of many, not.
    for (property, filter) in
        [("page", ("country", "C1")), ("event", ("os", "Android")), ("city", ("source", "google.com"))]
    {
        let property = dimension(property).expect("a dimension");
        let (_, rows) = api::breakdown_rows(client, &question(FROM, TO, Some(filter)), property, 100, freshness)
            .await
            .expect("runs");
        assert!(!rows.is_empty(), "{} under {filter:?}", property.name);
        answers.push(serde_json::to_value(rows).expect("json"));
    }
    for property in ["entry_page", "exit_page"] {
        let property = dimension(property).expect("a dimension");
        let q = filtered(FROM + 12 * 3_600, TO, &[("country", "C1"), ("os", "Android")]);
        let (_, rows) = api::breakdown_rows(client, &q, property, 10, freshness).await.expect("runs");
        assert!(!rows.is_empty(), "{}", property.name);
        answers.push(serde_json::to_value(rows).expect("json"));
    }
    answers
}

/// The freshness under which no day's rows answer unless a run closed it (and wrote it after its last
/// arrival, in the same second or later).
fn states_only() -> Freshness {
    Freshness { settle_s: 0, ..Freshness::closed_only() }
}

/// A run's version (unix ms) on the server's clock now: after every arrival so far.
async fn version_now(client: &clickhouse::Client) -> u64 {
    rollup::server_clock(client).await.expect("reads the clock").1
}

/// The server's clock once it is past `after` (unix seconds): arrivals are recorded in whole seconds, so an
/// event inserted then arrives strictly after anything recorded at `after`.
async fn server_time_after(client: &clickhouse::Client, after: u32) -> u32 {
    let started = Instant::now();
    loop {
        let (now, _) = rollup::server_clock(client).await.expect("reads the clock");
        if now > after {
            return now;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the server's clock stays at {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last arrival of the seeded site's events, unix seconds (sql/019).
async fn last_arrival(client: &clickhouse::Client) -> u32 {
    client
        .query("SELECT toUInt32(maxMerge(arrived)) FROM stats_arrivals WHERE site = ?")
        .bind(SITE)
        .fetch_one()
        .await
        .expect("reads the arrivals")
}

/// Visitors, page views and custom events of the range straight from `page_visits FINAL`.
async fn raw_counts(client: &clickhouse::Client) -> (u64, u64, u64) {
    client
        .query(
            "SELECT toUInt64(uniqExactIf(visitor_id, kind = 'pageview')), toUInt64(countIf(kind = 'pageview')), \
             toUInt64(countIf(kind = 'event')) FROM page_visits FINAL \
             WHERE site = ? AND timestamp >= toDateTime(?) AND timestamp < toDateTime(?)",
        )
        .bind(SITE)
        .bind(FROM)
        .bind(TO)
        .fetch_one()
        .await
        .expect("counts")
}

#[tokio::test]
async fn whole_days_are_read_from_the_daily_rows_with_the_numbers_of_the_states_and_the_raw_events() {
    let db = seeded().await;
    let q = question(FROM, TO, None);
    assert_eq!(daily::plan(&db.client, &q, Freshness::default()).await.expect("plans").days.len(), 0);
    let from_states = answers(&db.client, Freshness::default()).await;
    let by_page = filtered(FROM, TO, &[("page", "/p/1")]);
    let (_, sources) = api::aggregate_metrics(&db.client, &by_page, Freshness::default()).await.expect("runs");
    assert_eq!(serde_json::to_value(sources).expect("json")["visits"], "raw");

    let version = version_now(&db.client).await;
    let rolled = rollup::run(&db.client, (FROM, TO), LATER, rollup::DEFAULT_LATE_S, version).await.expect("rolls up");
    assert_eq!(
        rolled.iter().map(|day| (day.day.as_str(), day.closed)).collect::<Vec<_>>(),
        [("2026-10-01", true), ("2026-10-02", true), ("2026-10-03", true)]
    );
    let plan = daily::plan(&db.client, &q, states_only()).await.expect("plans");
    assert_eq!((plan.days.len(), plan.states.len()), (3, 0), "closed days answer at any time");
    assert_eq!(answers(&db.client, states_only()).await, from_states);
    // A page filter's visits came from the raw events before the run, and now from the finalized visit rows.
    let by_page = filtered(FROM, TO, &[("page", "/p/1")]);
    let (_, sources) = api::aggregate_metrics(&db.client, &by_page, states_only()).await.expect("runs");
    assert_eq!(serde_json::to_value(sources).expect("json")["visits"], "rollup");

    let (metrics, _) = api::aggregate_metrics(&db.client, &q, states_only()).await.expect("runs");
    let (visitors, pageviews, custom_events) = raw_counts(&db.client).await;
    assert_eq!((metrics.visitors, metrics.pageviews, metrics.custom_events), (visitors, pageviews, custom_events));
    assert!(metrics.visits > 900 && metrics.pageviews > 3_000, "{metrics:?}");
    db.drop().await;
}

#[tokio::test]
async fn days_without_usable_rows_are_read_from_the_states_and_merged_with_the_others() {
    let db = seeded().await;
    let from_states = answers(&db.client, Freshness::default()).await;
    // The first and last day rolled up by a run that started once the seed had arrived, still open (a run on
    // the last day itself); the middle one never.
    let arrived = last_arrival(&db.client).await;
    let now = TO - 60;
    let version = u64::from(arrived) * 1_000;
    rollup::run(&db.client, (FROM, FROM + DAY), now, rollup::DEFAULT_LATE_S, version).await.expect("rolls up");
    rollup::run(&db.client, (FROM + 2 * DAY, TO), now, rollup::DEFAULT_LATE_S, version).await.expect("rolls up");
    let settled = Freshness { settle_s: 0, open_days: true };
    let plan = daily::plan(&db.client, &question(FROM, TO, None), settled).await.expect("plans");
    assert_eq!(plan.days, ["2026-10-01", "2026-10-03"]);
    assert_eq!(plan.states, [(FROM + DAY, FROM + 2 * DAY)]);
    assert_eq!(answers(&db.client, settled).await, from_states);
    // Rows written less than the settle time after the last arrival are not read (the run above started in
    // the second of the seed's last arrival, seconds after each day's own).
    let unsettled = Freshness { settle_s: 3_600, open_days: true };
    let plan = daily::plan(&db.client, &question(FROM, TO, None), unsettled).await.expect("plans");
    assert_eq!((plan.days.len(), plan.states), (0, vec![(FROM, TO)]));
    // An event of the last day arriving after the run sends that day back to the states until a run
    // writes it again: the report includes it at once.
    server_time_after(&db.client, arrived).await;
    db.client
        .query(
            "INSERT INTO page_visits (event_id, site, kind, timestamp, timestamp_ms, visitor_id, session_id, pathname) \
             VALUES ('late-1', ?, 'pageview', toDateTime(?), ?, 'late-visitor', 'late-visit', '/late')",
        )
        .bind(SITE)
        .bind(TO - 3_600)
        .bind(u64::from(TO - 3_600) * 1_000)
        .execute()
        .await
        .expect("inserts a late event");
    let plan = daily::plan(&db.client, &question(FROM, TO, None), settled).await.expect("plans");
    assert_eq!(plan.days, ["2026-10-01"]);
    assert_eq!(plan.states, [(FROM + DAY, TO)]);
    let (metrics, _) = api::aggregate_metrics(&db.client, &question(FROM, TO, None), settled).await.expect("runs");
    let (visitors, pageviews, _) = raw_counts(&db.client).await;
    assert_eq!((metrics.visitors, metrics.pageviews), (visitors, pageviews), "the late event counts at once");
    // Rows of open days answer only when open days may: everything else comes from the states.
    let stale = daily::plan(&db.client, &question(FROM, TO, None), states_only()).await.expect("plans");
    assert_eq!((stale.days.len(), stale.states), (0, vec![(FROM, TO)]));
    db.drop().await;
}

#[tokio::test]
async fn a_redelivered_event_changes_no_daily_number_before_or_after_the_next_run() {
    let db = seeded().await;
    let version = version_now(&db.client).await;
    rollup::run(&db.client, (FROM, TO), LATER, rollup::DEFAULT_LATE_S, version).await.expect("rolls up");
    let before = answers(&db.client, states_only()).await;
    // A hundred slots delivered again, in their own insert, as a Kafka re-read would.
    seed(&db.client, 1_000, 100).await;
    let stored: u64 =
        db.client.query("SELECT count() FROM page_visits WHERE event_id = 'e1000'").fetch_one().await.expect("counts");
    assert_eq!(stored, 2);
    assert_eq!(answers(&db.client, states_only()).await, before);
    let version = version_now(&db.client).await;
    rollup::run(&db.client, (FROM, TO), LATER, rollup::DEFAULT_LATE_S, version).await.expect("rolls up again");
    assert_eq!(answers(&db.client, states_only()).await, before);
    db.drop().await;
}

#[tokio::test]
async fn a_run_within_the_second_of_the_last_one_gets_a_later_version() {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &repository().join("sql"), &db.sql_vars()).await.expect("migrates");
    let (now, first) = rollup::server_clock(&db.client).await.expect("reads the clock");
    assert_eq!(first, u64::from(now) * 1_000, "with no run yet, the version is the time in ms");
    // A run that wrote this second (or, with a clock set back, later): the next one must still come after it.
    let written = u64::from(now) * 1_000 + 5_000;
    db.client
        .query("INSERT INTO stats_daily_runs (day, version, closed) VALUES (toDate('2026-10-01'), ?, 0)")
        .bind(written)
        .execute()
        .await
        .expect("marks a run");
    let (_, next) = rollup::server_clock(&db.client).await.expect("reads the clock");
    assert_eq!(next, written + 1);
    db.drop().await;
}

#[tokio::test]
async fn the_servers_timer_writes_the_past_days_of_the_late_window_and_leaves_today_live() {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &repository().join("sql"), &db.sql_vars()).await.expect("migrates");
    let timer =
        tokio::spawn(rollup::every(db.client.clone(), Duration::from_millis(100), rollup::DEFAULT_LATE_S, 0, 0));
    let (now, _) = rollup::server_clock(&db.client).await.expect("reads the clock");
    let yesterday = daily::day_name(now - DAY);
    let started = Instant::now();
    loop {
        let days: Vec<String> = db
            .client
            .query("SELECT DISTINCT toString(day) FROM stats_daily_runs ORDER BY toString(day)")
            .fetch_all()
            .await
            .expect("reads");
        if days.len() >= 3 {
            assert_eq!(days.len(), 3, "{days:?}");
            assert_eq!(days.last(), Some(&yesterday), "{days:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the timer wrote only {days:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    timer.abort();
    db.drop().await;
}

#[tokio::test]
async fn a_timed_run_writes_a_day_only_after_events_of_it_arrived_even_once_closed_and_closes_it_without_computing_it()
{
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &repository().join("sql"), &db.sql_vars()).await.expect("migrates");
    let now = TO + 12 * 3_600; // 2026-10-04 12:00: 2026-10-01 leaves its two-day window now
    let names = |days: Vec<rollup::RolledDay>| -> Vec<(String, bool)> {
        days.into_iter().map(|day| (day.day, day.closed)).collect()
    };
    let late = rollup::DEFAULT_LATE_S;
    let first = rollup::run_due(&db.client, (now, 1_000), late, 0, 0).await.expect("runs");
    assert_eq!(
        names(first),
        [("2026-10-01".to_owned(), true), ("2026-10-02".to_owned(), false), ("2026-10-03".to_owned(), false)],
        "never-written days of the window, not today"
    );
    let second = rollup::run_due(&db.client, (now + 300, 2_000), late, 0, 0).await.expect("runs");
    assert_eq!(names(second), [], "no event arrived since");
    // Events of 2026-10-02 arrive (recorded with the server's clock): the next run writes that day alone.
    seed(&db.client, 2_400, 10).await; // visits 400 and 401 of 1,000 over three days: 2026-10-02
    let arrived = last_arrival(&db.client).await;
    let recorded: Vec<String> = db
        .client
        .query("SELECT toString(day) FROM stats_arrivals GROUP BY day ORDER BY day")
        .fetch_all()
        .await
        .expect("reads");
    assert!(recorded.contains(&"2026-10-02".to_owned()), "{recorded:?}");
    let version = u64::from(arrived) * 1_000;
    let unsettled = rollup::run_due(&db.client, (now + 600, version), late, u32::MAX / 2, 0).await.expect("runs");
    assert_eq!(names(unsettled), [], "events still arriving: the day stays live");
    let third = rollup::run_due(&db.client, (now + 600, version), late, 0, 0).await.expect("runs");
    assert_eq!(names(third), [("2026-10-02".to_owned(), false)]);
    // A day later 2026-10-02 leaves its window: its rows are current, so it is only marked closed; the day
    // that was today is written for the first time.
    let fourth = rollup::run_due(&db.client, (now + DAY, version + 1_000), late, 0, 0).await.expect("runs");
    assert_eq!(names(fourth), [("2026-10-02".to_owned(), true), ("2026-10-04".to_owned(), false)]);
    // Events of 2026-10-01, closed by the first run, arrive (a replay of old records): it is written again.
    seed(&db.client, 0, 10).await; // visits 0 and 1: 2026-10-01
    let version = u64::from(last_arrival(&db.client).await) * 1_000;
    let fifth = rollup::run_due(&db.client, (now + DAY + 300, version), late, 0, 0).await.expect("runs");
    assert_eq!(names(fifth), [("2026-10-01".to_owned(), true)]);
    db.drop().await;
}
