//! Router tests: every answer of the HTTP surface, driven through `app()` with the in-memory sink.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use event_schema::produce::{CONTENT_TYPE_BINARY_V2, CONTENT_TYPE_JSON_V2};
use event_schema::StoredEvent;
use governor::Quota;
use http_body_util::BodyExt;
use ingest_gateway::auth::{Auth, Client};
use ingest_gateway::limits::{Limits, RateLimits};
use ingest_gateway::readiness::FixedCheck;
use ingest_gateway::sink::memory::{MemorySink, StoredRecord};
use ingest_gateway::topics::TopicPolicy;
use ingest_gateway::{app, serve, AppState, ShutdownDeadlines};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const MIB: usize = 1024 * 1024;

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

    fn content_type(&self) -> &str {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

fn gateway(sink: &Arc<MemorySink>) -> (Router, AppState) {
    gateway_with(AppState::new(sink.clone()))
}

fn gateway_with(state: AppState) -> (Router, AppState) {
    (app(state.clone()), state)
}

fn produce_request(topic: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(format!("/topics/{topic}"))
        .header(CONTENT_TYPE, CONTENT_TYPE_JSON_V2)
        .body(body.into())
        .expect("request")
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Reply { status, headers, body }
}

async fn produce(app: &Router, topic: &str, body: Value) -> Reply {
    send(app, produce_request(topic, body.to_string())).await
}

fn stored(key: Option<&str>, value: &str) -> StoredRecord {
    StoredRecord { key: key.map(|k| k.as_bytes().to_vec()), value: Some(value.as_bytes().to_vec()) }
}

async fn metrics_text(app: &Router) -> String {
    send(app, Request::get("/metrics").body(Body::empty()).expect("request")).await.text()
}

fn assert_metric(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
}

fn assert_proxy_error(reply: &Reply, status: StatusCode, error_code: i64) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.content_type(), "application/json");
    let body = reply.json();
    assert_eq!(body["error_code"], json!(error_code), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn it_answers_one_base_offset_per_partition_after_writing_every_record() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 3));
    let (app, _) = gateway(&sink);
    let first =
        produce(&app, "page_visits", json!({"records": [{"value": 1, "partition": 0}, {"value": 2, "partition": 0}]}))
            .await;
    assert_eq!(first.json(), json!({"offsets": [{"partition": 0, "offset": 0}]}));

    let reply = produce(
        &app,
        "page_visits",
        json!({"records": [
            {"value": "a", "partition": 2},
            {"value": "b", "partition": 0},
            {"value": "c", "partition": 2},
            {"value": "d", "partition": 0},
        ]}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/vnd.kafka.v2+json");
    assert_eq!(reply.json(), json!({"offsets": [{"partition": 0, "offset": 2}, {"partition": 2, "offset": 0}]}));
    assert_eq!(
        sink.records("page_visits", 0),
        vec![stored(None, "1"), stored(None, "2"), stored(None, r#""b""#), stored(None, r#""d""#)]
    );
    assert_eq!(sink.records("page_visits", 2), vec![stored(None, r#""a""#), stored(None, r#""c""#)]);
    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_records_produced_total{topic=\"page_visits\"} 6");
    assert_metric(&metrics, "gateway_bytes_produced_total{topic=\"page_visits\"} 14");
}

#[tokio::test]
async fn it_writes_keys_and_values_as_the_json_text_the_client_sent() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);
    let body = r#"{"records": [
        {"key": "sid-1", "value": {"site": "example.com", "a": 1,  "nested": {"z": [1, 2]}}},
        {"key": {"b": true, "a": null}, "value": "plain"}
    ]}"#;

    let reply = send(&app, produce_request("page_visits", body)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        sink.records("page_visits", 0),
        vec![
            stored(Some(r#""sid-1""#), r#"{"site":"example.com","a":1,"nested":{"z":[1,2]}}"#),
            stored(Some(r#"{"b":true,"a":null}"#), r#""plain""#),
        ]
    );
}

#[tokio::test]
async fn it_answers_an_unknown_topic_with_error_code_3_inside_a_200() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 4));
    let (app, _) = gateway(&sink);

    let reply = produce(&app, "no_such_topic", json!({"records": [{"key": "k", "value": 1}, {"value": 2}]})).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), r#"{"offsets":[{"partition":0,"error_code":3,"offset":-1}]}"#);
    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_produce_failures_total{topic=\"no_such_topic\",reason=\"unknown_topic\"} 2");
    assert!(!metrics.contains("gateway_records_produced_total{"), "{metrics}");
}

#[tokio::test]
async fn it_reports_a_failed_partition_with_its_error_code_and_offset_minus_one() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 2));
    sink.fail_partition("page_visits", 1, 19);
    let (app, _) = gateway(&sink);

    let reply = produce(
        &app,
        "page_visits",
        json!({"records": [{"value": 1, "partition": 1}, {"value": 2, "partition": 0}, {"value": 3, "partition": 7}]}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"offsets": [
            {"partition": 0, "offset": 0},
            {"partition": 1, "error_code": 19, "offset": -1},
            {"partition": 7, "error_code": 3, "offset": -1},
        ]})
    );
    assert_eq!(sink.records("page_visits", 0), vec![stored(None, "2")]);
    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_produce_failures_total{topic=\"page_visits\",reason=\"delivery\"} 2");
    assert_metric(&metrics, "gateway_records_produced_total{topic=\"page_visits\"} 1");
}

