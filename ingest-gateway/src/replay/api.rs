//! `/replay/api/...`: the sessions list, one session's metadata and completeness, its events, and its
//! deletion, as JSON. Every parameter is checked before anything is asked of ClickHouse; a bad one is a 400
//! naming it (`{"error": "invalid_parameter", "parameter": "from", "message": ...}`), never a 5xx.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use serde_json::json;

use super::chunk_row::{is_client_id, is_site};
use super::completeness::{session_status, Completeness, TabCompleteness};
use super::events::{self, MergeError};
use super::store::{Deletion, SessionFilter, SessionSummary, StoreError};
use super::Replay;
use crate::read_api::{refusal, Area, CredentialsRefusal};
use crate::report::parse_instant;

/// Most sessions one list request returns.
pub const MAX_LIMIT: u32 = 1_000;
/// Default number of sessions in a list.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest inflated size of one events response, in bytes.
pub const MAX_EVENTS_BYTES: usize = 256 * 1024 * 1024;

/// Every way a replay request fails, with its status and label.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(name(ReplayErrorKind), vis(pub))]
#[strum_discriminants(derive(Hash, strum::IntoStaticStr, strum::EnumIter))]
#[strum_discriminants(strum(serialize_all = "snake_case"))]
pub enum ReplayError {
    #[error("replay is not enabled on this gateway: set REPLAY_TOKEN, or REPLAY_USERNAME and REPLAY_PASSWORD")]
    NotEnabled,
    #[error(transparent)]
    Credentials(#[from] CredentialsRefusal),
    #[error("no such replay route")]
    UnknownRoute,
    #[error("parameter {parameter}: {reason}")]
    InvalidParameter { parameter: String, reason: String },
    #[error("no recording of session {session_id} on site {site}")]
    UnknownSession { site: String, session_id: String },
    #[error("{0}; ask for one tab at a time with ?tab=")]
    TooLarge(MergeError),
    #[error("the recordings cannot be read now: {0}")]
    StoreUnavailable(#[from] StoreError),
    #[error("the events could not be prepared: {0}")]
    Internal(String),
}

impl ReplayError {
    fn invalid(parameter: &str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter { parameter: parameter.to_owned(), reason: reason.into() }
    }

    pub fn kind(&self) -> ReplayErrorKind {
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
            Self::NotEnabled | Self::UnknownRoute | Self::UnknownSession { .. } => StatusCode::NOT_FOUND,
            Self::Credentials(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

const AREA: Area = Area {
    name: "replay",
    challenges: [r#"Basic realm="Pathlight replay", charset="UTF-8""#, r#"Bearer realm="Pathlight replay""#],
};

impl IntoResponse for ReplayError {
    fn into_response(self) -> Response {
        let parameter = match &self {
            Self::InvalidParameter { parameter, .. } => Some(parameter.to_string()),
            _ => None,
        };
        let mut response = refusal(&AREA, self.status(), self.label(), self.to_string(), parameter.as_deref());
        for (name, value) in private_headers() {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// Headers of every replay response but the pages: nothing is cached or framed, nothing sniffed.
pub fn private_headers() -> [(axum::http::HeaderName, HeaderValue); 5] {
    use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
    [
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")),
        (axum::http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
}

fn json_headers() -> impl axum::response::IntoResponseParts {
    let [a, b, c, d, e] = private_headers();
    ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], [a, b, c, d, e])
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, json_headers(), bytes).into_response(),
        Err(error) => ReplayError::Internal(error.to_string()).into_response(),
    }
}

pub async fn not_enabled() -> ReplayError {
    ReplayError::NotEnabled
}

pub async fn unknown_route() -> ReplayError {
    ReplayError::UnknownRoute
}

/// The query string as name -> value, refusing names not in `known` and names given twice.
pub fn query_params(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[&str],
) -> Result<HashMap<String, String>, ReplayError> {
    let Query(pairs) = query.map_err(|rejection| ReplayError::invalid("query", rejection.body_text()))?;
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if !known.contains(&name.as_str()) {
            return Err(ReplayError::invalid(&name, format!("unknown parameter; known: {}", known.join(", "))));
        }
        if params.insert(name.clone(), value).is_some() {
            return Err(ReplayError::invalid(&name, "is given more than once"));
        }
    }
    Ok(params)
}

pub const LIST_PARAMS: &[&str] =
    &["site", "from", "to", "country", "device", "min_duration_s", "max_duration_s", "completeness", "limit"];

/// The list's filter from its parameters; an empty value means "not given" (what an empty form field sends).
pub fn parse_filter(params: &HashMap<String, String>) -> Result<SessionFilter, ReplayError> {
    let given = |name: &str| params.get(name).map(|value| value.trim()).filter(|value| !value.is_empty());
    let mut filter = SessionFilter { limit: DEFAULT_LIMIT, ..SessionFilter::default() };
    if let Some(site) = given("site") {
        if !is_site(site) {
            return Err(ReplayError::invalid("site", "must be 1 to 100 characters from [A-Za-z0-9._-]"));
        }
        filter.site = Some(site.to_owned());
    }
    filter.from_ms = given("from").map(|text| parse_bound("from", text, false)).transpose()?.unwrap_or(0);
    filter.to_ms = given("to").map(|text| parse_bound("to", text, true)).transpose()?.unwrap_or(u64::MAX);
    if filter.from_ms >= filter.to_ms {
        return Err(ReplayError::invalid("to", "must be after from"));
    }
    if let Some(country) = given("country") {
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(ReplayError::invalid("country", "must be a two-letter ISO 3166-1 code, e.g. DE"));
        }
        filter.country = Some(country.to_ascii_uppercase());
    }
    if let Some(device) = given("device") {
        if device.len() > 32 || !device.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ReplayError::invalid("device", "must be a device category such as pc or smartphone"));
        }
        filter.device = Some(device.to_owned());
    }
    let seconds = |name: &str| -> Result<Option<u64>, ReplayError> {
        given(name)
            .map(|text| {
                text.parse::<u64>()
                    .ok()
                    .and_then(|s| s.checked_mul(1_000))
                    .ok_or_else(|| ReplayError::invalid(name, "must be a whole number of seconds"))
            })
            .transpose()
    };
    filter.min_duration_ms = seconds("min_duration_s")?.unwrap_or(0);
    filter.max_duration_ms = seconds("max_duration_s")?.unwrap_or(u64::MAX);
    if filter.min_duration_ms > filter.max_duration_ms {
        return Err(ReplayError::invalid("max_duration_s", "must not be below min_duration_s"));
    }
    if let Some(status) = given("completeness") {
        let status = status
            .parse::<Completeness>()
            .map_err(|_| ReplayError::invalid("completeness", "must be complete, gaps or no_final"))?;
        filter.status = Some(status);
    }
    if let Some(limit) = given("limit") {
        filter.limit =
            limit.parse::<u32>().ok().filter(|limit| (1..=MAX_LIMIT).contains(limit)).ok_or_else(|| {
                ReplayError::invalid("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))
            })?;
    }
    Ok(filter)
}

/// An instant in unix ms from unix seconds, RFC 3339, or a plain UTC date (`2026-01-31`, what a date field
/// sends): the start of that day, or for an end bound (`end_of_day`) the start of the next, so that the day
/// itself is included.
fn parse_bound(name: &str, text: &str, end_of_day: bool) -> Result<u64, ReplayError> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end_of_day { date.succ_opt() } else { Some(date) };
        let seconds = day.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp());
        return seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(|s| s * 1_000)
            .ok_or_else(|| ReplayError::invalid(name, "must be a date from 1970 on"));
    }
    let seconds = parse_instant(text).map_err(|reason| ReplayError::invalid(name, reason))?;
    Ok(u64::from(seconds) * 1_000)
}

/// `{site}/{session_id}` of a session route, checked.
pub fn session_path(path: Result<Path<(String, String)>, PathRejection>) -> Result<(String, String), ReplayError> {
    let Path((site, session_id)) = path.map_err(|rejection| ReplayError::invalid("path", rejection.body_text()))?;
    if !is_site(&site) {
        return Err(ReplayError::invalid("site", "must be 1 to 100 characters from [A-Za-z0-9._-]"));
    }
    if !is_client_id(&session_id) {
        return Err(ReplayError::invalid("session_id", "must be 8 to 64 characters from [A-Za-z0-9_-]"));
    }
    Ok((site, session_id))
}

#[derive(Serialize)]
struct SessionList<'a> {
    sessions: &'a [SessionSummary],
}

