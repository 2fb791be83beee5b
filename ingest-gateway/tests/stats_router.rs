//! The stats API's boundary without a database: off unless configured, credentials checked first, every bad
//! parameter refused with a 400 naming it before ClickHouse is asked anything (the client here points at a
//! closed port, so any query would be a 503), and an unreachable ClickHouse a 503 with `Retry-After`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use ingest_gateway::auth::Auth;
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::stats::Stats;
use ingest_gateway::{app, AppState};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "stats-router-token";

fn gateway(stats: Option<Stats>) -> Router {
    app(AppState::new(Arc::new(MemorySink::new())).with_stats(stats))
}

/// A ClickHouse client nothing answers: port 9 (discard) on loopback is closed here.
fn unreachable_stats() -> Stats {
    let client = ingest_gateway::warehouse::client("http://127.0.0.1:9", "pathlight", "default", "");
    Stats::new(Auth::bearer(TOKEN), client)
}

async fn get(router: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder().uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answers");
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, retry_after, serde_json::from_slice(&bytes).expect("a JSON body"))
}

#[tokio::test]
async fn without_stats_credentials_the_routes_say_how_to_turn_them_on() {
    let (status, _, body) = get(&gateway(None), "/api/v1/stats/aggregate?site=s", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_enabled");
    assert!(body["message"].as_str().expect("message").contains("STATS_TOKEN"), "{body}");
}

#[tokio::test]
async fn credentials_are_checked_before_the_parameters() {
    let router = gateway(Some(unreachable_stats()));
    let (status, _, body) = get(&router, "/api/v1/stats/aggregate?colour=red", None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_credentials")));
    let (status, _, body) = get(&router, "/api/v1/stats/aggregate?colour=red", Some("not-it")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("wrong_credentials")));
}

#[tokio::test]
async fn every_bad_parameter_is_a_400_naming_it_without_asking_clickhouse() {
    let router = gateway(Some(unreachable_stats()));
    let range = "site=s.example&from=2026-01-01&to=2026-01-02";
    for (uri, parameter) in [
        ("/api/v1/stats/aggregate?from=2026-01-01&to=2026-01-02".to_owned(), "site"),
        ("/api/v1/stats/aggregate?site=s.example&to=2026-01-02".to_owned(), "from"),
        ("/api/v1/stats/aggregate?site=s.example&from=2026-01-01".to_owned(), "to"),
        (format!("/api/v1/stats/aggregate?{range}&site=t.example"), "site"),
        (format!("/api/v1/stats/aggregate?{range}&country=DE&country=FR"), "country"),
        (format!("/api/v1/stats/timeseries?{range}&interval=week"), "interval"),
        ("/api/v1/stats/timeseries?site=s&from=0&to=2000000000&interval=hour".to_owned(), "interval"),
        (format!("/api/v1/stats/breakdown?{range}"), "property"),
        (format!("/api/v1/stats/breakdown?{range}&property=exit_page&page=/a"), "page"),
        (format!("/api/v1/stats/breakdown?{range}&property=os&limit=-1"), "limit"),
        ("/api/v1/stats/realtime".to_owned(), "site"),
        ("/api/v1/stats/realtime?site=s&limit=3".to_owned(), "limit"),
    ] {
        let (status, _, body) = get(&router, &uri, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["parameter"], parameter, "{uri}: {body}");
    }
}

#[tokio::test]
async fn an_unreachable_clickhouse_is_a_503_to_retry() {
    let router = gateway(Some(unreachable_stats()));
    let (status, retry_after, body) =
        get(&router, "/api/v1/stats/aggregate?site=s&from=2026-01-01&to=2026-01-02", Some(TOKEN)).await;
    assert_eq!((status, retry_after.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")));
    assert_eq!(body["error"], "unavailable");
}
