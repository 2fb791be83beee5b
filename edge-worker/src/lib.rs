//! Pathlight's edge worker: validates and enriches tracker events at `POST /track`, answers at once, and
//! forwards them to the Redpanda HTTP Proxy produce API after the response.
//!
//! Everything but [`shell`] is a pure core over plain types that compiles and is tested natively
//! (`cargo test -p edge-worker`); `shell` is the thin wasm32-only layer that touches the Workers runtime.

pub mod api;
pub mod config;
pub mod enrich;
pub mod forward;
pub mod handoff;
pub mod metrics;
pub mod script;
pub mod sites;

#[cfg(target_arch = "wasm32")]
mod shell;
