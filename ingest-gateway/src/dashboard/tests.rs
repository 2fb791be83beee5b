//! The dashboard's routes through the whole app, with a ClickHouse nothing answers (the page and its
//! assets must not need it): refused without the stats credentials, served with their policy and cache
//! headers with them.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::assets::{DASHBOARD_CSS, DASHBOARD_JS};
use super::page::DASHBOARD_CSP;
use crate::auth::Auth;
use crate::sink::memory::MemorySink;
use crate::stats::Stats;
use crate::{app, AppState};

const USER: &str = "analyst";
const PASSWORD: &str = "dashboard-router-password";
const TOKEN: &str = "dashboard-router-token";

fn gateway(auth: Option<Auth>) -> Router {
    // Port 9 (discard) on loopback is closed: any query would fail, so a 200 here asked ClickHouse nothing.
    let client = crate::warehouse::client("http://127.0.0.1:9", "pathlight", "default", "");
    let stats = auth.map(|auth| Stats::new(auth, client));
    app(AppState::new(Arc::new(MemorySink::new())).with_stats(stats))
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn get(router: &Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::builder().uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answers");
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.expect("body").to_bytes())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

const PATHS: [&str; 4] = [
    "/dashboard",
    "/dashboard?site=s.example&country=DE",
    "/dashboard/assets/dashboard.js",
    "/dashboard/assets/dashboard.css",
];

#[tokio::test]
async fn without_stats_credentials_configured_every_dashboard_route_says_how_to_turn_them_on() {
    let router = gateway(None);
    for path in PATHS {
        let (status, _, body) = get(&router, path, &[("authorization", &basic(USER, PASSWORD))]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["error"], "not_enabled", "{path}");
        assert!(body["message"].as_str().unwrap_or("").contains("STATS_USERNAME"), "{path}: {body}");
    }
}

#[tokio::test]
async fn without_or_with_wrong_credentials_the_page_and_its_assets_are_refused_with_the_stats_challenge() {
    let router = gateway(Some(Auth::basic(USER, PASSWORD)));
    let wrong = basic(USER, "guess");
    for (headers, label) in [
        (vec![], "missing_credentials"),
        (vec![("authorization", wrong.as_str())], "wrong_credentials"),
        (vec![("authorization", "Digest whatever")], "malformed_credentials"),
    ] {
        for path in PATHS.iter().chain(&["/dashboard/assets/nothing.js"]) {
            let (status, response_headers, body) = get(&router, path, &headers).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {label}");
            let challenges: Vec<&str> =
                response_headers.get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).collect();
            assert_eq!(challenges.first(), Some(&r#"Basic realm="Pathlight stats""#), "{path}");
            assert_eq!(header(&response_headers, "cache-control"), "no-store", "{path}");
            let body: Value = serde_json::from_slice(&body).expect("a JSON refusal, not the page");
            assert_eq!(body["error"], label, "{path}");
        }
    }
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_never_cached_and_holds_no_inline_script() {
    let router = gateway(Some(Auth::basic(USER, PASSWORD)));
    let (status, headers, body) =
        get(&router, "/dashboard?site=s.example", &[("authorization", &basic(USER, PASSWORD))]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "content-security-policy"), DASHBOARD_CSP);
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    let scripts = DASHBOARD_CSP.split(';').find(|d| d.trim().starts_with("script-src")).unwrap_or("");
    assert_eq!(scripts.trim(), "script-src 'self'");
    assert!(!DASHBOARD_CSP.contains("unsafe") && !DASHBOARD_CSP.contains("http"), "{DASHBOARD_CSP}");
    let html = String::from_utf8(body.to_vec()).expect("UTF-8");
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains(r#"<script src="/dashboard/assets/dashboard.js" defer></script>"#), "{html}");
    assert!(!html.contains("style=") && !html.contains("<style"), "no inline style: {html}");
    for id in ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "current"] {
        assert!(html.contains(&format!(r#"id="stat-{id}""#)), "stat-{id} in {html}");
    }
    // The query string is the script's business: nothing of it is echoed into the page.
    assert!(!html.contains("s.example"), "{html}");
}

#[tokio::test]
async fn the_assets_are_served_with_their_types_and_revalidated_by_etag_with_either_credential() {
    let router = gateway(Some(
        Auth::open()
            .with_clients(vec![
                crate::auth::Client::with_token("stats-token", TOKEN),
                crate::auth::Client::with_basic("stats-basic", USER, PASSWORD),
            ])
            .expect("clients"),
    ));
    let bearer = format!("Bearer {TOKEN}");
    let basic = basic(USER, PASSWORD);
    for (file, content_type, bytes) in [
        ("dashboard.js", "text/javascript; charset=utf-8", DASHBOARD_JS),
        ("dashboard.css", "text/css; charset=utf-8", DASHBOARD_CSS),
    ] {
        let path = format!("/dashboard/assets/{file}");
        for credential in [&bearer, &basic] {
            let (status, headers, body) = get(&router, &path, &[("authorization", credential)]).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(header(&headers, "content-type"), content_type);
            assert_eq!(header(&headers, "cache-control"), "private, no-cache");
            assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
            assert_eq!(body.as_ref(), bytes, "{path} is the embedded file");
            let etag = header(&headers, "etag").to_owned();
            assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
            let (status, headers, body) =
                get(&router, &path, &[("authorization", credential), ("if-none-match", &etag)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
            assert_eq!(header(&headers, "etag"), etag);
            assert!(body.is_empty());
        }
    }
    for path in ["/dashboard/assets/player.js", "/dashboard/assets/", "/dashboard/elsewhere"] {
        let (status, _, body) = get(&router, path, &[("authorization", &bearer)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["error"], "unknown_route", "{path}");
    }
}
