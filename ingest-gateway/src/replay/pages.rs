//! The replay's two pages, rendered on the server (maud escapes every value): the sessions list with its
//! filters, which needs no script at all, and the player, whose one script is the bundled rrweb-player
//! (`/replay/assets/player.js`), told what to play by data attributes.
//!
//! Both send a strict Content-Security-Policy naming only the gateway itself. The player's differs in two
//! ways, both needed by the replay: `script-src 'self'` for the bundle (no inline script anywhere), and
//! `style-src 'unsafe-inline'`, because a replayed page is rebuilt from its recorded `<style>` elements and
//! `style` attributes. The replayed page lives in rrweb's iframe, sandboxed with `allow-same-origin` only, so
//! its scripts never run (and the iframe, an `about:blank` document, inherits this policy on top).

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use maud::{html, Markup, DOCTYPE};

use super::api::{parse_filter, query_params, session_detail, session_path, LIST_PARAMS};
use super::completeness::Completeness;
use super::store::SessionSummary;
use super::{Replay, ReplayError};

/// The sessions page: forms and links only, no script, no inline style.
pub const SESSIONS_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The player page: see the module header for why it differs from [`SESSIONS_CSP`].
pub const PLAYER_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn page(csp: &'static str, markup: Markup) -> Response {
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp)),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (axum::http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn layout(title: &str, head: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Pathlight replay" }
                link rel="stylesheet" href="/replay/assets/replay.css";
                (head)
            }
            body { (body) }
        }
    }
}

