//! Delivers one batch to the Redpanda HTTP Proxy produce API, with bounded retries.
//!
//! Built on `reqwest`, which compiles to the Workers' global `fetch` on wasm32 and to hyper natively, so
//! the same code runs in the isolate and in native tests against a local server. Waiting between attempts
//! is a parameter (`sleep`), because the isolate and tokio have different timers.
//!
//! The proxy answers HTTP 200 even when a partition failed, so success is read from the body. A keyed
//! record's partition is chosen by the broker's partitioner, which the worker does not know, so after a
//! partition error the whole batch is resent. Delivery is therefore at least once: a retried batch can land
//! twice, and the ClickHouse table deduplicates on `event_id`.

use std::future::Future;
use std::time::Duration;

use event_schema::produce::{CONTENT_TYPE_JSON_V2, CONTENT_TYPE_V2};
use event_schema::ProduceResponse;
use serde::Serialize;

use crate::config::{Config, ProxyAuth, FORWARD_ATTEMPT_TIMEOUT_MS};

/// Why one attempt failed; the label set of the `forward_failures` counter (snake case, derived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumIter, strum::EnumCount, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FailureReason {
    /// No HTTP response at all: connection refused, DNS, timeout.
    Network,
    /// A non-2xx status.
    HttpStatus,
    /// HTTP 2xx whose `offsets` carry a non-zero `error_code`.
    PartitionError,
    /// HTTP 2xx whose body is not a produce response.
    BadResponse,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptFailure {
    /// 1-based.
    pub attempt: u32,
    pub reason: FailureReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<i32>,
    pub detail: String,
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForwardReport {
    pub delivered: bool,
    pub attempts: u32,
    /// One entry per failed attempt, in order.
    pub failures: Vec<AttemptFailure>,
}

/// Where and how to produce, taken from [`Config`].
#[derive(Debug, Clone)]
pub struct ForwardTarget {
    /// `PROXY_URL` without a trailing slash; a request goes to `{proxy_url}/topics/{topic}`.
    pub proxy_url: String,
    pub auth: ProxyAuth,
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub attempt_timeout_ms: u64,
}

impl ForwardTarget {
    pub fn from_config(config: &Config) -> Self {
        Self {
            proxy_url: config.proxy_url.as_str().trim_end_matches('/').to_owned(),
            auth: config.proxy_auth.clone(),
            max_attempts: config.forward_max_attempts,
            backoff_ms: config.forward_backoff_ms,
            attempt_timeout_ms: FORWARD_ATTEMPT_TIMEOUT_MS,
        }
    }

    pub fn url(&self, topic: &str) -> String {
        format!("{}/topics/{topic}", self.proxy_url)
    }

    /// Wait before attempt `attempt + 1`: the backoff doubled for every earlier retry.
    pub fn backoff_before_retry(&self, attempt: u32) -> u64 {
        self.backoff_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
    }
}

/// Sends `body` (a serialized [`ProduceRequest`]) to `topic` until every partition took it, it fails for good,
/// or it runs out of attempts (direct mode).
pub async fn forward<S, F>(
    client: &reqwest::Client,
    target: &ForwardTarget,
    topic: &str,
    body: &[u8],
    mut sleep: S,
) -> ForwardReport
where
    S: FnMut(u64) -> F,
    F: Future<Output = ()>,
{
    let mut failures = Vec::new();
    for attempt in 1..=target.max_attempts.max(1) {
        let failure = match produce_once(client, target, topic, body).await.and_then(all_partitions_took_it) {
            Ok(()) => return ForwardReport { delivered: true, attempts: attempt, failures },
            Err(failure) => AttemptFailure { attempt, ..failure },
        };
        let retry = failure.retryable && attempt < target.max_attempts;
        failures.push(failure);
        if !retry {
            return ForwardReport { delivered: false, attempts: attempt, failures };
        }
        sleep(target.backoff_before_retry(attempt)).await;
    }
    ForwardReport { delivered: false, attempts: target.max_attempts, failures }
}

/// One produce request. `Ok` is any produce response, partition errors included: the caller decides what a
/// failed partition means (direct mode resends the batch, the queue consumer retries only its messages).
pub async fn produce_once(
    client: &reqwest::Client,
    target: &ForwardTarget,
    topic: &str,
    body: &[u8],
) -> Result<ProduceResponse, AttemptFailure> {
    let failure = |reason, status, detail: String, retryable| AttemptFailure {
        attempt: 0,
        reason,
        status,
        error_codes: Vec::new(),
        detail,
        retryable,
    };
    let mut request = client
        .post(target.url(topic))
        .header("content-type", CONTENT_TYPE_JSON_V2)
        .header("accept", CONTENT_TYPE_V2)
        .timeout(Duration::from_millis(target.attempt_timeout_ms))
        .body(body.to_vec());
    request = match &target.auth {
        ProxyAuth::None => request,
        ProxyAuth::Bearer(token) => request.bearer_auth(token.expose()),
        ProxyAuth::Basic { username, password } => request.basic_auth(username, Some(password.expose())),
    };
    let response = request.send().await.map_err(|e| failure(FailureReason::Network, None, e.to_string(), true))?;
    let status = response.status().as_u16();
    // A body that cannot be read after a status line is as good as a dropped connection.
    let text = response.text().await.map_err(|e| failure(FailureReason::Network, Some(status), e.to_string(), true))?;
    if !(200..300).contains(&status) {
        let retryable = status == 429 || status >= 500;
        return Err(failure(FailureReason::HttpStatus, Some(status), truncate(&text), retryable));
    }
    serde_json::from_str(&text)
        .map_err(|e| failure(FailureReason::BadResponse, Some(status), format!("{e}: {}", truncate(&text)), false))
}

/// A produce response in which any partition failed is a retryable failure of the whole batch.
fn all_partitions_took_it(response: ProduceResponse) -> Result<(), AttemptFailure> {
    let error_codes: Vec<i32> = response.failures().filter_map(|o| o.error_code).collect();
    if error_codes.is_empty() {
        return Ok(());
    }
    Err(AttemptFailure {
        attempt: 0,
        reason: FailureReason::PartitionError,
        status: Some(200),
        detail: format!("{} of {} partitions failed", error_codes.len(), response.offsets.len()),
        error_codes,
        retryable: true,
    })
}

/// Error bodies go into logs; keep a log line a line.
fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;

    use super::*;

    #[derive(Debug, Clone)]
    struct Seen {
        path: String,
        headers: HeaderMap,
        body: String,
    }

    #[derive(Clone, Default)]
    struct Proxy {
        /// Answers to give, in order; the last one repeats.
        script: Arc<Mutex<Vec<(u16, &'static str)>>>,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    async fn produce(
        State(proxy): State<Proxy>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, &'static str) {
        proxy.seen.lock().expect("lock").push(Seen { path: uri.path().to_owned(), headers, body });
        let mut script = proxy.script.lock().expect("lock");
        let (status, body) = if script.len() > 1 { script.remove(0) } else { script[0] };
        (StatusCode::from_u16(status).expect("status"), body)
    }

    const OK: (u16, &str) = (200, r#"{"offsets":[{"partition":0,"offset":41}]}"#);
    const PARTITION_ERROR: (u16, &str) = (200, r#"{"offsets":[{"partition":1,"error_code":3,"offset":-1}]}"#);

    async fn start(script: Vec<(u16, &'static str)>) -> (Proxy, String) {
        let proxy = Proxy { script: Arc::new(Mutex::new(script)), ..Proxy::default() };
        let app = Router::new().route("/topics/{topic}", post(produce)).with_state(proxy.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        (proxy, url)
    }

    fn target(proxy_url: String, auth: ProxyAuth) -> ForwardTarget {
        ForwardTarget { proxy_url, auth, max_attempts: 3, backoff_ms: 200, attempt_timeout_ms: 5_000 }
    }

    async fn run(target: &ForwardTarget) -> (ForwardReport, Vec<u64>) {
        let waits = Arc::new(Mutex::new(Vec::new()));
        let recorded = waits.clone();
        // The waits are recorded, not slept: what is under test is which waits are asked for.
        let report = forward(&reqwest::Client::new(), target, "page_visits", br#"{"records":[]}"#, move |ms| {
            recorded.lock().expect("lock").push(ms);
            std::future::ready(())
        })
        .await;
        let waits = waits.lock().expect("lock").clone();
        (report, waits)
    }

    fn seen(proxy: &Proxy) -> Vec<Seen> {
        proxy.seen.lock().expect("lock").clone()
    }

    #[tokio::test]
    async fn a_clean_produce_is_delivered_in_one_attempt_with_the_exact_content_type() {
        let (proxy, url) = start(vec![OK]).await;
        let (report, waits) = run(&target(url, ProxyAuth::None)).await;
        assert_eq!(report, ForwardReport { delivered: true, attempts: 1, failures: vec![] });
        assert!(waits.is_empty());
        let requests = seen(&proxy);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, "/topics/page_visits");
        assert_eq!(requests[0].headers["content-type"], CONTENT_TYPE_JSON_V2);
        assert_eq!(requests[0].headers["accept"], "application/vnd.kafka.v2+json");
        assert!(requests[0].headers.get("authorization").is_none());
        assert_eq!(requests[0].body, r#"{"records":[]}"#);
    }

    #[tokio::test]
    async fn a_partition_error_inside_a_200_is_retried_and_then_reported() {
        let (proxy, url) = start(vec![PARTITION_ERROR]).await;
        let (report, waits) = run(&target(url, ProxyAuth::None)).await;
        assert!(!report.delivered);
        assert_eq!(report.attempts, 3);
        assert_eq!(waits, vec![200, 400], "exponential backoff between the three attempts");
        assert_eq!(seen(&proxy).len(), 3);
        for (i, failure) in report.failures.iter().enumerate() {
            assert_eq!(
                (failure.attempt, failure.reason, failure.status),
                (i as u32 + 1, FailureReason::PartitionError, Some(200))
            );
            assert_eq!(failure.error_codes, vec![3]);
        }
    }

    #[tokio::test]
    async fn a_partition_error_that_clears_on_retry_is_delivered() {
        let (proxy, url) = start(vec![PARTITION_ERROR, OK]).await;
        let (report, _) = run(&target(url, ProxyAuth::None)).await;
        assert!(report.delivered);
        assert_eq!((report.attempts, report.failures.len()), (2, 1));
        let requests = seen(&proxy);
        assert_eq!(requests[0].body, requests[1].body, "the whole batch is resent");
    }

    #[tokio::test]
    async fn a_500_and_a_429_are_retried() {
        let (proxy, url) = start(vec![(500, "boom"), (429, "slow down"), OK]).await;
        let (report, waits) = run(&target(url, ProxyAuth::None)).await;
        assert!(report.delivered);
        assert_eq!(waits, vec![200, 400]);
        assert_eq!(seen(&proxy).len(), 3);
        let statuses: Vec<_> = report.failures.iter().map(|f| (f.reason, f.status)).collect();
        assert_eq!(statuses, vec![(FailureReason::HttpStatus, Some(500)), (FailureReason::HttpStatus, Some(429))]);
        assert_eq!(report.failures[0].detail, "boom");
    }

    #[tokio::test]
    async fn a_400_is_not_retried() {
        let (proxy, url) = start(vec![(400, r#"{"error_code":40002,"message":"bad"}"#), OK]).await;
        let (report, waits) = run(&target(url, ProxyAuth::None)).await;
        assert!(!report.delivered);
        assert_eq!(report.attempts, 1);
        assert!(waits.is_empty());
        assert_eq!(seen(&proxy).len(), 1);
        assert_eq!(
            (report.failures[0].reason, report.failures[0].status, report.failures[0].retryable),
            (FailureReason::HttpStatus, Some(400), false)
        );
    }

    #[tokio::test]
    async fn a_200_that_is_not_a_produce_response_is_a_bad_response() {
        let (_, url) = start(vec![(200, "<html>captive portal</html>")]).await;
        let (report, _) = run(&target(url, ProxyAuth::None)).await;
        assert_eq!((report.delivered, report.attempts), (false, 1));
        assert_eq!(report.failures[0].reason, FailureReason::BadResponse);
    }

    #[tokio::test]
    async fn an_unreachable_proxy_is_a_network_failure_retried_to_the_limit() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let (report, waits) = run(&target(url, ProxyAuth::None)).await;
        assert_eq!((report.delivered, report.attempts, waits.len()), (false, 3, 2));
        assert!(report.failures.iter().all(|f| f.reason == FailureReason::Network && f.status.is_none()));
    }

    #[tokio::test]
    async fn bearer_and_basic_credentials_are_sent() {
        let config = crate::config::tests::vars();
        let mut bearer_vars = config.clone();
        bearer_vars.insert("PROXY_TOKEN", "t0ken".to_owned());
        let mut basic_vars = config;
        basic_vars.insert("PROXY_USERNAME", "pathlight".to_owned());
        basic_vars.insert("PROXY_PASSWORD", "s3cret".to_owned());
        for (vars, expected) in [(bearer_vars, "Bearer t0ken"), (basic_vars, "Basic cGF0aGxpZ2h0OnMzY3JldA==")] {
            let (proxy, url) = start(vec![OK]).await;
            let auth = crate::config::tests::parse(&vars).expect("valid").proxy_auth;
            let (report, _) = run(&target(url, auth)).await;
            assert!(report.delivered);
            assert_eq!(seen(&proxy)[0].headers["authorization"], expected);
        }
    }
}
