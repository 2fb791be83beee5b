//! The cloud side of Pathlight: serves the Redpanda HTTP Proxy produce API on top of Kafka (so the edge
//! worker can forward to Redpanda's proxy or to this gateway unchanged), creates the topics, applies
//! `sql/` to ClickHouse and answers the reports.
//!
//! [`app`] is the whole HTTP surface (`POST /topics/{topic}`, `GET /healthz`, `GET /readyz`,
//! `GET /metrics`, the session replay under `/replay`, see [`replay`], and the stats API under
//! `/api/v1/stats`, see [`stats`], and its dashboard page under `/dashboard`, see [`dashboard`]); `main.rs`
//! only reads the [`commands::Settings`], starts tracing and runs one of [`commands`].

pub mod auth;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod limits;
pub mod metrics;
pub mod produce;
pub mod read_api;
pub mod readiness;
pub mod refusal;
pub mod replay;
pub mod report;
pub mod retention;
pub mod sink;
pub mod static_files;
pub mod stats;
pub mod topics;
pub use warehouse;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::auth::Auth;
use crate::config::{Config, ConfigError};
use crate::limits::{Limits, RateLimits};
use crate::metrics::Metrics;
use crate::produce::ClientLabel;
use crate::readiness::ReadinessCheck;
use crate::refusal::{Refusal, RefusalReason};
use crate::sink::{Sink, SinkError};
use crate::topics::TopicPolicy;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub sink: Arc<dyn Sink>,
    pub auth: Arc<Auth>,
    pub rate_limits: Arc<RateLimits>,
    pub topics: Arc<TopicPolicy>,
    pub limits: Arc<Limits>,
    pub metrics: Arc<Metrics>,
    /// Dependencies `/readyz` asks about besides the broker.
    pub readiness: Arc<[Arc<dyn ReadinessCheck>]>,
    /// How long `/readyz` waits for each check.
    pub ready_timeout: Duration,
    /// Session replay (`/replay/...`); `None` when no replay credentials are configured.
    pub replay: Option<Arc<replay::Replay>>,
    /// The stats API (`/api/v1/stats/...`); `None` when no stats credentials are configured.
    pub stats: Option<Arc<stats::Stats>>,
}

impl AppState {
    /// A gateway as open as a plain Redpanda proxy: no credentials, any topic, no rate limits, the default
    /// sizes and timeouts. `serve` builds its state with [`AppState::from_config`] instead.
    pub fn new(sink: Arc<dyn Sink>) -> Self {
        Self {
            sink,
            auth: Arc::new(Auth::open()),
            rate_limits: Arc::new(RateLimits::none()),
            topics: Arc::new(TopicPolicy::any_topic()),
            limits: Arc::new(Limits::default()),
            metrics: Arc::default(),
            readiness: Arc::new([]),
            ready_timeout: Duration::from_secs(2),
            replay: None,
            stats: None,
        }
    }

    /// Everything `config` asks for; refuses credentials that are incomplete, and an address reachable from
    /// other machines without credentials (unless allowed explicitly).
    pub fn from_config(sink: Arc<dyn Sink>, config: &Config) -> Result<Self, ConfigError> {
        let auth = config.serving_auth()?;
        Ok(Self::new(sink)
            .with_rate_limits(config.rate_limits(&auth))
            .with_auth(auth)
            .with_topics(config.topic_policy())
            .with_limits(config.limits())
            .with_ready_timeout(Duration::from_millis(config.ready_timeout_ms)))
    }

    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Arc::new(auth);
        self
    }

    pub fn with_rate_limits(mut self, rate_limits: RateLimits) -> Self {
        self.rate_limits = Arc::new(rate_limits);
        self
    }

    pub fn with_topics(mut self, topics: TopicPolicy) -> Self {
        self.topics = Arc::new(topics);
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    pub fn with_readiness_check(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.readiness = self.readiness.iter().cloned().chain([check]).collect();
        self
    }

    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    pub fn with_replay(mut self, replay: Option<replay::Replay>) -> Self {
        self.replay = replay.map(Arc::new);
        self
    }

    pub fn with_stats(mut self, stats: Option<stats::Stats>) -> Self {
        self.stats = stats.map(Arc::new);
        self
    }
}

