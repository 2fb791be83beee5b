//! The analytics dashboard: one page (`GET /dashboard`) that shows the stats API's answers as numbers, a
//! chart and breakdown tables. The page itself carries no data: its one script (bundled from
//! `ingest-gateway/assets/src/dashboard.js`, uPlot included, embedded here) reads the view from the query
//! string and asks `/api/v1/stats/...` for it. So the dashboard can show nothing the API would not, and it
//! sits behind the same credentials: the stats API's (`STATS_USERNAME`/`STATS_PASSWORD`, or `STATS_TOKEN`),
//! checked on the page and on its assets alike.
//!
//! The 401 challenges name the stats API's realm, so a browser that was asked for the credentials once, on
//! the page, sends them with the script's API requests too.
//!
//! - [`page`]: the HTML shell and its Content-Security-Policy.
//! - [`assets`]: the embedded script and stylesheet.
//!
//! ```text
//! GET /dashboard                                          the page (site, period, from, to, filters in the query)
//! GET /dashboard/assets/{dashboard.js,dashboard.css}      the bundled script and styles
//! ```

pub mod assets;
pub mod page;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::read_api::{refusal, Area, CredentialsRefusal};
use crate::stats::Stats;

/// Every way a dashboard request fails, with its status and label.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(name(DashboardErrorKind), vis(pub))]
#[strum_discriminants(derive(Hash, strum::IntoStaticStr, strum::EnumIter))]
#[strum_discriminants(strum(serialize_all = "snake_case"))]
pub enum DashboardError {
    #[error("the dashboard reads the stats API, which is not enabled on this gateway: set STATS_TOKEN, or STATS_USERNAME and STATS_PASSWORD")]
    NotEnabled,
    #[error(transparent)]
    Credentials(#[from] CredentialsRefusal),
    #[error(
        "no such dashboard route; known: /dashboard, /dashboard/assets/dashboard.js, /dashboard/assets/dashboard.css"
    )]
    UnknownRoute,
    #[error("the dashboard failed: {0}")]
    Internal(String),
}

impl DashboardError {
    pub fn kind(&self) -> DashboardErrorKind {
        self.into()
    }

    /// The `error` of the JSON answer: the kind's name, or for refused credentials which refusal.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Credentials(refusal) => refusal.into(),
            other => other.kind().into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotEnabled | Self::UnknownRoute => StatusCode::NOT_FOUND,
            Self::Credentials(_) => StatusCode::UNAUTHORIZED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The stats API's realm: credentials a browser gives for the page are reused for the API it calls.
const AREA: Area =
    Area { name: "dashboard", challenges: [r#"Basic realm="Pathlight stats""#, r#"Bearer realm="Pathlight stats""#] };

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        refusal(&AREA, self.status(), self.label(), self.to_string(), None)
    }
}

async fn not_enabled() -> DashboardError {
    DashboardError::NotEnabled
}

async fn unknown_route() -> DashboardError {
    DashboardError::UnknownRoute
}

/// The `/dashboard` routes for any outer state: with the stats API off, each answers 404 saying how to turn
/// it on.
pub fn router<S: Clone + Send + Sync + 'static>(stats: Option<Arc<Stats>>) -> Router<S> {
    let Some(stats) = stats else {
        return Router::new()
            .route("/dashboard", axum::routing::any(not_enabled))
            .route("/dashboard/{*rest}", axum::routing::any(not_enabled));
    };
    Router::new()
        .route("/dashboard", get(page::dashboard_page))
        .route("/dashboard/assets/{file}", get(assets::asset))
        .route("/dashboard/{*rest}", axum::routing::any(unknown_route))
        .layer(axum::middleware::from_fn_with_state(stats, require_credentials))
}

/// In front of every dashboard route, assets included: with the stats API's own credentials.
async fn require_credentials(State(stats): State<Arc<Stats>>, request: Request, next: Next) -> Response {
    match stats.auth.check(request.headers()) {
        Ok(_) => next.run(request).await,
        Err(error) => DashboardError::Credentials(error.into()).into_response(),
    }
}

#[cfg(test)]
mod tests;