#[tokio::test]
async fn it_answers_an_empty_record_list_with_no_offsets_whatever_the_topic() {
    let sink = Arc::new(MemorySink::new());
    let (app, _) = gateway(&sink);

    let reply = produce(&app, "no_such_topic", json!({"records": []})).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), r#"{"offsets":[]}"#);
}

#[tokio::test]
async fn it_refuses_with_503_and_retry_after_when_the_queue_is_full() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    sink.set_queue_full(true);
    let (app, _) = gateway(&sink);

    let reply = produce(&app, "page_visits", json!({"records": [{"value": 1}]})).await;

    assert_proxy_error(&reply, StatusCode::SERVICE_UNAVAILABLE, 503);
    assert_eq!(reply.headers.get(RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert!(sink.records("page_visits", 0).is_empty());
    assert_metric(&metrics_text(&app).await, "gateway_refusals_total{reason=\"queue_full\"} 1");

    sink.set_queue_full(false);
    let retried = produce(&app, "page_visits", json!({"records": [{"value": 1}]})).await;
    assert_eq!(retried.status, StatusCode::OK);
}

#[tokio::test]
async fn it_answers_503_with_retry_after_when_the_broker_is_unreachable() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    sink.set_unavailable(true);
    let (app, _) = gateway(&sink);

    let reply = produce(&app, "page_visits", json!({"records": [{"value": 1}, {"value": 2}]})).await;

    assert_proxy_error(&reply, StatusCode::SERVICE_UNAVAILABLE, 50302);
    assert_eq!(reply.headers.get(RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert_metric(&metrics_text(&app).await, "gateway_refusals_total{reason=\"broker_unavailable\"} 1");
}

#[tokio::test]
async fn it_rejects_a_wrong_or_missing_content_type_with_415() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);
    let body = json!({"records": [{"value": 1}]}).to_string();

    for content_type in
        [Some("application/json"), Some("text/plain"), Some("*/*"), Some("application/vnd.kafka.v2+json"), None]
    {
        let mut request = Request::post("/topics/page_visits");
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let reply = send(&app, request.body(Body::from(body.clone())).expect("request")).await;
        assert_proxy_error(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, 415);
    }
    assert!(sink.records("page_visits", 0).is_empty());
}

#[tokio::test]
async fn it_accepts_the_content_type_among_other_tokens() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);

    let request = Request::post("/topics/page_visits")
        .header(CONTENT_TYPE, "application/vnd.kafka.json.v2+json; charset=utf-8")
        .body(Body::from(json!({"records": [{"value": 1}]}).to_string()))
        .expect("request");

    assert_eq!(send(&app, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn it_answers_406_to_an_accept_it_cannot_satisfy() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);
    let with_accept = |accept: &str| {
        let mut request = produce_request("page_visits", json!({"records": [{"value": 1}]}).to_string());
        request.headers_mut().insert(ACCEPT, accept.parse().expect("header"));
        request
    };

    assert_proxy_error(&send(&app, with_accept("application/json")).await, StatusCode::NOT_ACCEPTABLE, 406);
    for accept in ["*/*", "application/vnd.kafka.v2+json", "application/json, */*;q=0.8", ""] {
        assert_eq!(send(&app, with_accept(accept)).await.status, StatusCode::OK, "Accept: {accept}");
    }
}

#[tokio::test]
async fn it_rejects_garbage_and_an_empty_body_with_422() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);

    for body in
        ["", "garbage", "{\"records\":", r#"{"records":[{"value":1,"extra":2}]}"#, r#"{"record":[]}"#, "\u{0}\u{1}"]
    {
        let reply = send(&app, produce_request("page_visits", body)).await;
        assert_proxy_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, 422);
        assert!(
            reply.json()["message"].as_str().is_some_and(|m| m.starts_with("parse error at offset")),
            "{}",
            reply.text()
        );
    }
    assert!(sink.records("page_visits", 0).is_empty());
}

