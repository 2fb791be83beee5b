//! The dashboard's static files, embedded in the binary: the bundle of `ingest-gateway/assets/src/dashboard.js`
//! with uPlot, and its stylesheet (built by `ingest-gateway/assets/build.mjs`, committed, checked to be
//! current by `node --test ingest-gateway/assets/test/`). Nothing is fetched from a CDN, so the page's
//! Content-Security-Policy can name only the gateway itself.

use std::sync::OnceLock;

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::DashboardError;

pub const DASHBOARD_JS: &[u8] = include_bytes!("../../assets/dist/dashboard.js");
pub const DASHBOARD_CSS: &[u8] = include_bytes!("../../assets/dist/dashboard.css");

/// (name, content type, bytes) of every file served under `/dashboard/assets/`.
const FILES: [(&str, &str, &[u8]); 2] = [
    ("dashboard.js", "text/javascript; charset=utf-8", DASHBOARD_JS),
    ("dashboard.css", "text/css; charset=utf-8", DASHBOARD_CSS),
];

/// A strong ETag per file, from its contents, computed once.
fn etags() -> &'static [String; 2] {
    static ETAGS: OnceLock<[String; 2]> = OnceLock::new();
    ETAGS.get_or_init(|| FILES.map(|(_, _, bytes)| format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..32])))
}

/// `GET /dashboard/assets/{file}`. Revalidated on every use (`no-cache` + ETag), so an upgraded gateway's
/// script is picked up at once and an unchanged one costs a 304; `private`, because only an authenticated
/// browser may hold it.
pub async fn asset(file: Result<Path<String>, PathRejection>, headers: HeaderMap) -> Result<Response, DashboardError> {
    let Ok(Path(file)) = file else { return Err(DashboardError::UnknownRoute) };
    let index = FILES.iter().position(|(name, _, _)| *name == file).ok_or(DashboardError::UnknownRoute)?;
    let (_, content_type, bytes) = FILES[index];
    let etag = &etags()[index];
    let cache = [
        (CACHE_CONTROL, HeaderValue::from_static("private, no-cache")),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (ETAG, HeaderValue::from_str(etag).map_err(|e| DashboardError::Internal(e.to_string()))?),
    ];
    let matches = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((StatusCode::OK, cache, [(CONTENT_TYPE, HeaderValue::from_static(content_type))], bytes).into_response())
}
