//! The replay against the real ClickHouse server (18.16 in the local stack): the recording tables and their
//! contract, the summary kept by its views (from direct inserts and through the Kafka engine), the replay
//! API on top of them, deletion and retention. Each test works in its own fresh database.
//!
//! Needs `scripts/stack.sh up` (or `CLICKHOUSE_URL`, and `KAFKA_BROKERS` for the Kafka test); see
//! `clickhouse_support`.

mod clickhouse_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use chrono::DateTime;
use clickhouse_support::TestDatabase;
use event_schema::contract::CONTRACTS_DIR;
use event_schema::RecordingChunk;
use flate2::write::GzEncoder;
use flate2::Compression;
use http_body_util::BodyExt;
use ingest_gateway::replay::store::{wait_for_mutations, ClickHouseStore, RecordingStore, SessionFilter};
use ingest_gateway::replay::{retention, Replay, ReplayAuth};
use ingest_gateway::sink::kafka::create_topic;
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::warehouse;
use ingest_gateway::{app, AppState};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use tower::ServiceExt;

const SITE: &str = "replay.example";
const TAB: &str = "TabOne1234567890";
const TOKEN: &str = "replay-test-token";
const JAN_1_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DEADLINE: Duration = Duration::from_secs(60);

fn sql_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("compresses");
    encoder.finish().expect("compresses")
}

/// The chunk `seq` of `session`'s tab holding `events` (rrweb events), received a second after its first
/// event; every field the replay does not read keeps its default.
fn chunk(session_id: &str, seq: u32, events: &Value) -> RecordingChunk {
    let raw = events.to_string();
    let bytes = gzip(raw.as_bytes());
    let times: Vec<u64> = events.as_array().expect("events").iter().filter_map(|e| e["timestamp"].as_u64()).collect();
    let first_ts_ms = times.iter().copied().min().unwrap_or(JAN_1_MS);
    let received_ms = first_ts_ms + 1_000;
    RecordingChunk {
        schema_version: event_schema::SCHEMA_VERSION,
        site: SITE.into(),
        session_id: session_id.into(),
        tab_id: TAB.into(),
        seq,
        parts: 1,
        first_ts_ms,
        last_ts_ms: times.iter().copied().max().unwrap_or(JAN_1_MS),
        event_count: u32::try_from(times.len()).expect("few"),
        raw_bytes: u32::try_from(raw.len()).expect("small"),
        compressed_bytes: u32::try_from(bytes.len()).expect("small"),
        encoding: "gzip".into(),
        full_snapshot: u8::from(events.as_array().expect("events").iter().any(|e| e["type"] == 2)),
        dropped: "{}".into(),
        url: format!("https://{SITE}/"),
        pathname: "/".into(),
        timestamp: u32::try_from(received_ms / 1_000).expect("a 2026 time"),
        timestamp_ms: received_ms,
        country: "DE".into(),
        device: "pc".into(),
        payload: base64::engine::general_purpose::STANDARD.encode(&bytes),
        ..Default::default()
    }
}

fn event(kind: u8, timestamp: u64) -> Value {
    json!({"type": kind, "timestamp": timestamp, "data": {}})
}

/// Four chunks of one tab, 10 s apart: meta and full snapshot, an incremental event, a second full
/// snapshot, and a final incremental event.
fn recording(session_id: &str, start_ms: u64) -> Vec<RecordingChunk> {
    let chunks = [
        json!([event(4, start_ms), event(2, start_ms + 1)]),
        json!([event(3, start_ms + 10_000)]),
        json!([event(4, start_ms + 20_000), event(2, start_ms + 20_001)]),
        json!([event(3, start_ms + 30_000)]),
    ];
    let mut chunks: Vec<_> = chunks.iter().enumerate().map(|(seq, e)| chunk(session_id, seq as u32, e)).collect();
    chunks[3].is_final = 1;
    chunks
}

async fn insert(client: &clickhouse::Client, chunks: &[RecordingChunk]) {
    let mut insert = client.insert::<RecordingChunk>("recording_chunks").await.expect("starts an insert");
    for chunk in chunks {
        insert.write(chunk).await.expect("writes a chunk");
    }
    insert.end().await.expect("ends the insert");
}

async fn migrated() -> TestDatabase {
    let db = TestDatabase::new().await;
    warehouse::migrate(&db.client, &sql_dir(), &db.sql_vars()).await.expect("migrates");
    db
}

fn gateway(db: &TestDatabase) -> Router {
    let store = ClickHouseStore::new(db.client.clone(), Duration::from_secs(30));
    let replay = Replay::new(ReplayAuth::bearer(TOKEN), Arc::new(store));
    app(AppState::new(Arc::new(MemorySink::new())).with_replay(Some(replay)))
}

