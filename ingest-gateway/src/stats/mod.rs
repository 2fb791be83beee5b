//! Web analytics: the stats API (`/api/v1/stats/...`) and `ingest-gateway stats`, read from the rollups
//! that `sql/010`-`021` keep from the ingested events (see sql/README.md, "Analytics rollups").
//!
//! - [`query`]: which table answers a question (rollup or raw events) and the bound queries.
//! - [`daily`]: whole-day questions from the finalized daily rows, merged with the states for other days.
//! - [`rollup`]: writes those daily rows (`ingest-gateway rollup`, and a timer in the server).
//! - [`api`]: the routes, their parameters and answers, behind their own read-only credentials.
//! - [`cli`]: `ingest-gateway stats ...`, the same answers as tables.
//! - [`conditional`]: `ETag` on every answer and `304 Not Modified` for `If-None-Match`, for live pages.
//!
//! Routes, all authenticated (`STATS_TOKEN`, or `STATS_USERNAME` and `STATS_PASSWORD`):
//!
//! ```text
//! GET /api/v1/stats/aggregate   site, from, to, filters                      the headline numbers
//! GET /api/v1/stats/timeseries  site, from, to, interval (minute|hour|day), filters  the same per bucket
//! GET /api/v1/stats/breakdown   site, from, to, property, filters, limit      top values of a property
//! GET /api/v1/stats/realtime    site                                          visitors of the last 5 minutes
//! ```

/// A query template of `sql/queries/` (see [`analytics_model::Template`]), parsed when first used; every one
/// is parsed by the tests of the module that uses it.
macro_rules! template {
    ($file:literal) => {
        std::sync::LazyLock::new(|| {
            analytics_model::Template::parse(include_str!(concat!("../../../sql/queries/", $file))).expect(concat!(
                "sql/queries/",
                $file,
                " is a valid template"
            ))
        })
    };
}

pub mod api;
pub mod cli;
pub mod conditional;
pub mod daily;
pub mod query;
pub mod rollup;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use clap::Args;

use crate::auth::{Auth, Credentials, Secret};
pub use api::StatsError;

/// The stats settings, read with the gateway's own (`ingest-gateway --help`).
#[derive(Debug, Clone, Args)]
pub struct StatsConfig {
    /// Bearer token for the stats API (`Authorization: Bearer <token>`), read-only. Without it and without
    /// STATS_USERNAME, the stats API is off and its routes answer 404.
    #[arg(long, env = "STATS_TOKEN", hide_env_values = true, global = true)]
    pub stats_token: Option<Secret>,

    /// With STATS_PASSWORD: HTTP Basic credentials for the stats API.
    #[arg(long, env = "STATS_USERNAME", global = true)]
    pub stats_username: Option<String>,

    /// Password for STATS_USERNAME.
    #[arg(long, env = "STATS_PASSWORD", hide_env_values = true, global = true)]
    pub stats_password: Option<Secret>,

    /// Seconds between the server's runs of the stats rollup (the days of the late window that received
    /// events since their last run, see `ingest-gateway rollup`), whether or not the stats API is on (Grafana
    /// and `ingest-gateway stats` read the daily rows too); 0 turns the timer off. A run over days without
    /// new events costs two small reads.
    #[arg(long, env = "STATS_ROLLUP_INTERVAL_S", default_value_t = rollup::DEFAULT_INTERVAL_S, global = true)]
    pub stats_rollup_interval_s: u32,

    /// Seconds after a UTC day's end during which its events may still arrive; a rollup run writes such a
    /// day again when events of it arrived, and closes it once they have passed. Keep it above the edge
    /// queue's QUEUE_MAX_AGE_S.
    #[arg(long, env = "STATS_ROLLUP_LATE_S", default_value_t = rollup::DEFAULT_LATE_S, global = true)]
    pub stats_rollup_late_s: u32,

    /// Seconds a day's last event must have arrived before a rollup run for that run's rows to answer
    /// reports (and before a timed run writes the day); until then the day is read from the live rollups.
    /// Longer than an insert takes; longer also delays the daily rows of a day that stopped receiving events.
    #[arg(long, env = "STATS_ROLLUP_SETTLE_S", default_value_t = daily::DEFAULT_SETTLE_S, global = true)]
    pub stats_rollup_settle_s: u32,

    /// Longest a stats query may run, in seconds (ClickHouse `max_execution_time`); a report that needs more
    /// is refused with 503 `query_over_budget` instead of answering late.
    #[arg(long, env = "STATS_QUERY_TIMEOUT_S", default_value_t = DEFAULT_QUERY_TIMEOUT_S, global = true)]
    pub stats_query_timeout_s: u32,

    /// Most memory one stats query may use, in bytes (ClickHouse `max_memory_usage`); past it the report is
    /// refused with 503 `query_over_budget`, and the server's other work keeps its memory.
    #[arg(long, env = "STATS_QUERY_MAX_MEMORY_BYTES", default_value_t = DEFAULT_QUERY_MAX_MEMORY_BYTES, global = true)]
    pub stats_query_max_memory_bytes: u64,
}

/// See [`StatsConfig::stats_query_timeout_s`]: a dashboard waits no longer than this for a number.
pub const DEFAULT_QUERY_TIMEOUT_S: u32 = 10;
/// See [`StatsConfig::stats_query_max_memory_bytes`]: 2 GiB, a twelfth of the machines this is measured on.
pub const DEFAULT_QUERY_MAX_MEMORY_BYTES: u64 = 2 << 30;

