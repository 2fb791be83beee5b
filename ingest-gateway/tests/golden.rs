//! Golden exchanges of the produce API: each `tests/golden/<gateway>/<case>.request` is a raw HTTP/1.1
//! request, replayed through `app()`, and `<case>.response` is the answer it must get, byte for byte in the
//! body, with every header the file lists. The requests follow Redpanda's own tests of its proxy
//! (`rest/test/produce.cc`, `json/requests/test/produce.cc`, `tests/rptest/tests/pandaproxy_test.py`); where
//! the gateway answers differently on purpose, the README's "Where the gateway differs" says why.
//!
//! `<gateway>` names the gateway the cases run against: `open` (no credentials) or `auth` (a client with
//! Basic credentials `red:panda` and one with the bearer token `golden-token`). Both hold the topics `t`
//! (3 partitions) and `page_visits` (4), allow those and `missing` (which the broker lacks), and require
//! stored events on `page_visits`.
//!
//! `GOLDEN_UPDATE=1 cargo test -p ingest-gateway --test golden` rewrites the response files from the
//! gateway's answers instead of comparing; review the diff before committing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use event_schema::StoredEvent;
use http_body_util::BodyExt;
use ingest_gateway::auth::{Auth, Client};
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::topics::TopicPolicy;
use ingest_gateway::{app, AppState};
use tower::ServiceExt;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn gateway(name: &str) -> axum::Router {
    let sink = Arc::new(MemorySink::new().with_topic("t", 3).with_topic("page_visits", 4));
    let topics = TopicPolicy::allow_only(["t", "page_visits", "missing"]).with_row_type::<StoredEvent>("page_visits");
    let mut state = AppState::new(sink).with_topics(topics);
    if name == "auth" {
        let clients =
            vec![Client::with_basic("redpanda-user", "red", "panda"), Client::with_token("bearer", "golden-token")];
        state = state.with_auth(Auth::open().with_clients(clients).expect("valid clients"));
    }
    app(state)
}

/// A raw HTTP/1.1 message: start line, headers, blank line, body (the file's last newline is not part of it).
struct Message {
    start_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_message(path: &Path) -> Message {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let split = text.windows(2).position(|w| w == b"\n\n").unwrap_or(text.len());
    let head = String::from_utf8(text[..split].to_vec()).expect("the head is UTF-8");
    let mut body = text.get(split + 2..).unwrap_or_default().to_vec();
    if body.last() == Some(&b'\n') {
        body.pop();
    }
    let mut lines = head.lines();
    let start_line = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .map(|line| {
            let (name, value) =
                line.split_once(':').unwrap_or_else(|| panic!("{}: bad header {line:?}", path.display()));
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    Message { start_line, headers, body }
}

fn request_of(message: Message) -> Request<Body> {
    let mut parts = message.start_line.split(' ');
    let (method, uri) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in &message.headers {
        request = request.header(name, value);
    }
    request.body(Body::from(message.body)).expect("a valid request")
}

async fn replay(router: &axum::Router, request: Request<Body>) -> (Response<()>, Vec<u8>) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    (Response::from_parts(parts, ()), body)
}

fn render(response: &Response<()>, body: &[u8]) -> String {
    let status = response.status();
    let mut text = format!("HTTP/1.1 {} {}\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    for name in ["content-type", "retry-after"] {
        if let Some(value) = response.headers().get(name) {
            text.push_str(&format!("{name}: {}\n", value.to_str().expect("ASCII header")));
        }
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(body));
    text.push('\n');
    text
}

fn cases(gateway: &str) -> Vec<PathBuf> {
    let dir = golden_dir().join(gateway);
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "request"))
        .collect();
    cases.sort();
    cases
}

async fn replay_all(gateway_name: &str) -> usize {
    let update = std::env::var_os("GOLDEN_UPDATE").is_some();
    let mut mismatches = Vec::new();
    let cases = cases(gateway_name);
    for request_path in &cases {
        // A fresh gateway per case, so offsets do not depend on which cases ran before.
        let router = gateway(gateway_name);
        let (response, body) = replay(&router, request_of(parse_message(request_path))).await;
        let response_path = request_path.with_extension("response");
        if update {
            std::fs::write(&response_path, render(&response, &body)).expect("write the golden response");
            continue;
        }
        let expected = parse_message(&response_path);
        let mut problems = Vec::new();
        let expected_status = expected.start_line.split(' ').nth(1).unwrap_or_default();
        if response.status().as_str() != expected_status {
            problems.push(format!("status {} instead of {expected_status}", response.status()));
        }
        for (name, value) in &expected.headers {
            let actual = response.headers().get(name).and_then(|v| v.to_str().ok());
            if actual != Some(value.as_str()) {
                problems.push(format!("{name}: {actual:?} instead of {value:?}"));
            }
        }
        if body != expected.body {
            problems.push(format!(
                "body\n  {}\ninstead of\n  {}",
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&expected.body)
            ));
        }
        if !problems.is_empty() {
            mismatches.push(format!("{}: {}", request_path.display(), problems.join("; ")));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} golden exchanges differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    cases.len()
}

#[tokio::test]
async fn every_golden_exchange_of_the_open_gateway_replays_exactly() {
    let replayed = replay_all("open").await;
    assert!(replayed >= 15, "only {replayed} cases: the golden directory is incomplete");
}

#[tokio::test]
async fn every_golden_exchange_of_the_gateway_with_credentials_replays_exactly() {
    let replayed = replay_all("auth").await;
    assert!(replayed >= 5, "only {replayed} cases: the golden directory is incomplete");
}
