//! `GET /readyz`: whether the gateway can do its job now, as opposed to `GET /healthz`, which only says the
//! process is alive. Ready means the broker's metadata can be read (records can be produced) and every
//! other registered dependency answers, ClickHouse with a cheap `SELECT 1`: without ClickHouse, records
//! are still accepted and wait on the topic, but a load balancer or an operator should know.
//!
//! Every check runs concurrently and has its own deadline, so a hung dependency makes `/readyz` slow by at
//! most that deadline, and never hangs it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::AppState;

pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One dependency `/readyz` asks about.
pub trait ReadinessCheck: Send + Sync {
    /// The key of this check in the `/readyz` body, e.g. `clickhouse`.
    fn name(&self) -> &'static str;

    fn check(&self) -> CheckFuture<'_>;
}

/// ClickHouse answers `SELECT 1` in the client's database: a server without Pathlight's database (`migrate`
/// not run) cannot ingest, so it does not count as ready either.
pub struct ClickHouseCheck {
    client: clickhouse::Client,
}

impl ClickHouseCheck {
    pub fn new(client: clickhouse::Client) -> Self {
        Self { client }
    }
}

impl ReadinessCheck for ClickHouseCheck {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match self.client.query("SELECT 1").fetch_one::<u8>().await {
                Ok(1) => Ok(()),
                Ok(other) => Err(format!("SELECT 1 returned {other}")),
                Err(error) => Err(error.to_string()),
            }
        })
    }
}

/// The broker check is the sink's own; the rest are registered with `AppState::with_readiness_check`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let deadline = state.ready_timeout;
    let broker = bounded(deadline, async { state.sink.check().await.map_err(|e| e.to_string()) });
    let others = futures_util::future::join_all(
        state.readiness.iter().map(|check| async move { (check.name(), bounded(deadline, check.check()).await) }),
    );
    let (broker, others) = tokio::join!(broker, others);

    let mut checks = Map::new();
    let mut ready = true;
    for (name, outcome) in std::iter::once(("broker", broker)).chain(others) {
        let value = match outcome {
            Ok(()) => Value::from("ok"),
            Err(reason) => {
                tracing::warn!(check = name, %reason, "not ready");
                ready = false;
                Value::from(reason)
            }
        };
        checks.insert(name.to_owned(), value);
    }
    if ready {
        Json(json!({"status": "ready", "checks": checks})).into_response()
    } else {
        let body = Json(json!({"status": "unavailable", "checks": checks}));
        (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, HeaderValue::from_static("1"))], body).into_response()
    }
}

async fn bounded(deadline: Duration, check: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(deadline, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", deadline.as_millis())))
}

/// A check that always gives the same answer, for tests of `/readyz` itself.
#[cfg(any(test, feature = "test-support"))]
pub struct FixedCheck {
    pub name: &'static str,
    pub outcome: Result<(), String>,
}

#[cfg(any(test, feature = "test-support"))]
impl ReadinessCheck for FixedCheck {
    fn name(&self) -> &'static str {
        self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let outcome = self.outcome.clone();
        Box::pin(async move { outcome })
    }
}
