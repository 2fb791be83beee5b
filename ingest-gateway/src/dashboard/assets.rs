//! The dashboard's static files, embedded in the binary: the bundle of `ingest-gateway/assets/src/dashboard.js`
//! with uPlot, and its stylesheet (built by `ingest-gateway/assets/build.mjs`, committed, checked to be
//! current by `node --test ingest-gateway/assets/test/`). Nothing is fetched from a CDN, so the page's
//! Content-Security-Policy can name only the gateway itself.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;

use super::DashboardError;
use crate::static_files::{StaticFile, StaticFiles};

pub const DASHBOARD_JS: &[u8] = include_bytes!("../../assets/dist/dashboard.js");
pub const DASHBOARD_CSS: &[u8] = include_bytes!("../../assets/dist/dashboard.css");

/// Every file served under `/dashboard/assets/`.
static FILES: StaticFiles = StaticFiles::new(&[
    StaticFile { name: "dashboard.js", content_type: "text/javascript; charset=utf-8", bytes: DASHBOARD_JS },
    StaticFile { name: "dashboard.css", content_type: "text/css; charset=utf-8", bytes: DASHBOARD_CSS },
]);

/// `GET /dashboard/assets/{file}` (see `crate::static_files` for the caching).
pub async fn asset(file: Result<Path<String>, PathRejection>, headers: HeaderMap) -> Result<Response, DashboardError> {
    let Ok(Path(file)) = file else { return Err(DashboardError::UnknownRoute) };
    FILES.respond(&file, &headers).ok_or(DashboardError::UnknownRoute)
}