#[tokio::test]
async fn it_rejects_a_body_over_the_limit_with_413_whether_or_not_its_length_is_declared() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);
    let ten_mib = format!(r#"{{"records":[{{"value":"{}"}}]}}"#, "x".repeat(10 * MIB));

    let mut declared = produce_request("page_visits", ten_mib.clone());
    declared.headers_mut().insert(CONTENT_LENGTH, ten_mib.len().into());
    assert_proxy_error(&send(&app, declared).await, StatusCode::PAYLOAD_TOO_LARGE, 413);

    let undeclared = produce_request("page_visits", ten_mib);
    assert_proxy_error(&send(&app, undeclared).await, StatusCode::PAYLOAD_TOO_LARGE, 413);

    let half = "x".repeat((MIB - 100) / 2);
    let just_fits = format!(r#"{{"records":[{{"value":"{half}"}},{{"value":"{half}"}}]}}"#);
    assert_eq!(send(&app, produce_request("page_visits", just_fits)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn it_requires_the_configured_credentials_and_counts_failures() {
    // A topic without a row type: what is checked here is auth, not records (the product topics' rows are).
    let sink = Arc::new(MemorySink::new().with_topic("plain", 1));
    let config = <ConfigOnly as clap::Parser>::parse_from([
        "test",
        "--allowed-topics",
        "plain",
        "--auth-token",
        "s3cret",
        "--auth-username",
        "worker",
        "--auth-password",
        "pw",
    ])
    .config;
    let (app, _) = gateway_with(AppState::from_config(sink.clone(), &config).expect("valid config"));
    let with_auth = |authorization: Option<&str>| {
        let mut request = produce_request("plain", json!({"records": [{"value": 1}]}).to_string());
        if let Some(authorization) = authorization {
            request.headers_mut().insert(AUTHORIZATION, authorization.parse().expect("header"));
        }
        request
    };
    let basic = |credentials: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));

    assert_proxy_error(&send(&app, with_auth(None)).await, StatusCode::UNAUTHORIZED, 40101);
    assert_proxy_error(&send(&app, with_auth(Some("Bearer wrong"))).await, StatusCode::UNAUTHORIZED, 40101);
    assert_proxy_error(&send(&app, with_auth(Some(&basic("worker:wrong")))).await, StatusCode::UNAUTHORIZED, 40101);
    assert_proxy_error(&send(&app, with_auth(Some("Basic ###"))).await, StatusCode::BAD_REQUEST, 40002);
    assert_proxy_error(&send(&app, with_auth(Some("Negotiate abc"))).await, StatusCode::BAD_REQUEST, 40002);
    assert!(sink.records("plain", 0).is_empty());

    assert_eq!(send(&app, with_auth(Some("Bearer s3cret"))).await.status, StatusCode::OK);
    assert_eq!(send(&app, with_auth(Some(&basic("worker:pw")))).await.status, StatusCode::OK);
    assert_eq!(sink.records("plain", 0).len(), 2);
    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_refusals_total{reason=\"missing_credentials\"} 1");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"wrong_credentials\"} 2");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"malformed_authorization\"} 1");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"unsupported_authorization\"} 1");
    assert_metric(&metrics, "gateway_http_responses_total{status=\"401\"} 3");
    assert_metric(&metrics, "gateway_client_requests_total{client=\"default\",status=\"200\"} 2");
    assert_metric(&metrics, "gateway_client_requests_total{client=\"unauthenticated\",status=\"401\"} 3");
}

#[derive(clap::Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: ingest_gateway::config::Config,
}