impl StatsConfig {
    /// Which daily rows answer reports, for the server and `ingest-gateway stats` alike.
    pub fn freshness(&self) -> daily::Freshness {
        daily::Freshness { settle_s: self.stats_rollup_settle_s, ..daily::Freshness::default() }
    }

    /// The stats credentials' settings.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials {
            prefix: "STATS",
            token: self.stats_token.as_ref(),
            username: self.stats_username.as_deref(),
            password: self.stats_password.as_ref(),
        }
    }

    /// The stats credentials; `None` when none are configured (the API is off). Refuses incomplete ones,
    /// naming the variable, and a zero query budget. They are separate from the produce clients' and
    /// replay's: reading reports is neither writing events nor watching recordings.
    pub fn auth(&self) -> Result<Option<Auth>, String> {
        if self.stats_query_timeout_s == 0 || self.stats_query_max_memory_bytes == 0 {
            return Err("STATS_QUERY_TIMEOUT_S and STATS_QUERY_MAX_MEMORY_BYTES must be above 0".to_owned());
        }
        self.credentials().auth("stats").map_err(|error| error.to_string())
    }
}

/// What the stats routes share. The clock is injected so that tests of "the last 5 minutes" are exact.
pub struct Stats {
    pub auth: Auth,
    pub client: clickhouse::Client,
    pub now: Arc<dyn Fn() -> u32 + Send + Sync>,
    /// Which daily rows answer: [`StatsConfig::freshness`].
    pub freshness: daily::Freshness,
}

impl Stats {
    pub fn new(auth: Auth, client: clickhouse::Client) -> Self {
        Self { auth, client, now: Arc::new(now_unix), freshness: daily::Freshness::default() }
    }

    pub fn with_clock(mut self, now: impl Fn() -> u32 + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    /// The API on ClickHouse, or `None` (off) when no credentials are configured. Every query it sends
    /// carries the configured budget.
    pub fn from_config(config: &StatsConfig, client: clickhouse::Client) -> Result<Option<Self>, String> {
        let client = budgeted(client, config.stats_query_timeout_s, config.stats_query_max_memory_bytes);
        Ok(config.auth()?.map(|auth| Self { freshness: config.freshness(), ..Self::new(auth, client) }))
    }

    fn check(&self, headers: &axum::http::HeaderMap) -> Result<(), StatsError> {
        self.auth.check(headers).map(drop).map_err(|error| StatsError::Credentials(error.into()))
    }
}

/// `client` with a stats query's budget: ClickHouse stops a query past `timeout_s` seconds or
/// `max_memory_bytes` bytes with an error (`timeout_overflow_mode` is `throw`, so a late answer is never a
/// partial one), which the API answers as 503 `query_over_budget`.
pub fn budgeted(client: clickhouse::Client, timeout_s: u32, max_memory_bytes: u64) -> clickhouse::Client {
    client
        .with_setting("max_execution_time", timeout_s.to_string())
        .with_setting("timeout_overflow_mode", "throw")
        .with_setting("max_memory_usage", max_memory_bytes.to_string())
}

fn now_unix() -> u32 {
    let seconds =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// The `/api/v1/stats` routes for any outer state: with stats off, each answers 404 saying how to turn it on.
pub fn router<S: Clone + Send + Sync + 'static>(stats: Option<Arc<Stats>>) -> Router<S> {
    let Some(stats) = stats else {
        return Router::new().route("/api/v1/stats/{*rest}", axum::routing::any(api::not_enabled));
    };
    Router::new()
        .route("/api/v1/stats/aggregate", get(api::aggregate))
        .route("/api/v1/stats/timeseries", get(api::timeseries))
        .route("/api/v1/stats/breakdown", get(api::breakdown))
        .route("/api/v1/stats/realtime", get(api::realtime))
        .route("/api/v1/stats/{*rest}", axum::routing::any(api::unknown_route))
        .layer(axum::middleware::from_fn(conditional::not_modified))
        .layer(axum::middleware::from_fn_with_state(stats.clone(), require_credentials))
        .with_state(stats)
}

async fn require_credentials(
    axum::extract::State(stats): axum::extract::State<Arc<Stats>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match stats.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token: Option<&str>, user: Option<&str>, password: Option<&str>) -> StatsConfig {
        StatsConfig {
            stats_token: token.map(Secret::new),
            stats_username: user.map(str::to_owned),
            stats_password: password.map(Secret::new),
            stats_rollup_interval_s: rollup::DEFAULT_INTERVAL_S,
            stats_rollup_late_s: rollup::DEFAULT_LATE_S,
            stats_rollup_settle_s: daily::DEFAULT_SETTLE_S,
            stats_query_timeout_s: DEFAULT_QUERY_TIMEOUT_S,
            stats_query_max_memory_bytes: DEFAULT_QUERY_MAX_MEMORY_BYTES,
        }
    }

    #[test]
    fn no_setting_means_stats_are_off_and_half_a_setting_is_refused_by_name() {
        assert!(config(None, None, None).auth().expect("valid").is_none());
        assert!(config(Some("t"), None, None).auth().expect("valid").is_some());
        assert!(config(None, Some("a"), None).auth().expect_err("refused").contains("STATS_PASSWORD"));
        assert!(config(Some(""), None, None).auth().expect_err("refused").contains("STATS_TOKEN"));
    }
}
