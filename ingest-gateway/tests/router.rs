//! Router tests: every answer of the HTTP surface, driven through `app()` with the in-memory sink.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine;
use event_schema::produce::CONTENT_TYPE_JSON_V2;
use event_schema::StoredEvent;
use http_body_util::BodyExt;
use ingest_gateway::auth::Auth;
use ingest_gateway::sink::memory::{MemorySink, StoredRecord};
use ingest_gateway::{app, serve, AppState};
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
    gateway_with(sink, Auth::open())
}

fn gateway_with(sink: &Arc<MemorySink>, auth: Auth) -> (Router, AppState) {
    let state = AppState::new(sink.clone(), auth, MIB);
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
    assert_metric(&metrics_text(&app).await, "gateway_records_produced_total 6");
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
    assert_metric(&metrics, "gateway_produce_failures_total{reason=\"unknown_topic\"} 2");
    assert_metric(&metrics, "gateway_records_produced_total 0");
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
    assert_metric(&metrics, "gateway_produce_failures_total{reason=\"delivery\"} 2");
    assert_metric(&metrics, "gateway_records_produced_total 1");
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
        [Some("application/json"), Some("text/plain"), Some("application/vnd.kafka.binary.v2+json"), None]
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

    let just_fits = format!(r#"{{"records":[{{"value":"{}"}}]}}"#, "x".repeat(MIB - 100));
    assert_eq!(send(&app, produce_request("page_visits", just_fits)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn it_requires_the_configured_credentials_and_counts_failures() {
    let sink = Arc::new(MemorySink::new().with_topic("page_visits", 1));
    let config = <ConfigOnly as clap::Parser>::parse_from([
        "test",
        "--auth-token",
        "s3cret",
        "--auth-username",
        "worker",
        "--auth-password",
        "pw",
    ])
    .config;
    let (app, _) = gateway_with(&sink, Auth::from_config(&config));
    let with_auth = |authorization: Option<&str>| {
        let mut request = produce_request("page_visits", json!({"records": [{"value": 1}]}).to_string());
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
    assert!(sink.records("page_visits", 0).is_empty());

    assert_eq!(send(&app, with_auth(Some("Bearer s3cret"))).await.status, StatusCode::OK);
    assert_eq!(send(&app, with_auth(Some(&basic("worker:pw")))).await.status, StatusCode::OK);
    assert_eq!(sink.records("page_visits", 0).len(), 2);
    let metrics = metrics_text(&app).await;
    assert_metric(&metrics, "gateway_refusals_total{reason=\"missing_credentials\"} 1");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"wrong_credentials\"} 2");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"malformed_authorization\"} 1");
    assert_metric(&metrics, "gateway_refusals_total{reason=\"unsupported_authorization\"} 1");
    assert_metric(&metrics, "gateway_http_responses_total{status=\"401\"} 3");
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
async fn healthz_follows_the_broker() {
    let sink = Arc::new(MemorySink::new());
    let (app, _) = gateway(&sink);
    let healthz = || Request::get("/healthz").body(Body::empty()).expect("request");

    assert_eq!(send(&app, healthz()).await.status, StatusCode::OK);
    sink.set_unavailable(true);
    let down = send(&app, healthz()).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.json()["status"], "unavailable");
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
    let server = tokio::spawn(serve(listener, state, Duration::from_secs(1), async {
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
    let app = app(AppState::new(sink.clone(), Auth::open(), MIB).with_event_topic("page_visits"));
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
        assert!(message.starts_with("record 1 is not a page_visits event") && message.contains(named), "{message}");
    }
    assert!(sink.records("page_visits", 0).is_empty(), "nothing of a refused request is produced");

    let accepted = produce(&app, "page_visits", json!({"records": [{"key": "k", "value": event}]})).await;
    assert_eq!(accepted.json(), json!({"offsets": [{"partition": 0, "offset": 0}]}));
    let other_topic = produce(&app, "raw", json!({"records": [{"value": {"anything": true}}]})).await;
    assert_eq!(other_topic.status, StatusCode::OK, "only the event topic is checked");
}