#[tokio::test]
async fn it_never_answers_5xx_to_client_garbage() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);
    let bodies: [&[u8]; 7] = [
        b"",
        b"\xff\xfe\xfd",
        b"null",
        b"[[[[[[[[[[",
        b"{\"records\":[{\"value\":1e999999}]}",
        b"{\"records\":null}",
        &[b'{'; 4096],
    ];
    let content_types = [CONTENT_TYPE_JSON_V2, "application/json", "", "\u{7f}"];

    for body in bodies {
        for content_type in content_types {
            for method in [Method::POST, Method::GET, Method::PUT, Method::DELETE] {
                for path in ["/topics/page_visits", "/topics/%ZZ", "/topics/", "/", "/topics/a/b"] {
                    let mut request = Request::builder().method(method.clone()).uri(path);
                    if let Ok(value) = axum::http::HeaderValue::from_str(content_type) {
                        request = request.header(CONTENT_TYPE, value);
                    }
                    let reply = send(&app, request.body(Body::from(body.to_vec())).expect("request")).await;
                    assert!(
                        reply.status.is_client_error() || reply.status == StatusCode::OK,
                        "{method} {path} ({content_type}) gave {}: {}",
                        reply.status,
                        reply.text()
                    );
                    if reply.status.is_client_error() {
                        reply.json();
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let sink = Arc::new(MemorySink::new());
    let (app, _) = gateway(&sink);

    assert_proxy_error(
        &send(&app, Request::get("/nope").body(Body::empty()).expect("request")).await,
        StatusCode::NOT_FOUND,
        404,
    );
    let wrong_method = Request::get("/topics/page_visits").body(Body::empty()).expect("request");
    assert_proxy_error(&send(&app, wrong_method).await, StatusCode::METHOD_NOT_ALLOWED, 405);
}

#[tokio::test]
async fn healthz_says_the_process_is_alive_and_readyz_whether_its_dependencies_answer() {
    let sink = Arc::new(MemorySink::new());
    let clickhouse = |outcome: Result<(), String>| Arc::new(FixedCheck { name: "clickhouse", outcome });
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_readiness_check(clickhouse(Ok(()))));
    let get = |path: &str| Request::get(path).body(Body::empty()).expect("request");

    let ready = send(&app, get("/readyz")).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json(), json!({"status": "ready", "checks": {"broker": "ok", "clickhouse": "ok"}}));

    sink.set_unavailable(true);
    let broker_down = send(&app, get("/readyz")).await;
    assert_eq!(broker_down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(broker_down.headers.get(RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert_eq!(broker_down.json()["status"], "unavailable");
    assert_eq!(broker_down.json()["checks"]["clickhouse"], "ok");
    assert!(broker_down.json()["checks"]["broker"].as_str().is_some_and(|m| m.contains("no broker")));
    assert_eq!(send(&app, get("/healthz")).await.status, StatusCode::OK, "alive though not ready");

    sink.set_unavailable(false);
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_readiness_check(clickhouse(Err("refused".into()))));
    let clickhouse_down = send(&app, get("/readyz")).await;
    assert_eq!(clickhouse_down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(clickhouse_down.json()["checks"], json!({"broker": "ok", "clickhouse": "refused"}));
}

#[tokio::test]
async fn metrics_count_responses_by_status() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);
    produce(&app, "page_visits", json!({"records": [{"value": 1}]})).await;
    send(&app, Request::post("/topics/page_visits").body(Body::empty()).expect("request")).await;

    let metrics = send(&app, Request::get("/metrics").body(Body::empty()).expect("request")).await;

    assert!(metrics.content_type().starts_with("text/plain; version=0.0.4"));
    assert_metric(&metrics.text(), "gateway_http_responses_total{status=\"200\"} 1");
    assert_metric(&metrics.text(), "gateway_http_responses_total{status=\"415\"} 1");
}

#[tokio::test]
async fn metrics_are_labelled_openmetrics_only_for_a_scraper_that_asks() {
    let sink = Arc::new(MemorySink::new());
    let (app, _) = gateway(&sink);
    let scrape = |accept: &str| Request::get("/metrics").header(ACCEPT, accept).body(Body::empty()).expect("request");

    let openmetrics = send(&app, scrape("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")).await;
    assert!(openmetrics.content_type().starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(openmetrics.text().ends_with("# EOF\n"), "{}", openmetrics.text());
    let plain = send(&app, scrape("*/*")).await;
    assert!(plain.content_type().starts_with("text/plain; version=0.0.4"));
}

#[tokio::test]
async fn every_refusal_is_counted_under_its_own_reason() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (app, _) = gateway(&sink);

    send(&app, Request::get("/nope").body(Body::empty()).expect("request")).await;
    send(&app, Request::delete("/metrics").body(Body::empty()).expect("request")).await;
    send(&app, produce_request("page_visits", "garbage")).await;

    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_refusals_total{reason=\"unknown_route\"} 1");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"method_not_allowed\"} 1");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"invalid_json\"} 1");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"queue_full\"} 0");
}

