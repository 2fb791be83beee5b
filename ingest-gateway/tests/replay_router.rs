//! Router tests of the replay: every `/replay` answer, driven through `app()` with the in-memory recording
//! store (`replay::memory`) and sink. The SQL behind the real store is tested in `replay_warehouse.rs`.

use std::io::{Read, Write};
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{
    CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use event_schema::produce::CONTENT_TYPE_JSON_V2;
use event_schema::RecordingChunk;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use http_body_util::BodyExt;
use ingest_gateway::replay::chunk_row::RecordingChunkRow;
use ingest_gateway::replay::completeness::Completeness;
use ingest_gateway::replay::memory::MemoryStore;
use ingest_gateway::replay::store::{SessionFilter, SessionSummary, StoredChunk, TabChunks};
use ingest_gateway::replay::{Replay, ReplayAuth};
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::topics::TopicPolicy;
use ingest_gateway::{app, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

const SITE: &str = "shop.example";
const SESSION: &str = "Ab3dEf6hIj9kLm2n";
const TAB: &str = "Qw3rTy6uIo9pAs2d";
const USER: &str = "analyst";
const PASSWORD: &str = "correct horse";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: impl axum::http::header::AsHeaderName) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("compresses");
    encoder.finish().expect("compresses")
}

fn summary(session_id: &str, started_ms: u64, status: &str) -> SessionSummary {
    SessionSummary {
        site: SITE.into(),
        session_id: session_id.into(),
        started_ms,
        ended_ms: started_ms + 65_000,
        duration_ms: 65_000,
        pages: 2,
        entry_url: "https://shop.example/<script>alert(1)</script>".into(),
        visitor_id: "v1".into(),
        country: "DE".into(),
        browser: "Chrome".into(),
        os: "Linux".into(),
        device: "pc".into(),
        tabs: 1,
        chunks: 3,
        compressed_bytes: 900,
        raw_bytes: 9_000,
        events: 4,
        missing_seqs: 1,
        tabs_without_final: 0,
        status: status.into(),
    }
}

fn stored(seq: u32, events: &str) -> StoredChunk {
    StoredChunk {
        tab_id: TAB.into(),
        seq,
        part: 0,
        parts: 1,
        encoding: "gzip".into(),
        payload: base64::engine::general_purpose::STANDARD.encode(gzip(events.as_bytes())),
    }
}

