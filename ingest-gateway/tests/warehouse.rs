//! The warehouse module against the real ClickHouse server (18.16 in the local stack): migrations, the
//! row contract and the named queries. Each test works in its own fresh database.
//!
//! The row contract is `event-schema/contracts/page_visits.columns.json`, generated from `StoredEvent` and
//! kept current by event-schema's own test; here the live tables are compared with it, so a field added to
//! the struct without a migration fails one test or the other.
//!
//! Needs `scripts/stack.sh up` (or `CLICKHOUSE_URL`, and `KAFKA_BROKERS` for the Kafka test); see
//! `clickhouse_support`.

mod clickhouse_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clickhouse_support::TestDatabase;
use event_schema::contract::CONTRACTS_DIR;
use event_schema::{StoredEvent, SCHEMA_VERSION};
use ingest_gateway::auth::Secret;
use ingest_gateway::sink::kafka::create_topic;
use ingest_gateway::warehouse::{self, AccessConfig, Applied, CountryVisits, Deployment, WarehouseError};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sql_dir() -> PathBuf {
    repository_root().join("sql")
}

/// The repository's migrations as `migrate` reads them, `(version, file)` in order; the tests derive what
/// they expect from it, so a new migration needs no change here.
fn repository_migrations(db: &TestDatabase) -> Vec<(u32, String)> {
    let migrations = warehouse::read_migrations(&sql_dir(), &db.sql_vars()).expect("reads sql/");
    migrations.into_iter().map(|migration| (migration.version, migration.file)).collect()
}

fn all_migrations(db: &TestDatabase, skipped: bool) -> Vec<(u32, String, bool)> {
    repository_migrations(db).into_iter().map(|(version, file)| (version, file, skipped)).collect()
}

/// A file name for a migration after the repository's last one.
fn next_migration(db: &TestDatabase, name: &str) -> (u32, String) {
    let last = repository_migrations(db).last().map_or(0, |(version, _)| *version);
    (last + 1, format!("{:03}_{name}.sql", last + 1))
}

/// A copy of the repository's migrations in a directory of the test's own, to add files to or edit.
fn copy_of_sql_dir(db: &TestDatabase) -> PathBuf {
    let dir = std::env::temp_dir().join(&db.name);
    std::fs::create_dir_all(&dir).expect("creates the temp dir");
    for entry in std::fs::read_dir(sql_dir()).expect("reads sql/") {
        let path = entry.expect("lists sql/").path();
        if path.extension().is_some_and(|ext| ext == "sql") {
            std::fs::copy(&path, dir.join(path.file_name().expect("has a name"))).expect("copies");
        }
    }
    dir
}

fn versions(applied: &[Applied]) -> Vec<(u32, String, bool)> {
    applied.iter().map(|a| (a.version, a.name.clone(), a.skipped)).collect()
}

#[tokio::test]
async fn migrating_twice_applies_each_file_once_then_skips_it() {
    let db = TestDatabase::new().await;

    let first = warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("first run");
    assert_eq!(versions(&first), all_migrations(&db, false));
    let second = warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("second run");
    assert_eq!(versions(&second), all_migrations(&db, true));

    // A rollup view created again for a dimension the files lack carries a hash suffix (warehouse/rollups.rs).
    let tables = text_rows(
        &db.client,
        "SELECT replaceRegexpOne(name, '^(stats_[a-z_]+_mv)_[0-9a-f]{8}$', '\\\\1') AS plain, engine \
         FROM system.tables WHERE database = currentDatabase() ORDER BY plain",
    )
    .await;
    assert_eq!(
        tables,
        [
            ["page_visits", "ReplacingMergeTree"],
            ["page_visits_mv", "MaterializedView"],
            ["page_visits_queue", "Kafka"],
            ["recording_chunks", "ReplacingMergeTree"],
            ["recording_chunks_mv", "MaterializedView"],
            ["recording_chunks_queue", "Kafka"],
            ["recording_sessions", "AggregatingMergeTree"],
            ["recording_sessions_mv", "MaterializedView"],
            ["recording_sessions_queue_mv", "MaterializedView"],
            ["schema_migrations", "MergeTree"],
            ["stats_arrivals", "AggregatingMergeTree"],
            ["stats_arrivals_mv", "MaterializedView"],
            ["stats_arrivals_queue_mv", "MaterializedView"],
            ["stats_daily_events", "ReplacingMergeTree"],
            ["stats_daily_runs", "ReplacingMergeTree"],
            ["stats_daily_visits", "ReplacingMergeTree"],
            ["stats_hourly", "AggregatingMergeTree"],
            ["stats_hourly_mv", "MaterializedView"],
            ["stats_hourly_queue_mv", "MaterializedView"],
            ["stats_sessions", "AggregatingMergeTree"],
            ["stats_sessions_mv", "MaterializedView"],
            ["stats_sessions_queue_mv", "MaterializedView"],
            ["stats_visit_rows", "MergeTree"],
        ]
    );
    let recorded =
        text_rows(&db.client, "SELECT toString(version), name FROM schema_migrations ORDER BY version").await;
    let expected: Vec<Vec<String>> =
        repository_migrations(&db).into_iter().map(|(version, file)| vec![version.to_string(), file]).collect();
    assert_eq!(recorded, expected);
    db.drop().await;
}