#[tokio::test]
async fn on_shutdown_it_stops_accepting_and_flushes_the_sink() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let (_, state) = gateway(&sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let deadlines = ShutdownDeadlines { drain: Duration::from_secs(5), flush: Duration::from_secs(1) };
    let server = tokio::spawn(serve(listener, state, deadlines, async {
        let _ = stopped.await;
    }));

    let body = json!({"records": [{"value": 1}]}).to_string();
    let mut connection = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = format!(
        "POST /topics/page_visits HTTP/1.1\r\nHost: gateway\r\nContent-Type: {CONTENT_TYPE_JSON_V2}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    connection.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(sink.flushes(), 0);

    stop.send(()).expect("server running");
    server.await.expect("joined").expect("clean shutdown");

    assert_eq!(sink.flushes(), 1);
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the listener must be closed");
}

#[tokio::test]
async fn it_refuses_records_on_the_event_topic_that_clickhouse_could_not_load() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1).with_topic("raw", 1));
    let topics = TopicPolicy::any_topic().with_row_type::<StoredEvent>("page_visits");
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_topics(topics));
    let event = serde_json::to_value(StoredEvent { event_id: "e1".into(), site: "s".into(), ..StoredEvent::default() })
        .expect("serializes");
    let mut unknown_field = event.clone();
    unknown_field["surprise"] = json!(1);
    let mut missing_field = event.clone();
    missing_field.as_object_mut().expect("object").remove("url");
    let mut wrong_type = event.clone();
    wrong_type["timestamp"] = json!("yesterday");

    for (bad, named) in
        [(unknown_field, "surprise"), (missing_field, "url"), (wrong_type, "u32"), (json!("text"), "string")]
    {
        let reply =
            produce(&app, "page_visits", json!({"records": [{"key": "k", "value": event}, {"value": bad}]})).await;
        assert_proxy_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, 42202);
        let message = reply.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.starts_with("record 1 is not a page_visits row") && message.contains(named), "{message}");
    }
    assert!(sink.records("page_visits", 0).is_empty(), "nothing of a refused request is produced");
    assert_metric(&metrics_text(&app).await, "gateway_refusals_total{reason=\"invalid_row\"} 4");

    let accepted = produce(&app, "page_visits", json!({"records": [{"key": "k", "value": event}]})).await;
    assert_eq!(accepted.json(), json!({"offsets": [{"partition": 0, "offset": 0}]}));
    let other_topic = produce(&app, "raw", json!({"records": [{"value": {"anything": true}}]})).await;
    assert_eq!(other_topic.status, StatusCode::OK, "only the event topic is checked");
}

fn binary_request(topic: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(format!("/topics/{topic}"))
        .header(CONTENT_TYPE, CONTENT_TYPE_BINARY_V2)
        .body(body.into())
        .expect("request")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn it_writes_the_decoded_bytes_of_a_binary_request() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 2));
    let (app, _) = gateway(&sink);
    let body = json!({"records": [
        {"key": b64(b"key"), "value": "dmVjdG9yaXplZA==", "partition": 1},
        {"value": "cGFuZGFwcm94eQ", "partition": 1},
        {"key": "", "value": b64(&[0, 159, 255]), "partition": 0},
    ]});

    let reply = send(&app, binary_request("raw", body.to_string())).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.content_type(), "application/vnd.kafka.v2+json");
    assert_eq!(reply.json(), json!({"offsets": [{"partition": 0, "offset": 0}, {"partition": 1, "offset": 0}]}));
    assert_eq!(
        sink.records("raw", 1),
        vec![
            StoredRecord { key: Some(b"key".to_vec()), value: Some(b"vectorized".to_vec()) },
            StoredRecord { key: None, value: Some(b"pandaproxy".to_vec()) },
        ]
    );
    assert_eq!(sink.records("raw", 0), vec![StoredRecord { key: Some(Vec::new()), value: Some(vec![0, 159, 255]) }]);
}

#[tokio::test]
async fn it_refuses_a_binary_request_whose_key_or_value_is_not_a_base64_string() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 1));
    let (app, _) = gateway(&sink);

    for (records, needle) in [
        (json!([{"value": "dmVj"}, {"value": "not base64!"}]), "the value of record 1 is not base64"),
        (json!([{"key": "a-b_c", "value": "dmVj"}]), "the key of record 0 is not base64"),
        (json!([{"value": "dmVjd"}]), "the value of record 0 is not base64"),
        (json!([{"value": null}]), "parse error at offset"),
        (json!([{"key": null, "value": "dmVj"}]), "parse error at offset"),
        (json!([{"value": {"a": 1}}]), "parse error at offset"),
        (json!([{"value": 42}]), "parse error at offset"),
    ] {
        let reply = send(&app, binary_request("raw", json!({"records": records}).to_string())).await;
        assert_proxy_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, 422);
        let message = reply.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(needle), "{records}: {message}");
    }
    assert_eq!(sink.total_records(), 0);
    assert_metric(&metrics_text(&app).await, "gateway_refusals_total{reason=\"invalid_base64\"} 3");
}