/// The whole HTTP surface. The produce route alone is bounded in time and concurrency, so that probes
/// and scrapes still answer while it is saturated; a request over either bound is refused in the proxy's
/// error shape, like every other refusal.
pub fn app(state: AppState) -> Router {
    let (timeout, concurrency) = (state.limits.request_timeout, state.limits.max_concurrent_requests);
    let bounded = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(
            move |error: BoxError| async move { refuse_over_bounds(&error, timeout, concurrency) },
        ))
        .timeout(timeout)
        .load_shed()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(concurrency));
    Router::new()
        .route("/topics/{topic}", post(produce::produce).layer(bounded))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readiness::readyz))
        .route("/metrics", get(metrics))
        .merge(replay::router(state.replay.clone()))
        .merge(stats::router(state.stats.clone()))
        .merge(dashboard::router(state.stats.clone()))
        .fallback(|| async { Refusal::UnknownRoute })
        .method_not_allowed_fallback(|| async { Refusal::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.limits.max_header_bytes, refuse_large_headers))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), count_responses))
        // Refusals log themselves once, with their reason; the trace layer's own failure log would repeat
        // every 5xx at ERROR.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

fn refuse_over_bounds(error: &BoxError, timeout: Duration, concurrency: usize) -> Refusal {
    if error.is::<tower::timeout::error::Elapsed>() {
        Refusal::RequestTimeout { limit_ms: timeout.as_millis() }
    } else {
        // The only other error these layers raise is load shedding's `Overloaded`.
        Refusal::Overloaded { limit: concurrency }
    }
}

/// hyper refuses headers past its own, larger limits with a bare 431; below those, this keeps the
/// answer in the proxy's error shape and the limit configurable.
async fn refuse_large_headers(State(limit_bytes): State<usize>, request: Request, next: Next) -> Response {
    let size: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > limit_bytes {
        return Refusal::HeadersTooLarge { limit_bytes }.into_response();
    }
    next.run(request).await
}

async fn count_responses(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics.count_response(&route, status, started.elapsed());
    if let Some(&reason) = response.extensions().get::<RefusalReason>() {
        metrics.count_refusal(reason);
    }
    if let Some(ClientLabel(client)) = response.extensions().get::<ClientLabel>() {
        metrics.count_client_request(client, status);
    }
    response
}

/// Liveness: the process serves HTTP. Whether it can produce is `/readyz`.
async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
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

/// How long shutdown may take, once asked for.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownDeadlines {
    /// For requests in flight to finish after the listener closed.
    pub drain: Duration,
    /// For the producer to deliver what it still holds.
    pub flush: Duration,
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then stops accepting, lets the requests in
/// flight finish for at most `deadlines.drain` (each answers only after the broker acknowledged its
/// records), and flushes the sink for at most `deadlines.flush`. A request still unanswered at the drain
/// deadline loses its connection, so its client sees no acknowledgement and retries; its records, if
/// already enqueued, are still flushed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    deadlines: ShutdownDeadlines,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let sink = state.sink.clone();
    let (draining, drain_started) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = draining.send(());
    });
    let server = std::pin::pin!(std::future::IntoFuture::into_future(server));
    let drain_deadline = async {
        if drain_started.await.is_ok() {
            tokio::time::sleep(deadlines.drain).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served?,
        () = drain_deadline => {
            tracing::warn!(drain_ms = deadlines.drain.as_millis(), "requests still in flight at the drain deadline");
        }
    }
    tracing::info!("stopped serving; flushing the producer");
    sink.flush(deadlines.flush).await?;
    Ok(())
}