/// The analytics model with one more dimension, as a developer would add it to the registry: the visitor's
/// time zone, a stored column that no dimension reads yet.
fn with_timezone() -> Vec<analytics_model::Dimension> {
    let country = *analytics_model::dimension("country").expect("known");
    let timezone = analytics_model::Dimension {
        name: "timezone",
        label: "Time zone",
        column: "timezone",
        event_sql: "timezone",
        tab: "Time zones",
        ..country
    };
    assert!(analytics_model::dimension("timezone").is_none(), "pick a column no dimension reads");
    analytics_model::DIMENSIONS.iter().copied().chain([timezone]).collect()
}

async fn insert_event(db: &TestDatabase, id: &str, timezone: &str) {
    db.client
        .query(
            "INSERT INTO page_visits (event_id, site, kind, timestamp, timestamp_ms, visitor_id, session_id, pathname, \
             timezone) VALUES (?, 's.example', 'pageview', toDateTime(1790812800), 1790812800000, 'v', ?, '/', ?)",
        )
        .bind(id)
        .bind(id)
        .bind(timezone)
        .execute()
        .await
        .expect("inserts an event");
}

#[tokio::test]
async fn a_dimension_added_to_the_model_gets_its_rollup_columns_and_views_from_migrate_alone() {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("migrates");
    let model = analytics_model::DIMENSIONS;
    let ran = warehouse::keep_rollups(&db.client, &sql_dir(), &db.sql_vars(), model).await.expect("keeps");
    assert_eq!(ran, Vec::<String>::new(), "migrate gave the rollups the model's shape");
    insert_event(&db, "before", "Europe/Paris").await;

    let ran = warehouse::keep_rollups(&db.client, &sql_dir(), &db.sql_vars(), &with_timezone()).await.expect("keeps");
    assert_eq!(ran.len(), 3 + 4 + 4, "three tables altered, four views created again: {ran:#?}");
    let again = warehouse::keep_rollups(&db.client, &sql_dir(), &db.sql_vars(), &with_timezone()).await.expect("keeps");
    assert_eq!(again, Vec::<String>::new(), "done once");
    let views = text_rows(
        &db.client,
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView' \
         AND name LIKE 'stats_%' ORDER BY name",
    )
    .await;
    let views: Vec<String> = views.into_iter().flatten().collect();
    assert_eq!(views.len(), 6, "{views:?}");
    assert!(
        views.iter().filter(|v| v.starts_with("stats_hourly_mv_") || v.starts_with("stats_sessions_queue_mv_")).count()
            == 2,
        "{views:?}"
    );

    insert_event(&db, "after", "Europe/Berlin").await;
    let hourly = text_rows(
        &db.client,
        "SELECT timezone, toString(uniqExactMerge(events)) FROM stats_hourly GROUP BY timezone ORDER BY timezone",
    )
    .await;
    assert_eq!(
        hourly,
        [vec!["".to_owned(), "1".to_owned()], vec!["Europe/Berlin".to_owned(), "1".to_owned()]],
        "rows written before hold ''"
    );
    let sessions = text_rows(
        &db.client,
        "SELECT session_id, argMinMerge(timezone) FROM stats_sessions GROUP BY session_id ORDER BY session_id",
    )
    .await;
    assert_eq!(
        sessions,
        [vec!["after".to_owned(), "Europe/Berlin".to_owned()], vec!["before".to_owned(), "".to_owned()]]
    );
    let columns = text_rows(
        &db.client,
        "SELECT type FROM system.columns WHERE database = currentDatabase() AND table = 'stats_visit_rows' \
         AND name = 'visit_timezone'",
    )
    .await;
    assert_eq!(columns, [vec!["String".to_owned()]]);
    let key = text_rows(
        &db.client,
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'stats_hourly'",
    )
    .await;
    assert!(key[0][0].ends_with(", timezone"), "{key:?}");
    db.drop().await;
}

