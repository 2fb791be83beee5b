//! The cloud side of Pathlight: serves the Redpanda HTTP Proxy produce API on top of Kafka (so the edge
//! worker can forward to Redpanda's proxy or to this gateway unchanged), creates the topics, applies
//! `sql/` to ClickHouse and answers the reports.
//!
//! [`app`] is the whole HTTP surface; `main.rs` only reads the [`config::Config`], starts tracing and
//! runs a subcommand.

pub mod auth;
pub mod config;
pub mod metrics;
pub mod produce;
pub mod refusal;
pub mod report;
pub mod sink;
pub mod warehouse;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::auth::Auth;
use crate::metrics::Metrics;
use crate::refusal::{Refusal, RefusalReason};
use crate::sink::{Sink, SinkError};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub sink: Arc<dyn Sink>,
    pub auth: Arc<Auth>,
    /// Largest accepted produce body, in bytes.
    pub max_body_bytes: usize,
    pub metrics: Arc<Metrics>,
    /// The topic ClickHouse loads into `page_visits`: its records must be exact `StoredEvent`s.
    pub event_topic: Option<Arc<str>>,
}

impl AppState {
    pub fn new(sink: Arc<dyn Sink>, auth: Auth, max_body_bytes: usize) -> Self {
        Self { sink, auth: Arc::new(auth), max_body_bytes, metrics: Arc::default(), event_topic: None }
    }

    /// Refuse, with a 422, records on `topic` that are not exact `StoredEvent`s (see `produce`).
    pub fn with_event_topic(mut self, topic: &str) -> Self {
        self.event_topic = Some(topic.into());
        self
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/topics/{topic}", post(produce::produce))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { Refusal::UnknownRoute })
        .method_not_allowed_fallback(|| async { Refusal::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.metrics.clone(), count_responses))
        .with_state(state)
}

async fn count_responses(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    metrics.count_response(response.status().as_u16());
    if let Some(&reason) = response.extensions().get::<RefusalReason>() {
        metrics.count_refusal(reason);
    }
    response
}

/// Ready when the broker's metadata can be read (through the sink's short-lived cache).
async fn healthz(State(state): State<AppState>) -> Response {
    match state.sink.check().await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            let body = Json(json!({"status": "unavailable", "message": error.to_string()}));
            (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, HeaderValue::from_static("1"))], body).into_response()
        }
    }
}

/// The exposition is OpenMetrics text, which Prometheus' classic text parser also reads; it is labelled as
/// OpenMetrics only for a scraper that asks for it, so plain `curl` and old scrapers see `text/plain`.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    let content_type = if wants_openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    ([(CONTENT_TYPE, HeaderValue::from_static(content_type))], state.metrics.render()).into_response()
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    #[error("records accepted before shutdown may not have reached the broker: {0}")]
    Flush(#[from] SinkError),
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then stops accepting, lets the requests in
/// flight finish (each answers only after the broker acknowledged its records), and flushes the sink for
/// at most `flush_timeout`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    flush_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let sink = state.sink.clone();
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await?;
    tracing::info!("stopped accepting requests; flushing the producer");
    sink.flush(flush_timeout).await?;
    Ok(())
}