#[tokio::test]
async fn the_first_content_type_token_that_names_a_format_picks_it() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 1));
    let (app, _) = gateway(&sink);
    let body = json!({"records": [{"value": "dmVj"}]}).to_string();
    let with_type = |content_type: &str| {
        Request::post("/topics/raw").header(CONTENT_TYPE, content_type).body(Body::from(body.clone())).expect("request")
    };

    let binary_first = "text/plain, application/vnd.kafka.binary.v2+json, application/vnd.kafka.json.v2+json";
    assert_eq!(send(&app, with_type(binary_first)).await.status, StatusCode::OK);
    let json_first = "application/vnd.kafka.json.v2+json;application/vnd.kafka.binary.v2+json";
    assert_eq!(send(&app, with_type(json_first)).await.status, StatusCode::OK);

    assert_eq!(sink.records("raw", 0), vec![stored(None, "vec"), stored(None, r#""dmVj""#)]);
}

#[tokio::test]
async fn a_binary_record_for_the_event_topic_must_decode_to_a_stored_event() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let topics = TopicPolicy::allow_only(["page_visits"]).with_row_type::<StoredEvent>("page_visits");
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_topics(topics));
    let event = serde_json::to_vec(&StoredEvent { event_id: "e1".into(), ..StoredEvent::default() }).expect("json");

    let refused = json!({"records": [{"value": b64(&event)}, {"value": b64(b"{\"event_id\":\"e2\"}")}]});
    assert_proxy_error(
        &send(&app, binary_request("page_visits", refused.to_string())).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        42202,
    );
    assert_eq!(sink.total_records(), 0);

    let accepted = json!({"records": [{"value": b64(&event)}]});
    assert_eq!(send(&app, binary_request("page_visits", accepted.to_string())).await.status, StatusCode::OK);
    assert_eq!(sink.records("page_visits", 0), vec![StoredRecord { key: None, value: Some(event) }]);
}

#[tokio::test]
async fn a_topic_off_the_allowlist_is_refused_with_403_and_an_illegal_name_with_400() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1).with_topic("secrets", 1));
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_topics(TopicPolicy::allow_only(["page_visits"])));
    let body = json!({"records": [{"value": 1}]});

    let forbidden = produce(&app, "secrets", body.clone()).await;
    assert_proxy_error(&forbidden, StatusCode::FORBIDDEN, 40301);
    assert!(forbidden.json()["message"].as_str().is_some_and(|m| m.contains("\"secrets\"")));
    let unknown = produce(&app, "no_such_topic", body.clone()).await;
    assert_proxy_error(&unknown, StatusCode::FORBIDDEN, 40301);

    let too_long = "t".repeat(250);
    for illegal in ["has%20space", "semi%3Bcolon", "..", too_long.as_str(), "%C3%A9t%C3%A9"] {
        let reply = produce(&app, illegal, body.clone()).await;
        assert_proxy_error(&reply, StatusCode::BAD_REQUEST, 40002);
        assert!(reply.json()["message"].as_str().is_some_and(|m| m.starts_with("Invalid parameter 'topic_name'")));
    }
    assert_eq!(sink.total_records(), 0);
    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_refusals_total{reason=\"forbidden_topic\"} 2");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"invalid_topic\"} 5");
}