#[tokio::test]
async fn page_visits_and_its_queue_have_exactly_the_columns_of_the_stored_event_contract() {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("migrates");

    let contract = repository_root().join(CONTRACTS_DIR).join("page_visits.columns.json");
    let text =
        std::fs::read_to_string(&contract).unwrap_or_else(|err| panic!("cannot read {}: {err}", contract.display()));
    let expected: Vec<[String; 2]> = serde_json::from_str(&text).expect("a list of [name, type]");
    assert!(expected.len() > 1, "{} lists no columns", contract.display());
    for table in ["page_visits", "page_visits_queue"] {
        let described: Vec<[String; 2]> = text_rows(&db.client, &format!("DESCRIBE TABLE {table}"))
            .await
            .into_iter()
            .map(|row| [row[0].clone(), row[1].clone()])
            .collect();
        let at = described.iter().zip(&expected).position(|(column, wanted)| column != wanted);
        let at = at.unwrap_or(described.len().min(expected.len()));
        assert_eq!(
            described,
            expected,
            "{table} and {} first differ at column {at}: table {:?}, contract {:?}. A stored field is added with a \
             migration (sql/README.md, \"Adding a stored field\").",
            contract.display(),
            described.get(at),
            expected.get(at),
        );
    }
    db.drop().await;
}

const FROM: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
const TO: u32 = FROM + 86_400;