/// A store holding one session with seq 1 of its tab withheld, and a gateway in front of it.
fn replay_gateway() -> (Router, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    store.add_session(
        summary(SESSION, 1_767_225_600_000, "gaps"),
        vec![TabChunks { tab_id: TAB.into(), chunks: vec![(0, 0, 1, 0, 1), (2, 0, 1, 0, 0), (3, 0, 1, 1, 1)] }],
        vec![
            stored(3, r#"[{"type":4,"timestamp":40},{"type":2,"timestamp":41}]"#),
            stored(0, r#"[{"type":4,"timestamp":10},{"type":2,"timestamp":11}]"#),
            stored(2, r#"[{"type":3,"timestamp":30}]"#),
        ],
    );
    let replay = Replay::new(ReplayAuth::basic(USER, PASSWORD), store.clone());
    (app(AppState::new(Arc::new(MemorySink::new())).with_replay(Some(replay))), store)
}

async fn send(router: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Reply { status: parts.status, headers: parts.headers, body }
}

async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Method::GET, uri, &[("authorization", &basic(USER, PASSWORD))]).await
}

#[tokio::test]
async fn every_replay_route_refuses_a_request_without_credentials_and_asks_the_browser_for_them() {
    let (router, store) = replay_gateway();
    let session = format!("/replay/api/sessions/{SITE}/{SESSION}");
    for (method, uri) in [
        (Method::GET, "/replay".to_owned()),
        (Method::GET, format!("/replay/sessions/{SITE}/{SESSION}")),
        (Method::GET, "/replay/assets/player.js".to_owned()),
        (Method::GET, "/replay/api/sessions".to_owned()),
        (Method::GET, session.clone()),
        (Method::GET, format!("{session}/events")),
        (Method::DELETE, session.clone()),
        (Method::GET, "/replay/no/such/page".to_owned()),
    ] {
        let reply = send(&router, method.clone(), &uri, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(reply.json()["error"], "missing_credentials", "{method} {uri}");
        assert!(reply.header(WWW_AUTHENTICATE).starts_with("Basic realm="), "{method} {uri}");
        let wrong = send(&router, method.clone(), &uri, &[("authorization", &basic(USER, "guess"))]).await;
        assert_eq!(
            (wrong.status, wrong.json()["error"].clone()),
            (StatusCode::UNAUTHORIZED, json!("wrong_credentials"))
        );
    }
    assert!(store.deleted.lock().expect("lock").is_empty(), "nothing was deleted");
    assert!(store.filters().is_empty(), "the store was never asked");
}

#[tokio::test]
async fn without_replay_credentials_replay_is_off_and_says_how_to_turn_it_on() {
    let router = app(AppState::new(Arc::new(MemorySink::new())));
    for uri in ["/replay", "/replay/api/sessions", "/replay/assets/player.js"] {
        let reply = send(&router, Method::GET, uri, &[("authorization", "Bearer anything")]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(reply.json()["error"], "not_enabled");
        assert!(reply.json()["message"].as_str().unwrap_or("").contains("REPLAY_TOKEN"));
    }
}

#[tokio::test]
async fn a_bearer_token_is_accepted_as_well_as_basic_credentials() {
    let store = Arc::new(MemoryStore::default());
    let replay = Replay::new(ReplayAuth::bearer("t0ken"), store);
    let router = app(AppState::new(Arc::new(MemorySink::new())).with_replay(Some(replay)));
    let ok = send(&router, Method::GET, "/replay/api/sessions", &[("authorization", "Bearer t0ken")]).await;
    assert_eq!((ok.status, ok.json()), (StatusCode::OK, json!({"sessions": []})));
}

#[tokio::test]
async fn the_list_hands_its_parsed_filter_to_the_store_and_answers_newest_first() {
    let (router, store) = replay_gateway();
    store.add_session(summary("Newer6hIj9kLm2n0", 1_767_229_200_000, "complete"), vec![], vec![]);
    let reply = get(
        &router,
        "/replay/api/sessions?site=shop.example&from=2026-01-01&to=2026-01-02T00:00:00Z&country=de&device=pc\
         &min_duration_s=60&max_duration_s=3600&completeness=gaps&limit=10",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header(CONTENT_TYPE), "application/json");
    assert_eq!(reply.header("cache-control"), "no-store");
    let ids: Vec<_> =
        reply.json()["sessions"].as_array().expect("a list").iter().map(|s| s["session_id"].clone()).collect();
    assert_eq!(ids, [json!("Newer6hIj9kLm2n0"), json!(SESSION)]);
    assert_eq!(
        store.filters(),
        [SessionFilter {
            site: Some(SITE.into()),
            session_id: None,
            from_ms: 1_767_225_600_000,
            to_ms: 1_767_312_000_000,
            country: Some("DE".into()),
            device: Some("pc".into()),
            min_duration_ms: 60_000,
            max_duration_ms: 3_600_000,
            status: Some(Completeness::Gaps),
            limit: 10,
        }]
    );
}

#[tokio::test]
async fn bad_list_parameters_are_refused_naming_the_parameter_before_the_store_is_asked() {
    let (router, store) = replay_gateway();
    for (query, parameter) in [
        ("from=last+tuesday", "from"),
        ("to=2026-13-01", "to"),
        ("site=%3Cscript%3E", "site"),
        ("country=Germany", "country"),
        ("completeness=almost", "completeness"),
        ("limit=100000", "limit"),
        ("min_duration_s=-1", "min_duration_s"),
        ("sort=oldest", "sort"),
        ("site=a.example&site=b.example", "site"),
    ] {
        let reply = get(&router, &format!("/replay/api/sessions?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.json()["error"], "invalid_parameter", "{query}");
        assert_eq!(reply.json()["parameter"], parameter, "{query}");
    }
    assert!(store.filters().is_empty());
}

#[tokio::test]
async fn a_session_reports_each_missing_sequence_number_of_each_tab() {
    let (router, _) = replay_gateway();
    let reply = get(&router, &format!("/replay/api/sessions/{SITE}/{SESSION}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let detail = reply.json();
    assert_eq!(detail["completeness"], "gaps");
    assert_eq!(detail["session"]["session_id"], SESSION);
    assert_eq!(
        detail["tabs"],
        json!([{"tab_id": TAB, "chunks": 3, "highest_seq": 3, "missing_seqs": [1], "final_received": true,
                "full_snapshot_seqs": [0, 3]}])
    );
}

#[tokio::test]
async fn garbage_and_unknown_sessions_are_told_apart() {
    let (router, _) = replay_gateway();
    for (uri, status, parameter) in [
        (format!("/replay/api/sessions/{SITE}/short"), StatusCode::BAD_REQUEST, Some("session_id")),
        (format!("/replay/api/sessions/bad%20site/{SESSION}"), StatusCode::BAD_REQUEST, Some("site")),
        (format!("/replay/api/sessions/{SITE}/{SESSION}/events?tab=%27%3B--"), StatusCode::BAD_REQUEST, Some("tab")),
        (format!("/replay/api/sessions/{SITE}/{SESSION}?x=1"), StatusCode::BAD_REQUEST, Some("x")),
        (format!("/replay/api/sessions/{SITE}/Unknown9Kk2mN4pQ"), StatusCode::NOT_FOUND, None),
        (format!("/replay/api/sessions/{SITE}/Unknown9Kk2mN4pQ/events"), StatusCode::NOT_FOUND, None),
        (format!("/replay/sessions/{SITE}/Unknown9Kk2mN4pQ"), StatusCode::NOT_FOUND, None),
        (format!("/replay/sessions/{SITE}/{SESSION}?tab=Other9Kk2mN4pQxx"), StatusCode::BAD_REQUEST, Some("tab")),
    ] {
        let reply = get(&router, &uri).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.text());
        assert_eq!(reply.json()["parameter"].as_str(), parameter, "{uri}");
    }
}

#[tokio::test]
async fn events_come_back_in_time_order_and_gzipped_when_accepted() {
    let (router, _) = replay_gateway();
    let uri = format!("/replay/api/sessions/{SITE}/{SESSION}/events");
    let plain = get(&router, &uri).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text());
    let timestamps: Vec<_> = plain.json().as_array().expect("array").iter().map(|e| e["timestamp"].clone()).collect();
    assert_eq!(timestamps, [json!(10), json!(11), json!(30), json!(40), json!(41)]);
    assert_eq!(plain.header("pathlight-events"), "5");
    assert_eq!(plain.header(CONTENT_ENCODING), "");

    let auth = basic(USER, PASSWORD);
    let zipped = send(&router, Method::GET, &uri, &[("authorization", &auth), ("accept-encoding", "gzip, br")]).await;
    assert_eq!((zipped.status, zipped.header(CONTENT_ENCODING)), (StatusCode::OK, "gzip"));
    let mut inflated = Vec::new();
    GzDecoder::new(zipped.body.as_slice()).read_to_end(&mut inflated).expect("gzip");
    assert_eq!(inflated, plain.body);
    assert_eq!(zipped.header("vary"), "Accept-Encoding");
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_to_retry_never_a_hang_or_a_500() {
    let (router, store) = replay_gateway();
    *store.unavailable.lock().expect("lock") = true;
    let reply = get(&router, "/replay/api/sessions").await;
    assert_eq!((reply.status, reply.header(RETRY_AFTER)), (StatusCode::SERVICE_UNAVAILABLE, "1"));
    assert_eq!(reply.json()["error"], "store_unavailable");
}

#[tokio::test]
async fn deleting_a_session_removes_it_and_a_second_delete_finds_nothing() {
    let (router, store) = replay_gateway();
    let uri = format!("/replay/api/sessions/{SITE}/{SESSION}");
    let auth = basic(USER, PASSWORD);
    let deleted = send(&router, Method::DELETE, &uri, &[("authorization", &auth)]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    assert_eq!(deleted.json(), json!({"site": SITE, "session_id": SESSION, "status": "deleted"}));
    assert_eq!(*store.deleted.lock().expect("lock"), [(SITE.to_owned(), SESSION.to_owned())]);
    assert_eq!(get(&router, &uri).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&router, Method::DELETE, &uri, &[("authorization", &auth)]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_sessions_page_escapes_what_was_recorded_and_sends_a_strict_policy() {
    let (router, _) = replay_gateway();
    let reply = get(&router, "/replay?completeness=gaps").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header(CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = reply.header(CONTENT_SECURITY_POLICY);
    assert!(csp.starts_with("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    let html = reply.text();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "recorded text is escaped");
    assert!(!html.contains("<script"), "the list needs no script at all");
    assert!(html.contains(&format!("href=\"/replay/sessions/{SITE}/{SESSION}\"")));
    assert!(html.contains("gaps (1 missing)"));
    assert!(html.contains(r#"<option value="gaps" selected>"#), "the filter form keeps its values");
}

#[tokio::test]
async fn the_player_page_loads_only_the_bundled_player_and_names_the_missing_chunks() {
    let (router, _) = replay_gateway();
    let reply = get(&router, &format!("/replay/sessions/{SITE}/{SESSION}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let csp = reply.header(CONTENT_SECURITY_POLICY);
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = reply.text();
    let scripts: Vec<_> =
        html.match_indices("<script").map(|(at, _)| &html[at..at + 60.min(html.len() - at)]).collect();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    assert!(scripts[0].starts_with(r#"<script src="/replay/assets/player.js" defer></script>"#), "{scripts:?}");
    assert!(html.contains(&format!(r#"data-events="/replay/api/sessions/{SITE}/{SESSION}/events?tab={TAB}""#)));
    assert!(html.contains("Missing chunks of this tab (sequence numbers): 1."), "{html}");
}

#[tokio::test]
async fn the_bundled_player_is_served_with_a_validator_and_revalidated_cheaply() {
    let (router, _) = replay_gateway();
    let script = get(&router, "/replay/assets/player.js").await;
    assert_eq!((script.status, script.header(CONTENT_TYPE)), (StatusCode::OK, "text/javascript; charset=utf-8"));
    assert!(script.text().contains("replayer-wrapper"), "it is the rrweb-player bundle");
    let etag = script.header(ETAG).to_owned();
    let auth = basic(USER, PASSWORD);
    let again =
        send(&router, Method::GET, "/replay/assets/player.js", &[("authorization", &auth), ("if-none-match", &etag)])
            .await;
    assert_eq!((again.status, again.body.len()), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(get(&router, "/replay/assets/../../etc/passwd").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&router, "/replay/assets/other.js").await.status, StatusCode::NOT_FOUND);
}

fn chunk_record(chunk: &RecordingChunk) -> Value {
    json!({"records": [{"key": chunk.session_id, "value": chunk}]})
}

#[tokio::test]
async fn the_recordings_topic_takes_only_chunks_whose_payload_is_the_declared_bytes() {
    let sink = Arc::new(MemorySink::new().with_topic("session_recordings", 2));
    let topics = TopicPolicy::any_topic().with_row_type::<RecordingChunkRow>("session_recordings");
    let router = app(AppState::new(sink.clone()).with_topics(topics));
    let bytes = gzip(br#"[{"type":4,"timestamp":1}]"#);
    let chunk = RecordingChunk {
        site: SITE.into(),
        session_id: SESSION.into(),
        tab_id: TAB.into(),
        parts: 1,
        encoding: "gzip".into(),
        compressed_bytes: u32::try_from(bytes.len()).expect("small"),
        payload: base64::engine::general_purpose::STANDARD.encode(&bytes),
        ..Default::default()
    };
    let produce = |body: Value| {
        Request::post("/topics/session_recordings")
            .header(CONTENT_TYPE, CONTENT_TYPE_JSON_V2)
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let accepted = router.clone().oneshot(produce(chunk_record(&chunk))).await.expect("answers");
    assert_eq!(accepted.status(), StatusCode::OK);
    let short = RecordingChunk { compressed_bytes: chunk.compressed_bytes + 1, ..chunk.clone() };
    let refused = router.clone().oneshot(produce(chunk_record(&short))).await.expect("answers");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value =
        serde_json::from_slice(&refused.into_body().collect().await.expect("body").to_bytes()).expect("json");
    assert_eq!(body["error_code"], 42202);
    assert!(body["message"].as_str().unwrap_or("").contains("compressed_bytes declares"), "{body}");
    assert_eq!(sink.record_count("session_recordings"), 1, "only the exact chunk was produced");
}