/// `2026-01-01 09:30:05 UTC` from unix ms.
fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// `1 h 02 min`, `4 min 05 s`, `12 s`.
fn duration(ms: u64) -> String {
    let s = ms / 1_000;
    match (s / 3_600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn status_text(session: &SessionSummary) -> String {
    match session.status.parse::<Completeness>() {
        Ok(Completeness::Complete) => "complete".to_owned(),
        Ok(Completeness::Gaps) => format!("gaps ({} missing)", session.missing_seqs),
        Ok(Completeness::NoFinal) => "no final chunk".to_owned(),
        Err(_) => session.status.clone(),
    }
}

fn player_href(session: &SessionSummary) -> String {
    format!("/replay/sessions/{}/{}", session.site, session.session_id)
}

/// `GET /replay`: the sessions list, newest first, with the list API's filters as a GET form.
pub async fn sessions_page(
    State(replay): State<Arc<Replay>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ReplayError> {
    let params = query_params(query, LIST_PARAMS)?;
    let filter = parse_filter(&params)?;
    let sessions = replay.store.sessions(&filter).await?;
    let value = |name: &str| params.get(name).cloned().unwrap_or_default();
    let field = |name: &str, label: &str, kind: &str, placeholder: &str| {
        html! { label { (label) input type=(kind) name=(name) value=(value(name)) placeholder=(placeholder); } }
    };
    let body = html! {
        h1 { a href="/replay" { "Recorded sessions" } }
        form.filters method="get" action="/replay" {
            (field("site", "site", "text", "example.com"))
            (field("from", "started from", "text", "2026-01-01 or RFC 3339"))
            (field("to", "started before", "text", "2026-01-31"))
            (field("country", "country", "text", "DE"))
            (field("device", "device", "text", "pc, smartphone"))
            (field("min_duration_s", "min duration (s)", "number", ""))
            (field("max_duration_s", "max duration (s)", "number", ""))
            label {
                "completeness"
                select name="completeness" {
                    @for (option, text) in [("", "any"), ("complete", "complete"), ("gaps", "gaps"), ("no_final", "no final chunk")] {
                        option value=(option) selected[value("completeness") == option] { (text) }
                    }
                }
            }
            (field("limit", "limit", "number", "100"))
            button type="submit" { "Filter" }
        }
        @if sessions.is_empty() {
            p.empty { "No recorded session matches." }
        } @else {
            table {
                thead { tr {
                    th { "started" } th { "duration" } th { "site" } th { "entry page" } th { "pages" }
                    th { "country" } th { "device" } th { "browser" } th { "tabs" } th { "stored" } th { "completeness" }
                } }
                tbody {
                    @for session in &sessions {
                        tr {
                            td { a href=(player_href(session)) { (utc(session.started_ms)) } }
                            td { (duration(session.duration_ms)) }
                            td { (session.site) }
                            td.url { (session.entry_url) }
                            td { (session.pages) }
                            td { (session.country) }
                            td { (session.device) " · " (session.os) }
                            td { (session.browser) }
                            td { (session.tabs) }
                            td { (bytes(session.compressed_bytes)) }
                            td class=(format!("status-{}", session.status)) { (status_text(session)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(SESSIONS_CSP, layout("Recorded sessions", html! {}, body)))
}

/// `GET /replay/sessions/{site}/{session_id}[?tab=...]`: the session's metadata and completeness, and the
/// player on one tab's events (the first tab unless `tab` names another).
pub async fn player_page(
    State(replay): State<Arc<Replay>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ReplayError> {
    let (site, session_id) = session_path(path)?;
    let params = query_params(query, &["tab"])?;
    let detail = session_detail(&replay, &site, &session_id).await?;
    let current = match params.get("tab").filter(|tab| !tab.is_empty()) {
        Some(tab) => detail.tabs.iter().find(|t| &t.tab_id == tab).ok_or_else(|| ReplayError::InvalidParameter {
            parameter: "tab".to_owned(),
            reason: "is not a tab of this session".to_owned(),
        })?,
        None => detail
            .tabs
            .first()
            .ok_or_else(|| ReplayError::UnknownSession { site: site.clone(), session_id: session_id.clone() })?,
    };
    let here = format!("/replay/sessions/{site}/{session_id}");
    let events = format!("/replay/api/sessions/{site}/{session_id}/events?tab={}", current.tab_id);
    let session = &detail.session;
    let head = html! {
        link rel="stylesheet" href="/replay/assets/player.css";
        script src="/replay/assets/player.js" defer {}
    };
    let body = html! {
        h1 { a href="/replay" { "Recorded sessions" } " / " (session.site) " / " (session.session_id) }
        dl.meta {
            dt { "started" } dd { (utc(session.started_ms)) }
            dt { "duration" } dd { (duration(session.duration_ms)) }
            dt { "entry page" } dd { (session.entry_url) }
            dt { "pages" } dd { (session.pages) }
            dt { "visitor" } dd { (session.country) ", " (session.device) ", " (session.os) ", " (session.browser) }
            dt { "stored" } dd { (session.chunks) " chunks, " (bytes(session.compressed_bytes)) " (" (bytes(session.raw_bytes)) " uncompressed)" }
            dt { "completeness" } dd id="completeness" class=(format!("status-{}", session.status)) { (status_text(session)) }
        }
        @if detail.tabs.len() > 1 {
            p.tabs {
                "Tabs: "
                @for tab in &detail.tabs {
                    a class=[(tab.tab_id == current.tab_id).then_some("current")] href=(format!("{here}?tab={}", tab.tab_id)) { (tab.tab_id) }
                }
            }
        }
        @if !current.missing_seqs.is_empty() {
            p id="gaps" { "Missing chunks of this tab (sequence numbers): "
                (current.missing_seqs.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
                ". Playback resumes at the next full snapshot." }
        }
        @if !current.final_received {
            p { "The tab's final chunk has not arrived: the recording may end early." }
        }
        p id="player-status" { "Loading the recording…" }
        div id="player" data-events=(events) data-state="loading" {}
    };
    Ok(page(PLAYER_CSP, layout(&format!("Session {session_id}"), head, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(duration(12_400), "12 s");
        assert_eq!(duration(245_000), "4 min 05 s");
        assert_eq!(duration(3_725_000), "1 h 02 min");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1_536), "1.5 KiB");
        assert_eq!(utc(1_767_225_605_000), "2026-01-01 00:00:05 UTC");
    }

    #[test]
    fn neither_policy_allows_inline_scripts_or_other_origins() {
        for csp in [SESSIONS_CSP, PLAYER_CSP] {
            assert!(csp.starts_with("default-src 'none'"), "{csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap_or("");
            assert!(!scripts.contains("unsafe") && !scripts.contains("http"), "{csp}");
        }
    }
}
