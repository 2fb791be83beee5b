//! The replay pages' static files, embedded in the binary: the rrweb-player bundle (built from
//! `ingest-gateway/assets/src/player.js` by `ingest-gateway/assets/build.mjs`, committed, checked to be
//! current by `node --test ingest-gateway/assets/test/`) and the pages' stylesheet. Nothing is fetched from a
//! CDN, so the pages' Content-Security-Policy can name only the gateway itself.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;

use super::ReplayError;
use crate::static_files::{StaticFile, StaticFiles};

pub const PLAYER_JS: &[u8] = include_bytes!("../../assets/dist/player.js");
pub const PLAYER_CSS: &[u8] = include_bytes!("../../assets/dist/player.css");
pub const REPLAY_CSS: &[u8] = include_bytes!("../../assets/src/replay.css");

/// Every file served under `/replay/assets/`.
static FILES: StaticFiles = StaticFiles::new(&[
    StaticFile { name: "player.js", content_type: "text/javascript; charset=utf-8", bytes: PLAYER_JS },
    StaticFile { name: "player.css", content_type: "text/css; charset=utf-8", bytes: PLAYER_CSS },
    StaticFile { name: "replay.css", content_type: "text/css; charset=utf-8", bytes: REPLAY_CSS },
]);

/// `GET /replay/assets/{file}` (see `crate::static_files` for the caching).
pub async fn asset(file: Result<Path<String>, PathRejection>, headers: HeaderMap) -> Result<Response, ReplayError> {
    let Ok(Path(file)) = file else { return Err(ReplayError::UnknownRoute) };
    FILES.respond(&file, &headers).ok_or(ReplayError::UnknownRoute)
}