async fn call(router: &Router, method: Method, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
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

async fn text_rows(client: &clickhouse::Client, sql: &str) -> Vec<Vec<String>> {
    let bytes = client.query(sql).fetch_bytes("TabSeparatedRaw").expect("starts").collect().await.expect("runs");
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn the_chunk_table_and_its_queue_have_exactly_the_recording_chunk_contract_columns() {
    let db = migrated().await;
    let contract =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(CONTRACTS_DIR).join("recording_chunks.columns.json");
    let expected: Vec<Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&contract).expect("reads the contract")).expect("[name, type]");
    for table in ["recording_chunks", "recording_chunks_queue"] {
        let described: Vec<Vec<String>> = text_rows(&db.client, &format!("DESCRIBE TABLE {table}"))
            .await
            .into_iter()
            .map(|row| row[..2].to_vec())
            .collect();
        assert_eq!(described, expected, "{table} against {}", contract.display());
    }
    db.drop().await;
}

#[tokio::test]
async fn the_api_lists_sessions_reports_a_withheld_chunk_as_a_gap_and_replays_in_order() {
    let db = migrated().await;
    let whole = "WholeSession0001";
    let gappy = "GappySession0002";
    insert(&db.client, &recording(whole, JAN_1_MS)).await;
    let mut withheld = recording(gappy, JAN_1_MS + 3_600_000);
    let removed = withheld.remove(1);
    assert_eq!(removed.seq, 1);
    insert(&db.client, &withheld).await;
    // A redelivery of the first chunk, in its own insert as a Kafka re-read would make it.
    insert(&db.client, &recording(whole, JAN_1_MS)[..1]).await;
    let router = gateway(&db);

    let (status, list) = call(&router, Method::GET, "/replay/api/sessions?site=replay.example", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let rows: Vec<_> = list["sessions"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| (s["session_id"].clone(), s["status"].clone(), s["chunks"].clone(), s["missing_seqs"].clone()))
        .collect();
    assert_eq!(
        rows,
        [(json!(gappy), json!("gaps"), json!(3), json!(1)), (json!(whole), json!("complete"), json!(4), json!(0))]
    );
    let whole_summary = &list["sessions"][1];
    assert_eq!((whole_summary["duration_ms"].clone(), whole_summary["events"].clone()), (json!(30_000), json!(6)));
    let compressed: u64 = recording(whole, JAN_1_MS).iter().map(|c| u64::from(c.compressed_bytes)).sum();
    assert_eq!(whole_summary["compressed_bytes"], compressed, "the redelivered chunk counts once");

    let (_, gaps) = call(&router, Method::GET, "/replay/api/sessions?completeness=gaps", Some(TOKEN)).await;
    assert_eq!(gaps["sessions"].as_array().map(Vec::len), Some(1));

    let (status, detail) =
        call(&router, Method::GET, &format!("/replay/api/sessions/{SITE}/{gappy}"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["completeness"], "gaps");
    assert_eq!(detail["tabs"][0]["missing_seqs"], json!([1]));
    assert_eq!(detail["tabs"][0]["full_snapshot_seqs"], json!([0, 2]), "playback resumes at seq 2");

    let (status, events) =
        call(&router, Method::GET, &format!("/replay/api/sessions/{SITE}/{whole}/events"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let times: Vec<u64> = events.as_array().expect("events").iter().filter_map(|e| e["timestamp"].as_u64()).collect();
    let offsets: Vec<u64> = times.iter().map(|t| t - JAN_1_MS).collect();
    assert_eq!(offsets, [0, 1, 10_000, 20_000, 20_001, 30_000], "each event once, in time order");
    db.drop().await;
}

#[tokio::test]
async fn the_list_and_the_session_agree_on_completeness() {
    let db = migrated().await;
    let mut unfinished = recording("Unfinished000003", JAN_1_MS);
    unfinished[3].is_final = 0;
    insert(&db.client, &unfinished).await;
    let router = gateway(&db);
    let (_, list) = call(&router, Method::GET, "/replay/api/sessions", Some(TOKEN)).await;
    assert_eq!(list["sessions"][0]["status"], "no_final");
    assert_eq!(list["sessions"][0]["tabs_without_final"], 1);
    let (_, detail) =
        call(&router, Method::GET, &format!("/replay/api/sessions/{SITE}/Unfinished000003"), Some(TOKEN)).await;
    assert_eq!(
        (detail["completeness"].clone(), detail["tabs"][0]["final_received"].clone()),
        (json!("no_final"), json!(false))
    );
    db.drop().await;
}

#[tokio::test]
async fn deleting_a_session_removes_its_chunks_and_summary_and_nothing_else() {
    let db = migrated().await;
    insert(&db.client, &recording("DeleteMe00000004", JAN_1_MS)).await;
    insert(&db.client, &recording("KeepMe0000000005", JAN_1_MS + 60_000)).await;
    let router = gateway(&db);
    let uri = format!("/replay/api/sessions/{SITE}/DeleteMe00000004");

    let (status, body) = call(&router, Method::DELETE, &uri, None).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::UNAUTHORIZED, json!("missing_credentials")));
    let (status, body) = call(&router, Method::DELETE, &uri, Some(TOKEN)).await;
    assert_eq!((status, body["status"].clone()), (StatusCode::OK, json!("deleted")), "{body}");

    let left = text_rows(
        &db.client,
        "SELECT session_id, toString(count()) FROM recording_chunks GROUP BY session_id ORDER BY session_id",
    )
    .await;
    assert_eq!(left, [["KeepMe0000000005", "4"]]);
    let summaries = text_rows(&db.client, "SELECT DISTINCT session_id FROM recording_sessions").await;
    assert_eq!(summaries, [["KeepMe0000000005"]]);
    assert_eq!(call(&router, Method::GET, &uri, Some(TOKEN)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&router, Method::DELETE, &uri, Some(TOKEN)).await.0, StatusCode::NOT_FOUND);
    db.drop().await;
}

#[tokio::test]
async fn retention_drops_expired_months_and_deletes_expired_days_of_the_current_one() {
    let db = migrated().await;
    let day_ms = 86_400_000;
    let january = recording("JanuarySession06", JAN_1_MS + 5 * day_ms);
    let march_old = recording("MarchOldSession7", JAN_1_MS + 63 * day_ms); // 2026-03-05
    let march_new = recording("MarchNewSession8", JAN_1_MS + 78 * day_ms); // 2026-03-20
    for chunks in [&january, &march_old, &march_new] {
        insert(&db.client, chunks).await;
    }
    let now = DateTime::parse_from_rfc3339("2026-04-01T12:00:00Z").expect("a time").to_utc();
    let report = retention::apply(&db.client, 20, now).await.expect("applies"); // keeps 2026-03-12 on
    assert_eq!(report.cutoff.to_string(), "2026-03-12");
    let dropped: Vec<_> = report.dropped_partitions.iter().map(|(t, p)| format!("{t}/{p}")).collect();
    assert_eq!(dropped, ["recording_chunks/202601", "recording_sessions/202601"]);
    assert_eq!(report.deleted_rows, [("recording_chunks".to_owned(), 4), ("recording_sessions".to_owned(), 1)]);
    assert!(wait_for_mutations(&db.client, DEADLINE).await.expect("polls"), "the deletion finishes");

    let store = ClickHouseStore::new(db.client.clone(), Duration::from_secs(1));
    let left: Vec<_> =
        store.sessions(&SessionFilter::default()).await.expect("lists").into_iter().map(|s| s.session_id).collect();
    assert_eq!(left, ["MarchNewSession8"]);
    let chunks = text_rows(&db.client, "SELECT DISTINCT session_id FROM recording_chunks").await;
    assert_eq!(chunks, [["MarchNewSession8"]]);
    let again = retention::apply(&db.client, 20, now).await.expect("applies again");
    assert_eq!((again.dropped_partitions.len(), again.deleted_rows.len()), (0, 0), "nothing left to delete");
    db.drop().await;
}

#[tokio::test]
async fn chunks_produced_to_the_topic_reach_the_chunks_and_the_summary_through_the_kafka_engine() {
    let db = TestDatabase::new().await;
    let vars = db.sql_vars();
    let (brokers, topic) = (vars.kafka_brokers.as_str(), vars.session_recordings_topic.as_str());
    create_topic(brokers, topic, 2, Duration::from_secs(30)).await.unwrap_or_else(|err| {
        panic!("cannot create topic {topic} on {brokers} ({err}): start the broker with `scripts/stack.sh up` or set KAFKA_BROKERS")
    });
    warehouse::migrate(&db.client, &sql_dir(), &vars).await.expect("migrates");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer");
    let mut chunks = recording("ViaKafkaSession9", JAN_1_MS);
    chunks.push(chunks[0].clone()); // redelivered
    for chunk in &chunks {
        let value = serde_json::to_string(chunk).expect("serializes");
        producer
            .send(FutureRecord::to(topic).key(&chunk.session_id).payload(&value), Duration::from_secs(10))
            .await
            .map_err(|(err, _)| err)
            .expect("the broker acknowledges the chunk");
    }

    let store = ClickHouseStore::new(db.client.clone(), Duration::from_secs(1));
    let deadline = Instant::now() + DEADLINE;
    let summary = loop {
        let stored = text_rows(&db.client, "SELECT toString(count()) FROM recording_chunks").await;
        let listed = store.sessions(&SessionFilter::default()).await.expect("lists");
        if stored == [["5"]] && listed.first().is_some_and(|s| s.chunks == 4) {
            break listed[0].clone();
        }
        assert!(Instant::now() < deadline, "{stored:?} chunks, {listed:?} a minute after producing 5");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!((summary.status.as_str(), summary.events, summary.duration_ms), ("complete", 6, 30_000));
    let router = gateway(&db);
    let (status, events) =
        call(&router, Method::GET, &format!("/replay/api/sessions/{SITE}/ViaKafkaSession9/events"), Some(TOKEN)).await;
    assert_eq!((status, events.as_array().map(Vec::len)), (StatusCode::OK, Some(6)));
    db.drop().await;
}