pub async fn list_sessions(
    State(replay): State<Arc<Replay>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ReplayError> {
    let filter = parse_filter(&query_params(query, LIST_PARAMS)?)?;
    let sessions = replay.store.sessions(&filter).await?;
    Ok(json_response(StatusCode::OK, &SessionList { sessions: &sessions }))
}

/// One session's metadata and, per tab, what is missing.
#[derive(Debug, Clone, Serialize)]
pub struct SessionDetail {
    pub session: SessionSummary,
    pub completeness: Completeness,
    pub tabs: Vec<TabCompleteness>,
}

/// The session's summary and per-tab completeness; `UnknownSession` when nothing of it is stored.
pub async fn session_detail(replay: &Replay, site: &str, session_id: &str) -> Result<SessionDetail, ReplayError> {
    let unknown = || ReplayError::UnknownSession { site: site.to_owned(), session_id: session_id.to_owned() };
    let filter = SessionFilter::one_session(site, session_id);
    let summary = replay.store.sessions(&filter).await?.into_iter().next().ok_or_else(unknown)?;
    let tabs: Vec<TabCompleteness> = replay
        .store
        .tabs(site, session_id)
        .await?
        .iter()
        .map(|tab| TabCompleteness::from_keys(&tab.tab_id, &tab.keys()))
        .collect();
    if tabs.is_empty() {
        return Err(unknown());
    }
    Ok(SessionDetail { completeness: session_status(&tabs), session: summary, tabs })
}

pub async fn session(
    State(replay): State<Arc<Replay>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ReplayError> {
    let (site, session_id) = session_path(path)?;
    query_params(query, &[])?;
    let detail = session_detail(&replay, &site, &session_id).await?;
    Ok(json_response(StatusCode::OK, &detail))
}

/// The session's events as one JSON array; gzip-encoded when the client accepts it.
pub async fn session_events(
    State(replay): State<Arc<Replay>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ReplayError> {
    let (site, session_id) = session_path(path)?;
    let params = query_params(query, &["tab"])?;
    let tab = params.get("tab").map(String::as_str).filter(|tab| !tab.is_empty());
    if tab.is_some_and(|tab| !is_client_id(tab)) {
        return Err(ReplayError::invalid("tab", "must be 8 to 64 characters from [A-Za-z0-9_-]"));
    }
    let chunks = replay.store.chunks(&site, &session_id, tab).await?;
    if chunks.is_empty() {
        let session_id = match tab {
            Some(tab) => format!("{session_id} (tab {tab})"),
            None => session_id,
        };
        return Err(ReplayError::UnknownSession { site, session_id });
    }
    let gzip = accepts_gzip(&headers);
    // Inflating and parsing a whole session is CPU work; keep it off the async workers.
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, ReplayError> {
        let mut merged = events::merge(chunks, MAX_EVENTS_BYTES).map_err(ReplayError::TooLarge)?;
        let body = if gzip {
            let mut encoder = GzEncoder::new(Vec::with_capacity(merged.json.len() / 8), Compression::fast());
            encoder
                .write_all(&merged.json)
                .and_then(|()| encoder.finish())
                .map_err(|e| ReplayError::Internal(e.to_string()))?
        } else {
            std::mem::take(&mut merged.json)
        };
        Ok((merged, body))
    })
    .await
    .map_err(|error| ReplayError::Internal(error.to_string()))??;
    let (merged, body) = prepared;
    let mut response = (StatusCode::OK, json_headers(), body).into_response();
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert("pathlight-events", HeaderValue::from(merged.events));
    headers.insert("pathlight-incomplete-sequences", HeaderValue::from(merged.incomplete_seqs));
    headers.insert("pathlight-unreadable-chunks", HeaderValue::from(merged.unreadable_chunks));
    Ok(response)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT_ENCODING).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').any(|coding| {
            let mut fields = coding.split(';').map(str::trim);
            let name = fields.next().unwrap_or("");
            let refused = fields.any(|param| param.replace(' ', "") == "q=0" || param.replace(' ', "") == "q=0.0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

pub async fn delete_session(
    State(replay): State<Arc<Replay>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ReplayError> {
    let (site, session_id) = session_path(path)?;
    query_params(query, &[])?;
    let Some(deletion) = replay.store.delete(&site, &session_id).await? else {
        return Err(ReplayError::UnknownSession { site, session_id });
    };
    tracing::info!(%site, %session_id, outcome = ?deletion, "deleted a recorded session");
    let (status, state) = match deletion {
        Deletion::Done => (StatusCode::OK, "deleted"),
        Deletion::Pending => (StatusCode::ACCEPTED, "deleting"),
    };
    Ok(json_response(status, &json!({"site": site, "session_id": session_id, "status": state})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn refused_parameter(pairs: &[(&str, &str)]) -> String {
        match parse_filter(&params(pairs)) {
            Err(ReplayError::InvalidParameter { parameter, .. }) => parameter,
            other => panic!("expected a refusal for {pairs:?}, got {other:?}"),
        }
    }

    #[test]
    fn the_list_filter_reads_every_parameter() {
        let filter = parse_filter(&params(&[
            ("site", "example.com"),
            ("from", "2026-01-01T00:00:00Z"),
            ("to", "1767312000"),
            ("country", "de"),
            ("device", "smartphone"),
            ("min_duration_s", "10"),
            ("max_duration_s", "600"),
            ("completeness", "no_final"),
            ("limit", "5"),
        ]))
        .expect("valid");
        assert_eq!(
            filter,
            SessionFilter {
                site: Some("example.com".into()),
                session_id: None,
                from_ms: 1_767_225_600_000,
                to_ms: 1_767_312_000_000,
                country: Some("DE".into()),
                device: Some("smartphone".into()),
                min_duration_ms: 10_000,
                max_duration_ms: 600_000,
                status: Some(Completeness::NoFinal),
                limit: 5,
            }
        );
        assert_eq!(parse_filter(&params(&[("site", ""), ("country", " ")])).expect("valid"), SessionFilter::default());
        let days = parse_filter(&params(&[("from", "2026-01-01"), ("to", "2026-01-01")])).expect("valid");
        assert_eq!((days.from_ms, days.to_ms), (1_767_225_600_000, 1_767_312_000_000), "a whole day");
    }

    #[test]
    fn every_bad_list_parameter_is_named() {
        for (name, value) in [
            ("site", "a b"),
            ("from", "yesterday"),
            ("from", "2026-02-30"),
            ("to", "-5"),
            ("country", "DEU"),
            ("device", "pc'; DROP TABLE x"),
            ("min_duration_s", "1.5"),
            ("max_duration_s", "99999999999999999999"),
            ("completeness", "partial"),
            ("limit", "0"),
            ("limit", "1001"),
        ] {
            assert_eq!(refused_parameter(&[(name, value)]), name, "{name}={value}");
        }
        assert_eq!(refused_parameter(&[("from", "1767312000"), ("to", "1767225600")]), "to");
        assert_eq!(refused_parameter(&[("min_duration_s", "60"), ("max_duration_s", "10")]), "max_duration_s");
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT_ENCODING, value.parse().expect("header"));
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
