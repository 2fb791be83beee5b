//! Session replay: the second half of the recording pipeline, served by the gateway because it already sits
//! next to ClickHouse. Recordings are sensitive, so nothing here answers without credentials, and nothing
//! here is served from anywhere but the gateway itself (the player is bundled into the binary).
//!
//! - [`chunk_row`]: what a record on the `session_recordings` topic must be before it may be produced
//!   (ClickHouse 18.16 stops consuming a topic at the first record it cannot load).
//! - [`store`]: where recordings are read from and deleted: ClickHouse (`recording_chunks`, the summary
//!   `recording_sessions`), or an in-memory fake for router tests.
//! - [`completeness`]: which sequence numbers of each tab are missing and whether its last chunk arrived.
//! - [`events`]: a session's chunks back into one ordered array of rrweb events.
//! - [`api`] and [`pages`]: `/replay/api/...` (JSON) and `/replay/...` (HTML, the player), behind [`access`].
//! - [`retention`]: deletes recordings older than the configured number of days.
//!
//! Routes, all under `/replay` and all authenticated (see `ingest-gateway/README.md`, "Replay"):
//!
//! ```text
//! GET    /replay                                          sessions page (filters, newest first)
//! GET    /replay/sessions/{site}/{session_id}             player page
//! GET    /replay/assets/{player.js,player.css,replay.css} the bundled rrweb-player and the page styles
//! GET    /replay/api/sessions                             the list, as JSON
//! GET    /replay/api/sessions/{site}/{session_id}         one session's metadata and completeness
//! GET    /replay/api/sessions/{site}/{session_id}/events  its rrweb events, in order
//! DELETE /replay/api/sessions/{site}/{session_id}         deletes its chunks and summary
//! ```

pub mod access;
pub mod api;
pub mod assets;
pub mod chunk_row;
pub mod completeness;
pub mod events;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod pages;
pub mod retention;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use clap::Args;

use crate::auth::{Credentials, Secret};
pub use access::ReplayAuth;
pub use api::ReplayError;
pub use store::{ClickHouseStore, RecordingStore};

/// The replay settings, read with the gateway's own (`ingest-gateway --help`).
#[derive(Debug, Clone, Args)]
pub struct ReplayConfig {
    /// Bearer token for the replay API and pages (`Authorization: Bearer <token>`). Without it and without
    /// REPLAY_USERNAME, replay is off and every /replay route answers 404.
    #[arg(long, env = "REPLAY_TOKEN", hide_env_values = true, global = true)]
    pub replay_token: Option<Secret>,

    /// With REPLAY_PASSWORD: HTTP Basic credentials for the replay pages (the browser asks for them) and API.
    #[arg(long, env = "REPLAY_USERNAME", global = true)]
    pub replay_username: Option<String>,

    /// Password for REPLAY_USERNAME.
    #[arg(long, env = "REPLAY_PASSWORD", hide_env_values = true, global = true)]
    pub replay_password: Option<Secret>,

    /// `ingest-gateway retention` deletes recordings received more than this many days ago (whole UTC
    /// days: everything before midnight UTC of today minus this many days).
    #[arg(long, env = "RECORDING_RETENTION_DAYS", default_value_t = 30, global = true)]
    pub recording_retention_days: u32,

    /// How long `DELETE /replay/api/sessions/...` waits for ClickHouse to finish deleting, in milliseconds,
    /// before it answers 202 (deletion continues in the background) instead of 200.
    #[arg(long, env = "REPLAY_DELETE_WAIT_MS", default_value_t = 10_000, global = true)]
    pub replay_delete_wait_ms: u64,
}

impl ReplayConfig {
    /// The replay credentials' settings.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials {
            prefix: "REPLAY",
            token: self.replay_token.as_ref(),
            username: self.replay_username.as_deref(),
            password: self.replay_password.as_ref(),
        }
    }

    /// The replay credentials; `None` when none are configured (replay off). Refuses incomplete ones.
    pub fn auth(&self) -> Result<Option<ReplayAuth>, String> {
        ReplayAuth::from_credentials(self.credentials()).map_err(|error| error.to_string())
    }

    pub fn validate(&self) -> Result<(), String> {
        self.auth()?;
        if self.recording_retention_days == 0 {
            return Err("RECORDING_RETENTION_DAYS (--recording-retention-days) must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// What the replay routes share.
pub struct Replay {
    pub auth: ReplayAuth,
    pub store: Arc<dyn RecordingStore>,
}

impl Replay {
    pub fn new(auth: ReplayAuth, store: Arc<dyn RecordingStore>) -> Self {
        Self { auth, store }
    }

    /// Replay on ClickHouse, or `None` (off) when no credentials are configured.
    pub fn from_config(config: &ReplayConfig, client: clickhouse::Client) -> Result<Option<Self>, String> {
        let wait = Duration::from_millis(config.replay_delete_wait_ms);
        Ok(config.auth()?.map(|auth| Self::new(auth, Arc::new(ClickHouseStore::new(client, wait)))))
    }
}

/// The `/replay` routes for any outer state: with `replay` off, each of them answers 404 saying how to turn
/// it on (rather than the gateway's generic unknown-route answer).
pub fn router<S: Clone + Send + Sync + 'static>(replay: Option<Arc<Replay>>) -> Router<S> {
    let Some(replay) = replay else {
        return Router::new()
            .route("/replay", get(api::not_enabled))
            .route("/replay/{*rest}", axum::routing::any(api::not_enabled));
    };
    Router::new()
        .route("/replay", get(pages::sessions_page))
        .route("/replay/sessions/{site}/{session_id}", get(pages::player_page))
        .route("/replay/assets/{file}", get(assets::asset))
        .route("/replay/api/sessions", get(api::list_sessions))
        .route("/replay/api/sessions/{site}/{session_id}", get(api::session).delete(api::delete_session))
        .route("/replay/api/sessions/{site}/{session_id}/events", get(api::session_events))
        .route("/replay/{*rest}", axum::routing::any(api::unknown_route))
        .layer(axum::middleware::from_fn_with_state(replay.clone(), access::require_credentials))
        .with_state(replay)
}