/// A page view with the fields the reports read; every other field keeps its "not collected" default.
fn page_view(event_id: &str, country: &str, visitor_id: &str) -> StoredEvent {
    let timestamp = FROM + 3_600;
    StoredEvent {
        event_id: event_id.into(),
        schema_version: SCHEMA_VERSION,
        kind: "pageview".into(),
        site: "a.example".into(),
        session_id: format!("session-{visitor_id}"),
        visitor_id: visitor_id.into(),
        timestamp,
        timestamp_ms: u64::from(timestamp) * 1_000,
        url: "https://a.example/pricing".into(),
        pathname: "/pricing".into(),
        props: "{}".into(),
        country: country.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn visits_by_country_counts_each_visit_and_page_view_once_even_when_it_was_delivered_twice() {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("migrates");

    let rows = [
        page_view("e1", "US", "v1"),
        page_view("e2", "US", "v1"),
        page_view("e3", "US", "v2"),
        page_view("e4", "DE", "v3"),
        StoredEvent { kind: "event".into(), event_name: "signup".into(), ..page_view("e5", "DE", "v3") },
        StoredEvent { timestamp: TO, ..page_view("e6", "FR", "v4") }, // the end of the range is exclusive
        StoredEvent { site: "b.example".into(), ..page_view("e7", "GB", "v9") },
        StoredEvent { timestamp: FROM, ..page_view("e8", "DE", "v5") }, // the start is inclusive
        page_view("e9", "BR", "v6"),
        page_view("e10", "BR", "v6"),
    ];
    insert(&db.client, &rows).await;
    // The redelivery arrives in its own insert, as it would from the Kafka engine, so it is a separate part.
    insert(&db.client, &rows[..1]).await;
    let stored = text_rows(&db.client, "SELECT toString(count()) FROM page_visits WHERE event_id = 'e1'").await;
    assert_eq!(stored, [["2"]], "both copies are stored until a merge");

    let report = warehouse::visits_by_country(&db.client, "a.example", FROM, TO).await.expect("queries");
    let row = |country: &str, visits, pageviews, visitors| CountryVisits {
        country: country.into(),
        visits,
        pageviews,
        visitors,
    };
    // Visits are sessions counted in their first event's country (DE: v3's and v5's); page views and visitors
    // by each page view's country; the custom event e5 is neither.
    assert_eq!(report, [row("US", 2, 3, 2), row("DE", 2, 2, 2), row("BR", 1, 2, 1)]);

    let quoted = warehouse::visits_by_country(&db.client, "nobody's.example", FROM, TO).await.expect("queries");
    assert_eq!(quoted, []);
    db.drop().await;
}

#[tokio::test]
async fn migrate_applies_a_new_file_and_refuses_an_applied_one_that_was_edited() {
    let db = TestDatabase::new().await;
    let dir = copy_of_sql_dir(&db);
    warehouse::migrate(&db.client, &dir, &db.sql_vars()).await.expect("first run");

    let (version, file) = next_migration(&db, "sessions_by_day");
    std::fs::write(dir.join(&file), "CREATE TABLE IF NOT EXISTS later (day Date) ENGINE = MergeTree ORDER BY day;\n")
        .expect("writes a new migration");
    let applied = warehouse::migrate(&db.client, &dir, &db.sql_vars()).await.expect("applies the new file");
    let mut expected = all_migrations(&db, true);
    expected.push((version, file, false));
    assert_eq!(versions(&applied), expected);

    let first = dir.join("001_page_visits.sql");
    let edited = std::fs::read_to_string(&first).expect("reads") + "\n-- an innocent-looking edit\n";
    std::fs::write(&first, edited).expect("edits an applied migration");
    let refused = warehouse::migrate(&db.client, &dir, &db.sql_vars()).await;
    match &refused {
        Err(err @ WarehouseError::ChecksumMismatch { file, .. }) => {
            assert_eq!(file, "001_page_visits.sql");
            assert!(err.to_string().contains("001_page_visits.sql"), "{err}");
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }

    std::fs::remove_dir_all(&dir).expect("removes the temp dir");
    db.drop().await;
}

/// The runner sends each file whole and does not parse SQL; the server is what refuses a second statement.
#[tokio::test]
async fn a_migration_file_holding_two_statements_is_refused_whole_and_not_recorded() {
    let db = TestDatabase::new().await;
    let dir = copy_of_sql_dir(&db);
    let (version, file) = next_migration(&db, "two_tables");
    std::fs::write(
        dir.join(&file),
        "-- two statements in one file; the first must not run either\n\
         CREATE TABLE IF NOT EXISTS first_of_two (day Date) ENGINE = MergeTree ORDER BY day;\n\
         CREATE TABLE IF NOT EXISTS second_of_two (day Date) ENGINE = MergeTree ORDER BY day;\n",
    )
    .expect("writes a migration");

    let refused = warehouse::migrate(&db.client, &dir, &db.sql_vars()).await;
    match &refused {
        Err(err @ WarehouseError::Statement { file: refused, .. }) => {
            assert_eq!(refused, &file);
            assert!(err.to_string().contains("Multi-statements are not allowed"), "{err}");
        }
        other => panic!("expected the server to refuse the file, got {other:?}"),
    }
    let tables = text_rows(
        &db.client,
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%_of_two'",
    )
    .await;
    assert_eq!(tables, Vec::<Vec<String>>::new());
    let recorded = text_rows(&db.client, "SELECT toString(max(version)) FROM schema_migrations").await;
    assert_eq!(recorded, [[(version - 1).to_string()]], "the files before it are applied and recorded, it is not");

    std::fs::remove_dir_all(&dir).expect("removes the temp dir");
    db.drop().await;
}

#[tokio::test]
async fn events_produced_to_the_topic_reach_page_visits_through_the_kafka_engine() {
    let db = TestDatabase::new().await;
    let vars = db.sql_vars();
    let (brokers, topic) = (vars.kafka_brokers.as_str(), vars.page_visits_topic.as_str());
    create_topic(brokers, topic, 2, Duration::from_secs(30)).await.unwrap_or_else(|err| {
        panic!("cannot create topic {topic} on {brokers} ({err}): start the broker with `scripts/stack.sh up` or set KAFKA_BROKERS")
    });
    warehouse::migrate(&db.client, &sql_dir(), &vars).await.expect("migrates");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "10000")
        .create()
        .expect("creates a producer");
    let events = [
        page_view("k1", "NL", "v1"),
        page_view("k2", "NL", "v2"),
        page_view("k3", "BE", "v1"),
        page_view("k1", "NL", "v1"), // redelivered
    ];
    for event in &events {
        let value = serde_json::to_string(event).expect("serializes");
        producer
            .send(FutureRecord::to(topic).key(&event.session_id).payload(&value), Duration::from_secs(10))
            .await
            .map_err(|(err, _)| err)
            .expect("the broker acknowledges the record");
    }

    // The Kafka engine flushes a block every few seconds once its consumer group has formed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = text_rows(&db.client, "SELECT toString(count()) FROM page_visits").await;
        if stored == [["4"]] {
            break;
        }
        assert!(Instant::now() < deadline, "{stored:?} rows in page_visits a minute after producing 4");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let report = warehouse::visits_by_country(&db.client, "a.example", FROM, TO).await.expect("queries");
    let row = |country: &str, visits, pageviews, visitors| CountryVisits {
        country: country.into(),
        visits,
        pageviews,
        visitors,
    };
    // v1's visit (k1 and k3 at the same instant) is counted where its first event, by event id, was: NL.
    assert_eq!(report, [row("NL", 2, 2, 2), row("BE", 0, 1, 1)]);

    // The topic stays: on tansu 0.6.0 deleting one topic deletes them all, and ClickHouse 18.16 dies when
    // the topics it consumes vanish (see sql/README.md).
    db.drop().await;
}

async fn insert(client: &clickhouse::Client, rows: &[StoredEvent]) {
    let mut insert = client.insert::<StoredEvent>("page_visits").await.expect("starts an insert");
    for row in rows {
        insert.write(row).await.expect("writes a row");
    }
    insert.end().await.expect("ends the insert");
}

/// Runs `sql` and returns its result as text cells, the same on every ClickHouse version.
/// A deployment with one read-only user named for this test.
fn with_readonly_user(db: &TestDatabase) -> Deployment {
    let access = AccessConfig {
        clickhouse_readonly_user: Some(format!("{}_reader", db.name)),
        clickhouse_readonly_password: Some(Secret::new("a password only this test knows")),
        ..AccessConfig::default()
    };
    Deployment { users: access.users().expect("a valid user"), ..Deployment::default() }
}

async fn server_version(db: &TestDatabase) -> String {
    db.client.clone().with_database("system").query("SELECT version()").fetch_one().await.expect("version()")
}

#[tokio::test]
async fn on_18_16_migrate_says_it_cannot_create_users_and_where_to_define_them() {
    let db = TestDatabase::new().await;
    let version = server_version(&db).await;
    if !version.starts_with("18.") {
        eprintln!("skipped: the server is ClickHouse {version}, not 18.16");
        return db.drop().await;
    }
    let refused = warehouse::migrate_with(&db.client, &sql_dir(), &db.sql_vars(), &with_readonly_user(&db)).await;
    let Err(error @ WarehouseError::LegacyUser { .. }) = refused else { panic!("refused: {refused:?}") };
    let message = error.to_string();
    for words in ["ClickHouse 18.16", "no SQL access control", "users.xml", &format!("{}_reader", db.name)] {
        assert!(message.contains(words), "{words:?} in {message}");
    }
    assert!(!message.contains("a password only this test knows"), "{message}");
    // The files were applied as written before the users were looked at.
    let applied = text_rows(&db.client, "SELECT count() FROM schema_migrations").await;
    assert_eq!(applied, [[repository_migrations(&db).len().to_string()]]);
    db.drop().await;
}

#[tokio::test]
async fn on_18_16_a_cluster_deployment_is_refused_before_anything_is_created() {
    let db = TestDatabase::new().await;
    let version = server_version(&db).await;
    if !version.starts_with("18.") {
        eprintln!("skipped: the server is ClickHouse {version}, not 18.16");
        return db.drop().await;
    }
    let deployment = Deployment { cluster: Some("pathlight".into()), ..Deployment::default() };
    let refused = warehouse::migrate_with(&db.client, &sql_dir(), &db.sql_vars(), &deployment).await;
    let Err(error @ WarehouseError::ClusterNeedsCurrentServer { .. }) = refused else { panic!("refused: {refused:?}") };
    assert!(error.to_string().contains("21.8 or later"), "{error}");
    let databases = text_rows(
        &db.client.clone().with_database("system"),
        &format!("SELECT count() FROM system.databases WHERE name = '{}'", db.name),
    )
    .await;
    assert_eq!(databases, [["0"]], "nothing was created");
}

#[tokio::test]
async fn on_18_16_the_events_retention_leaves_the_tables_exactly_as_written() {
    let db = TestDatabase::new().await;
    let deployment = Deployment { events_retention_days: 30, ..Deployment::default() };
    warehouse::migrate_with(&db.client, &sql_dir(), &db.sql_vars(), &deployment).await.expect("migrates");
    let version = server_version(&db).await;
    let engine = text_rows(
        &db.client,
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'page_visits'",
    )
    .await;
    let has_ttl = engine[0][0].contains("TTL");
    // 18.16 has no TTL: `retention` drops expired months there; current servers get the TTL from migrate.
    assert_eq!(has_ttl, !version.starts_with("18."), "{version}: {engine:?}");
    db.drop().await;
}

async fn text_rows(client: &clickhouse::Client, sql: &str) -> Vec<Vec<String>> {
    let bytes = client
        .query(sql)
        .fetch_bytes("TabSeparatedRaw")
        .expect("starts the query")
        .collect()
        .await
        .expect("runs the query");
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}