#[tokio::test]
async fn a_request_with_one_record_over_the_size_limit_is_refused_whole() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 1));
    let limits = Limits { max_record_bytes: 12, ..Limits::default() };
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_limits(limits));

    let reply =
        produce(&app, "raw", json!({"records": [{"value": "small"}, {"key": "k", "value": "1234567890"}]})).await;

    assert_proxy_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, 413);
    let message = reply.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("record 1 is 15 bytes") && message.contains("12-byte limit"), "{message}");
    assert_eq!(sink.total_records(), 0);
    assert_eq!(produce(&app, "raw", json!({"records": [{"value": "1234567890"}]})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn headers_over_the_limit_get_431_on_every_route() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 1));
    let limits = Limits { max_header_bytes: 1024, ..Limits::default() };
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_limits(limits));
    let padding = "x".repeat(2048);

    for request in [
        produce_request("raw", json!({"records": [{"value": 1}]}).to_string()),
        Request::get("/healthz").body(Body::empty()).expect("request"),
        Request::get("/nope").body(Body::empty()).expect("request"),
    ] {
        let mut request = request;
        request.headers_mut().insert("x-padding", padding.parse().expect("header"));
        assert_proxy_error(&send(&app, request).await, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, 431);
    }
    assert_eq!(sink.total_records(), 0);
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 1));
    let auth = Auth::open()
        .with_clients(vec![Client::with_token("edge", "t-edge"), Client::with_token("batch", "t-batch")])
        .expect("valid clients");
    let rates = RateLimits::none().with_quota("edge", Quota::per_hour(NonZeroU32::MIN));
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_auth(auth).with_rate_limits(rates));
    let as_client = |token: &str| {
        let mut request = produce_request("raw", json!({"records": [{"value": 1}]}).to_string());
        request.headers_mut().insert(AUTHORIZATION, format!("Bearer {token}").parse().expect("header"));
        request
    };

    assert_eq!(send(&app, as_client("t-edge")).await.status, StatusCode::OK);
    let limited = send(&app, as_client("t-edge")).await;
    assert_proxy_error(&limited, StatusCode::TOO_MANY_REQUESTS, 429);
    let retry_after: u64 = limited.headers[RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(send(&app, as_client("t-batch")).await.status, StatusCode::OK, "other clients go on");

    assert_eq!(sink.record_count("raw"), 2);
    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_refusals_total{reason=\"rate_limited\"} 1");
    assert_metric(&metrics, "gateway_client_requests_total{client=\"edge\",status=\"429\"} 1");
    assert_metric(&metrics, "gateway_client_requests_total{client=\"edge\",status=\"200\"} 1");
    assert_metric(&metrics, "gateway_client_requests_total{client=\"batch\",status=\"200\"} 1");
}

