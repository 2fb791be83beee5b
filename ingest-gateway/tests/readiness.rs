//! `/readyz` with its real ClickHouse check: against the stack's server (`CLICKHOUSE_URL`, default
//! `http://127.0.0.1:18123`, started by `scripts/stack.sh up`), against a port nobody listens on, and
//! against a server that accepts connections but never answers, which must cost no more than the
//! readiness deadline.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ingest_gateway::readiness::{ClickHouseCheck, ReadinessCheck};
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::{app, warehouse, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

fn clickhouse_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:18123".to_owned())
}

fn check_at(url: &str) -> Arc<ClickHouseCheck> {
    Arc::new(ClickHouseCheck::new(warehouse::client(url, "default", "default", "")))
}

async fn readyz(check: Arc<ClickHouseCheck>, deadline: Duration) -> (StatusCode, Value) {
    let state = AppState::new(Arc::new(MemorySink::new())).with_readiness_check(check).with_ready_timeout(deadline);
    let response = app(state).oneshot(Request::get("/readyz").body(Body::empty()).expect("request")).await;
    let response = response.expect("infallible");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON"))
}

#[tokio::test]
async fn the_stacks_clickhouse_answers_select_1() {
    let url = clickhouse_url();
    let outcome = check_at(&url).check().await;
    assert_eq!(outcome, Ok(()), "ClickHouse at {url}: start it with `scripts/stack.sh up` or set CLICKHOUSE_URL");

    let (status, body) = readyz(check_at(&url), Duration::from_secs(5)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "ready", "checks": {"broker": "ok", "clickhouse": "ok"}}))
    );
}

#[tokio::test]
async fn an_unreachable_clickhouse_makes_the_gateway_unready() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");

    let (status, body) = readyz(check_at(&format!("http://{closed}")), Duration::from_secs(5)).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["broker"], "ok");
    assert!(body["checks"]["clickhouse"].as_str().is_some_and(|reason| reason != "ok"), "{body}");
}

#[tokio::test]
async fn a_clickhouse_that_never_answers_costs_no_more_than_the_deadline() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("address"));
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });

    let (status, body) = readyz(check_at(&url), Duration::from_millis(300)).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["clickhouse"], "no answer within 300 ms");
    accepting.abort();
}