/// Polls (with a deadline) until the sink holds `count` batches waiting for the broker.
async fn until_waiting(sink: &MemorySink, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sink.waiting_batches() != count {
        assert!(tokio::time::Instant::now() < deadline, "{} batches waiting, not {count}", sink.waiting_batches());
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_request_over_the_concurrency_bound_gets_503_at_once_while_probes_still_answer() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 1));
    sink.set_held(true);
    let limits = Limits { max_concurrent_requests: 1, ..Limits::default() };
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_limits(limits));
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, produce_request("raw", json!({"records": [{"value": 1}]}).to_string())).await }
    });
    until_waiting(&sink, 1).await;

    let second = send(&app, produce_request("raw", json!({"records": [{"value": 2}]}).to_string())).await;
    assert_proxy_error(&second, StatusCode::SERVICE_UNAVAILABLE, 503);
    assert_eq!(second.headers.get(RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert_eq!(send(&app, Request::get("/healthz").body(Body::empty()).expect("request")).await.status, StatusCode::OK);
    assert_metric(&metrics_text(&app).await, "gateway_produce_requests_in_flight 1");

    sink.set_held(false);
    assert_eq!(first.await.expect("joined").status, StatusCode::OK);
    assert_eq!(sink.records("raw", 0), vec![stored(None, "1")]);
    assert_metric(&metrics_text(&app).await, "gateway_refusals_total{reason=\"overloaded\"} 1");
}

#[tokio::test(start_paused = true)]
async fn a_request_that_outlives_its_timeout_gets_503_with_retry_after() {
    let sink = Arc::new(MemorySink::new().with_topic("raw", 1));
    sink.set_held(true);
    let limits = Limits { request_timeout: Duration::from_millis(250), ..Limits::default() };
    let (app, _) = gateway_with(AppState::new(sink.clone()).with_limits(limits));

    let reply = send(&app, produce_request("raw", json!({"records": [{"value": 1}]}).to_string())).await;

    assert_proxy_error(&reply, StatusCode::SERVICE_UNAVAILABLE, 50003);
    assert_eq!(reply.headers.get(RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert!(reply.json()["message"].as_str().is_some_and(|m| m.contains("250 ms")), "{}", reply.text());
    assert_eq!(sink.waiting_batches(), 0, "the abandoned batch no longer waits");
    assert_eq!(sink.total_records(), 0);
    assert_metric(&metrics_text(&app).await, "gateway_refusals_total{reason=\"request_timeout\"} 1");
}

/// Bad input of every kind, each with its documented answer; none of it reaches the sink.
#[tokio::test]
async fn every_kind_of_bad_input_gets_its_documented_4xx_and_nothing_reaches_a_topic() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1).with_topic("raw", 1).with_topic("secrets", 1));
    let topics = TopicPolicy::allow_only(["page_visits", "raw"]).with_row_type::<StoredEvent>("page_visits");
    let limits = Limits { max_body_bytes: 4096, max_record_bytes: 64, max_header_bytes: 2048, ..Limits::default() };
    let state = AppState::new(sink.clone()).with_auth(Auth::bearer("t")).with_topics(topics).with_limits(limits);
    let (app, _) = gateway_with(state);
    let request = |method: Method, path: &str, content_type: &str, body: Vec<u8>| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(CONTENT_TYPE, content_type)
            .header(AUTHORIZATION, "Bearer t")
            .body(Body::from(body))
            .expect("request")
    };
    let json_body = |value: Value| value.to_string().into_bytes();
    let post = |path: &str, body: Vec<u8>| request(Method::POST, path, CONTENT_TYPE_JSON_V2, body);
    let one = json_body(json!({"records": [{"value": 1}]}));
    let mut invalid_utf8 = br#"{"records":[{"value":""#.to_vec();
    invalid_utf8.extend([0xff, 0xfe]);
    invalid_utf8.extend(br#""}]}"#);
    let mut huge_headers = post("/topics/raw", one.clone());
    huge_headers.headers_mut().insert("x-padding", "x".repeat(4096).parse().expect("header"));
    let mut no_credentials = post("/topics/raw", one.clone());
    no_credentials.headers_mut().remove(AUTHORIZATION);
    let mut wrong_accept = post("/topics/raw", one.clone());
    wrong_accept.headers_mut().insert(ACCEPT, "application/vnd.kafka.binary.v2+json".parse().expect("header"));

    let cases: Vec<(&str, Request<Body>, StatusCode, i64)> = vec![
        ("malformed JSON", post("/topics/raw", b"{\"records\":[".to_vec()), StatusCode::UNPROCESSABLE_ENTITY, 422),
        (
            "a wrong type",
            post("/topics/raw", json_body(json!({"records": [{"value": 1, "partition": "0"}]}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            422,
        ),
        (
            "records not a list",
            post("/topics/raw", json_body(json!({"records": {"value": 1}}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            422,
        ),
        ("invalid UTF-8", post("/topics/raw", invalid_utf8), StatusCode::UNPROCESSABLE_ENTITY, 422),
        ("a missing records field", post("/topics/raw", json_body(json!({}))), StatusCode::UNPROCESSABLE_ENTITY, 422),
        (
            "an event missing its fields",
            post("/topics/page_visits", json_body(json!({"records": [{"value": {"event_id": "e"}}]}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
        ),
        (
            "wrong base64",
            request(
                Method::POST,
                "/topics/raw",
                CONTENT_TYPE_BINARY_V2,
                json_body(json!({"records": [{"value": "%%%"}]})),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            422,
        ),
        (
            "an oversize record",
            post("/topics/raw", json_body(json!({"records": [{"value": "x".repeat(100)}]}))),
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
        ),
        (
            "an oversize body",
            post("/topics/raw", json_body(json!({"records": [{"value": "x".repeat(5000)}]}))),
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
        ),
        ("huge headers", huge_headers, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, 431),
        ("a forbidden topic", post("/topics/secrets", one.clone()), StatusCode::FORBIDDEN, 40301),
        ("a topic off the allowlist", post("/topics/no_such_topic", one.clone()), StatusCode::FORBIDDEN, 40301),
        ("an illegal topic name", post("/topics/a%00b", one.clone()), StatusCode::BAD_REQUEST, 40002),
        ("a topic that is not UTF-8", post("/topics/%FF", one.clone()), StatusCode::BAD_REQUEST, 40002),
        ("no credentials", no_credentials, StatusCode::UNAUTHORIZED, 40101),
        (
            "a wrong content type",
            request(Method::POST, "/topics/raw", "application/json", one.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
        ),
        ("an unacceptable Accept", wrong_accept, StatusCode::NOT_ACCEPTABLE, 406),
        (
            "a wrong method",
            request(Method::PUT, "/topics/raw", CONTENT_TYPE_JSON_V2, one.clone()),
            StatusCode::METHOD_NOT_ALLOWED,
            405,
        ),
        ("an unknown route", post("/topics/raw/partitions/0", one.clone()), StatusCode::NOT_FOUND, 404),
        ("a produce to /metrics", post("/metrics", one.clone()), StatusCode::METHOD_NOT_ALLOWED, 405),
        ("a produce to /readyz", post("/readyz", one.clone()), StatusCode::METHOD_NOT_ALLOWED, 405),
    ];
    for (what, request, status, error_code) in cases {
        let reply = send(&app, request).await;
        assert_eq!(
            (reply.status, reply.json()["error_code"].as_i64()),
            (status, Some(error_code)),
            "{what}: {}",
            reply.text()
        );
        assert_eq!(reply.content_type(), "application/json", "{what}");
    }
    assert_eq!(sink.total_records(), 0, "nothing of a refused request reaches a topic");
}
