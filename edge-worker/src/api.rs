//! What each route answers, as plain functions from request facts to a [`Reply`].
//!
//! The wasm shell extracts headers, `request.cf` and the body, calls one function here, and turns the
//! [`Reply`] into a `worker::Response`; so every status code, header and counter is decided (and tested)
//! natively. Client garbage of any kind ends in a 4xx JSON [`ErrorBody`], never a panic or a 5xx.

use std::future::Future;

use event_schema::{parse_batch, parse_chunk, ErrorBody, Limits, RecordLimits, StoredEvent, TrackError};
use serde_json::json;

use crate::config::{Config, ConfigError};
use crate::enrich::{enrich, enrich_chunk, read_user_agent, Visitor};
use crate::handoff::Handoff;
use crate::metrics::{Counters, Tally};
use crate::script::{self, Asset};
use crate::sites::SiteDecision;

/// An HTTP response in plain types.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".to_owned()), ("cache-control", "no-store".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Every way a request can be refused. [`ApiError::status`] is the one place a variant meets its status code;
/// its `error` code is the variant's name in snake case (`ApiErrorKind`, derived), or the [`TrackError`]'s own.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(ApiErrorKind),
    derive(strum::EnumIter, strum::EnumCount, strum::IntoStaticStr),
    strum(serialize_all = "snake_case")
)]
pub enum ApiError {
    #[error("Content-Type {given:?} is not accepted here; send {accepted}")]
    UnsupportedMediaType { given: String, accepted: &'static str },
    #[error("the body exceeds {max_body_bytes} bytes")]
    PayloadTooLarge { max_body_bytes: u64 },
    #[error("the body could not be read: {0}")]
    UnreadableBody(String),
    #[error("origin {0:?} is not allowed; add its host to SITES")]
    OriginNotAllowed(String),
    #[error(transparent)]
    Invalid(#[from] TrackError),
    #[error("site {0:?} is not configured in SITES")]
    UnknownSite(String),
    #[error("hostname {hostname:?} is not allowed for site {site:?}; add it to SITES")]
    SiteNotAllowed { site: String, hostname: String },
    #[error("the worker is misconfigured: {0}")]
    #[strum_discriminants(strum(serialize = "config_error"))]
    Config(#[from] ConfigError),
    #[error("no randomness available for event ids")]
    NoEntropy,
    #[error("the events could not be queued ({0}); retry later")]
    QueueUnavailable(String),
    #[error("{0}")]
    #[strum_discriminants(strum(serialize = "internal_error"))]
    Internal(String),
    #[error("no route for this path")]
    NotFound,
    #[error("method not allowed; use {allow}")]
    MethodNotAllowed { allow: &'static str },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnreadableBody(_) => 400,
            ApiError::Invalid(error) => error.status(),
            ApiError::OriginNotAllowed(_) | ApiError::UnknownSite(_) | ApiError::SiteNotAllowed { .. } => 403,
            ApiError::Config(_) | ApiError::NoEntropy | ApiError::QueueUnavailable(_) => 503,
            ApiError::Internal(_) => 500,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed { .. } => 405,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(error) => error.code(),
            other => ApiErrorKind::from(other).into(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        match self {
            ApiError::Invalid(error) => error.body(),
            ApiError::Config(error) => {
                ErrorBody { field: Some(error.variable().to_owned()), ..ErrorBody::new(self.code(), self.to_string()) }
            }
            _ => ErrorBody::new(self.code(), self.to_string()),
        }
    }

    pub fn reply(&self) -> Reply {
        let body = serde_json::to_value(self.body()).unwrap_or_default();
        let reply = Reply::json(self.status(), &body);
        match self {
            // Misconfiguration is fixed by a deploy, not by hammering; entropy failures are momentary.
            ApiError::Config(_) => reply.with("retry-after", "300"),
            ApiError::NoEntropy => reply.with("retry-after", "1"),
            ApiError::QueueUnavailable(_) => reply.with("retry-after", "5"),
            ApiError::MethodNotAllowed { allow } => reply.with("allow", *allow),
            _ => reply,
        }
    }
}

/// A reply, plus what the shell still has to do for it.
#[derive(Debug)]
pub struct Outcome {
    pub reply: Reply,
    /// Accepted events still to be handed off: queued before the reply (queue mode, see [`handed_off`]) or
    /// produced after it in `waitUntil` (direct mode).
    pub handoff: Option<Handoff>,
    /// One JSON line for `console_error!`: every refusal is logged once with its context.
    pub log: Option<String>,
    /// What this request adds to the totals that survive isolates (see [`Tally`]).
    pub tally: Option<Tally>,
}

/// The request facts `/track` needs besides the body.
#[derive(Debug, Clone, Default)]
pub struct TrackHead<'a> {
    pub origin: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_length: Option<&'a str>,
    pub user_agent: &'a str,
    /// `CF-Connecting-IP`, empty when absent.
    pub client_ip: &'a str,
    /// The URL's query string without `?` (`/record` carries its chunk envelope there).
    pub query: Option<&'a str>,
    /// The request's `request.cf` geography, in the stored fields (see [`Visitor::geo`]).
    pub geo: StoredEvent,
}

/// What a route needs from the clock and the random source, injected so tests are deterministic.
pub struct Effects<'a> {
    pub now_ms: u64,
    /// 10 random bytes per event id; `None` when the platform has no randomness to give.
    pub random: &'a mut dyn FnMut() -> Option<[u8; 10]>,
    pub counters: &'a Counters,
}

/// `GET /js` (the snippet) and `GET /record.js` (the recorder). `version` is the request's `?v=`: when it
/// names the current content hash, the answer may be cached for a year.
pub fn script(asset: &Asset, if_none_match: Option<&str>, version: Option<&str>) -> Reply {
    let cache_control =
        if version == Some(asset.version()) { script::CACHE_CONTROL_VERSIONED } else { script::CACHE_CONTROL };
    let headers = vec![
        ("content-type", script::CONTENT_TYPE.to_owned()),
        ("cache-control", cache_control.to_owned()),
        ("etag", asset.etag().to_owned()),
        // Any site may load the scripts; CORS matters only for tools that fetch them (SRI checks, bundlers).
        ("access-control-allow-origin", "*".to_owned()),
    ];
    match if_none_match {
        Some(tags) if asset.is_fresh(tags) => Reply { status: 304, headers, body: Vec::new() },
        _ => Reply { status: 200, headers, body: asset.body.as_bytes().to_vec() },
    }
}

/// `OPTIONS /track` and `OPTIONS /record`: a CORS preflight, granted only to origins of configured sites.
pub fn preflight(config: Result<&Config, &ConfigError>, origin: Option<&str>, counters: &Counters) -> Outcome {
    let allowed = match (config, origin) {
        (Err(error), _) => return refuse(ApiError::Config(error.clone()), None, None, counters),
        (Ok(config), Some(origin)) if config.sites.allows_origin(origin) => origin,
        (Ok(_), origin) => {
            return refuse(ApiError::OriginNotAllowed(origin.unwrap_or("").to_owned()), None, origin, counters)
        }
    };
    let reply = Reply { status: 204, headers: Vec::new(), body: Vec::new() }
        .with("access-control-allow-origin", allowed)
        .with("access-control-allow-methods", "POST, OPTIONS")
        .with("access-control-allow-headers", "Content-Type")
        .with("access-control-max-age", "86400")
        .with("vary", "Origin");
    Outcome { reply, handoff: None, log: None, tally: None }
}

/// The event endpoints. They share every check, the enrichment and the hand-off; they differ in the media
/// types and body limit they accept and in how a body becomes stored rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /track`: a JSON batch of page views and events (`event_schema::track`).
    Track,
    /// `POST /record`: one session-recording chunk, envelope in the query string (`event_schema::record`).
    Record,
}

impl Endpoint {
    fn media_types(self) -> &'static [&'static str] {
        match self {
            Endpoint::Track => &["text/plain", "application/json"],
            Endpoint::Record => &["text/plain", "application/octet-stream"],
        }
    }

    fn max_body_bytes(self, config: &Config) -> u64 {
        match self {
            Endpoint::Track => config.max_body_bytes,
            Endpoint::Record => RecordLimits::DEFAULT.max_chunk_bytes,
        }
    }
}

/// `POST /track` and `POST /record`. `read_body(max_body_bytes)` is only called once the headers passed,
/// and must itself stop at the limit: a missing or lying Content-Length must not let a large body through.
pub async fn ingest<R, F>(
    endpoint: Endpoint,
    config: Result<&Config, &ConfigError>,
    head: &TrackHead<'_>,
    read_body: R,
    effects: Effects<'_>,
) -> Outcome
where
    R: FnOnce(u64) -> F,
    F: Future<Output = Result<Vec<u8>, ApiError>>,
{
    let config = match config {
        Ok(config) => config,
        Err(error) => return refuse(ApiError::Config(error.clone()), None, head.origin, effects.counters),
    };
    let cors_origin = head.origin.filter(|o| config.sites.allows_origin(o));
    let max_body_bytes = endpoint.max_body_bytes(config);
    let result = match check_head(config, head, endpoint.media_types(), max_body_bytes) {
        Ok(()) => match read_body(max_body_bytes).await {
            Ok(body) => match endpoint {
                Endpoint::Track => accept(config, head, &body, effects.now_ms, effects.random),
                Endpoint::Record => accept_chunk(config, head, &body, effects.now_ms),
            },
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    match result {
        Ok(accepted) => {
            let events = accepted.handoff.as_ref().map_or(0, |h| h.values.len());
            let (log, tally) = match accepted.bot {
                Some((site, reason)) => {
                    effects.counters.bots_dropped(accepted.dropped);
                    let log = json!({"msg": "bot events dropped", "events": accepted.dropped, "reason": reason, "user_agent": head.user_agent});
                    (Some(log.to_string()), Some(Tally::new("bot_events_dropped", reason, &site, accepted.dropped)))
                }
                None => (None, None),
            };
            let reply = Reply::json(202, &json!({"accepted": events, "dropped": accepted.dropped}));
            Outcome { reply: cors(reply, cors_origin), handoff: accepted.handoff, log, tally }
        }
        Err(error) => refuse(error, cors_origin, head.origin, effects.counters),
    }
}

/// Settles an accepted outcome once its hand-off is done: `Ok` counts the events as accepted and keeps the
/// 202; a queue that refused them turns the answer into a 503 with `Retry-After` (the snippet retries it),
/// keeping the CORS headers so the page can read it.
pub fn handed_off(outcome: Outcome, result: Result<(), String>, counters: &Counters) -> Outcome {
    let Some(handoff) = outcome.handoff.as_ref() else { return outcome };
    match result {
        Ok(()) => {
            counters.accepted(handoff.values.len());
            let tally = Tally::new("events_accepted", "", &handoff.site, handoff.values.len());
            Outcome { tally: Some(tally), ..outcome }
        }
        Err(reason) => {
            let log = json!({"msg": "events refused: queue unavailable", "site": handoff.site, "session_id": handoff.key,
                "events": handoff.values.len(), "error": reason});
            let error = ApiError::QueueUnavailable(reason);
            counters.rejected(&error);
            let tally = Tally::new("requests_rejected", error.code(), &handoff.site, 1);
            let mut reply = error.reply();
            reply.headers.extend(
                outcome
                    .reply
                    .headers
                    .into_iter()
                    .filter(|(name, _)| name.starts_with("access-control") || *name == "vary"),
            );
            Outcome { reply, handoff: None, log: Some(log.to_string()), tally: Some(tally) }
        }
    }
}

/// `GET /health`: version and this isolate's counters; 503 while the configuration is invalid.
pub fn health(config: Result<&Config, &ConfigError>, counters: &Counters) -> Reply {
    let (status, state, config_error) = match config {
        Ok(_) => (200, "ok", None),
        Err(error) => (503, "config_error", Some(error.to_string())),
    };
    Reply::json(
        status,
        &json!({
            "status": state,
            "config_error": config_error,
            "version": env!("CARGO_PKG_VERSION"),
            "schema_version": event_schema::SCHEMA_VERSION,
            "counters_scope": "this isolate since it started; Cloudflare runs many isolates, so these are a sample, not totals",
            "isolate_counters": counters.snapshot(),
        }),
    )
}

/// Methods of each known path, for the `Allow` header of a 405.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/js" | "/js/pathlight.js" | "/health" => Some("GET"),
        "/track" | "/record" => Some("POST, OPTIONS"),
        "/record.js" => Some("GET"),
        _ => None,
    }
}

/// Any path without a route, and any wrong method on a known path.
pub fn no_route(path: &str) -> Reply {
    allowed_methods(path).map_or(ApiError::NotFound, |allow| ApiError::MethodNotAllowed { allow }).reply()
}

/// Appends one body chunk unless that would pass `max_body_bytes`.
pub fn append_chunk(body: &mut Vec<u8>, chunk: &[u8], max_body_bytes: u64) -> Result<(), ApiError> {
    if (body.len() + chunk.len()) as u64 > max_body_bytes {
        return Err(ApiError::PayloadTooLarge { max_body_bytes });
    }
    body.extend_from_slice(chunk);
    Ok(())
}

struct Accepted {
    handoff: Option<Handoff>,
    dropped: usize,
    /// Site and reason, when the events were dropped as automated.
    bot: Option<(String, &'static str)>,
}

fn check_head(
    config: &Config,
    head: &TrackHead<'_>,
    media_types: &'static [&'static str],
    max_body_bytes: u64,
) -> Result<(), ApiError> {
    let media_type = head.content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !media_types.contains(&media_type.as_str()) {
        let accepted = if media_types.contains(&"application/json") {
            "text/plain or application/json"
        } else {
            "text/plain or application/octet-stream"
        };
        return Err(ApiError::UnsupportedMediaType { given: head.content_type.unwrap_or("").to_owned(), accepted });
    }
    if let Some(declared) = head.content_length.and_then(|l| l.trim().parse::<u64>().ok()) {
        if declared > max_body_bytes {
            return Err(ApiError::PayloadTooLarge { max_body_bytes });
        }
    }
    // Requests without an Origin (server-side senders) are judged by their page hostnames alone.
    match head.origin {
        Some(origin) if !config.sites.allows_origin(origin) => Err(ApiError::OriginNotAllowed(origin.to_owned())),
        _ => Ok(()),
    }
}

fn accept(
    config: &Config,
    head: &TrackHead<'_>,
    body: &[u8],
    now_ms: u64,
    random: &mut dyn FnMut() -> Option<[u8; 10]>,
) -> Result<Accepted, ApiError> {
    let batch = parse_batch(body, &Limits::default())?;
    for event in &batch.events {
        check_site(config, &batch.site, &event.page.hostname)?;
    }

    let client = read_user_agent(head.user_agent);
    if let (true, Some(reason)) = (config.drop_bots, client.bot) {
        return Ok(Accepted { handoff: None, dropped: batch.events.len(), bot: Some((batch.site, reason.as_str())) });
    }

    // Draw all randomness first, so a failing source refuses the request instead of minting duplicate ids.
    let mut ids = Vec::with_capacity(batch.events.len());
    for _ in &batch.events {
        ids.push(random().ok_or(ApiError::NoEntropy)?);
    }
    let mut ids = ids.into_iter();
    let visitor = Visitor { user_agent: head.user_agent, client_ip: head.client_ip, geo: &head.geo };
    let events =
        enrich(&batch, &visitor, &client, config.ip_mode, config.visitor_salt_secret.expose(), now_ms, &mut || {
            ids.next().unwrap_or_default()
        });
    let values = events
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("could not encode the events: {e}")))?;
    let handoff = Handoff { topic: config.topic.clone(), key: batch.session_id, site: batch.site, values };
    Ok(Accepted { handoff: Some(handoff), dropped: 0, bot: None })
}

fn check_site(config: &Config, site: &str, hostname: &str) -> Result<(), ApiError> {
    match config.sites.check(site, hostname) {
        SiteDecision::Allowed => Ok(()),
        SiteDecision::UnknownSite => Err(ApiError::UnknownSite(site.to_owned())),
        SiteDecision::HostNotAllowed => {
            Err(ApiError::SiteNotAllowed { site: site.to_owned(), hostname: hostname.to_owned() })
        }
    }
}

/// One recording chunk: validated against its envelope, enriched like page views, its bytes carried as
/// they came (never inflated here).
fn accept_chunk(config: &Config, head: &TrackHead<'_>, body: &[u8], now_ms: u64) -> Result<Accepted, ApiError> {
    let chunk = parse_chunk(head.query.unwrap_or(""), body.len(), now_ms, &RecordLimits::DEFAULT)?;
    check_site(config, &chunk.site, &chunk.hostname)?;
    let client = read_user_agent(head.user_agent);
    if let (true, Some(reason)) = (config.drop_bots, client.bot) {
        return Ok(Accepted { handoff: None, dropped: 1, bot: Some((chunk.site, reason.as_str())) });
    }
    let visitor = Visitor { user_agent: head.user_agent, client_ip: head.client_ip, geo: &head.geo };
    let row = enrich_chunk(&chunk, body, &visitor, &client, config.visitor_salt_secret.expose(), now_ms);
    let value =
        serde_json::to_value(&row).map_err(|e| ApiError::Internal(format!("could not encode the chunk: {e}")))?;
    let handoff = Handoff {
        topic: config.recordings_topic.clone(),
        key: chunk.session_id,
        site: chunk.site,
        values: vec![value],
    };
    Ok(Accepted { handoff: Some(handoff), dropped: 0, bot: None })
}

/// `Vary: Origin` always, because the answer depends on it; the allow header only for allowed origins.
fn cors(reply: Reply, allowed_origin: Option<&str>) -> Reply {
    let reply = reply.with("vary", "Origin");
    match allowed_origin {
        Some(origin) => reply.with("access-control-allow-origin", origin),
        None => reply,
    }
}

fn refuse(error: ApiError, cors_origin: Option<&str>, origin: Option<&str>, counters: &Counters) -> Outcome {
    counters.rejected(&error);
    let log = json!({"msg": "request refused", "status": error.status(), "error": error.code(), "message": error.to_string(), "origin": origin});
    let tally = Tally::new("requests_rejected", error.code(), "", 1);
    Outcome { reply: cors(error.reply(), cors_origin), handoff: None, log: Some(log.to_string()), tally: Some(tally) }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::Value;

    use super::*;
    use crate::config::tests::{parse, vars};
    use crate::enrich::tests::{CHROME_DESKTOP, GOOGLEBOT, HEADLESS_CHROMIUM};
    use crate::metrics::reject_reasons;
    use crate::script::{RECORDER, SNIPPET};

    const BODY: &str = r#"{"site":"demo","sid":"Ab3dEf6hIj9kLm2n","events":[{"kind":"pageview","url":"http://localhost:18080/"},{"kind":"pageview","url":"http://127.0.0.1/b"}]}"#;

    fn head<'a>() -> TrackHead<'a> {
        TrackHead {
            origin: Some("http://localhost:18080"),
            content_type: Some("text/plain;charset=UTF-8"),
            content_length: None,
            user_agent: CHROME_DESKTOP,
            client_ip: "203.0.113.9",
            query: None,
            geo: StoredEvent { country: "DE".to_owned(), ..StoredEvent::default() },
        }
    }

    fn run_with(
        vars: &HashMap<&'static str, String>,
        head: &TrackHead<'_>,
        body: &[u8],
        counters: &Counters,
    ) -> Outcome {
        run_endpoint(Endpoint::Track, vars, head, body, counters)
    }

    fn run_endpoint(
        endpoint: Endpoint,
        vars: &HashMap<&'static str, String>,
        head: &TrackHead<'_>,
        body: &[u8],
        counters: &Counters,
    ) -> Outcome {
        let config = parse(vars);
        let mut n = 0u8;
        let mut random = || {
            n += 1;
            Some([n; 10])
        };
        let body = body.to_vec();
        let read_body = |max: u64| async move {
            let mut read = Vec::new();
            // Two chunks, like a stream, so the limit is enforced on bytes read.
            let (a, b) = body.split_at(body.len() / 2);
            append_chunk(&mut read, a, max)?;
            append_chunk(&mut read, b, max)?;
            Ok(read)
        };
        let effects = Effects { now_ms: 1_732_300_000_000, random: &mut random, counters };
        block_on(ingest(endpoint, config.as_ref(), head, read_body, effects))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Whatever arrives at `/track` or `/record`, the answer is a 202 or a client error, never a panic or a 5xx.
        #[test]
        fn any_request_to_an_event_endpoint_gets_a_202_or_a_4xx(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            content_type in "text/plain|application/json|application/octet-stream|.{0,12}",
            content_length in proptest::option::of("[0-9]{1,9}|.{0,4}"),
            query in proptest::option::of(".{0,120}"),
            record in proptest::prelude::any::<bool>(),
        ) {
            let head = TrackHead {
                content_type: Some(&content_type),
                content_length: content_length.as_deref(),
                query: query.as_deref(),
                ..head()
            };
            let endpoint = if record { Endpoint::Record } else { Endpoint::Track };
            let outcome = run_endpoint(endpoint, &vars(), &head, &body, &Counters::new());
            proptest::prop_assert!(outcome.reply.status == 202 || (400..500).contains(&outcome.reply.status),
                "{} for {:?}", outcome.reply.status, String::from_utf8_lossy(&outcome.reply.body));
        }
    }

    /// A chunk envelope for `body_len` bytes of page `http://localhost:18080/app`, recorded just before "now".
    fn chunk_query(body_len: usize) -> String {
        format!(
            "site=demo&sid=Ab3dEf6hIj9kLm2n&tab=Qw3rTy6uIo9pAs2d&seq=0&part=0&parts=1&first=1732299990000\
             &last=1732299995000&n=12&raw=4000&size={body_len}&enc=gzip&full=1&fin=0&url=http%3A%2F%2Flocalhost%3A18080%2Fapp"
        )
    }

    fn record(query: &str, body: &[u8]) -> Outcome {
        let head = TrackHead { query: Some(query), ..head() };
        run_endpoint(Endpoint::Record, &vars(), &head, body, &Counters::new())
    }

    #[test]
    fn a_recording_chunk_is_enriched_and_handed_off_with_its_bytes_untouched() {
        let body = [0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00, 0x42];
        let outcome = record(&chunk_query(body.len()), &body);
        assert_eq!(outcome.reply.status, 202, "{:?}", String::from_utf8_lossy(&outcome.reply.body));
        let handoff = outcome.handoff.expect("handed off");
        assert_eq!((handoff.topic.as_str(), handoff.key.as_str()), ("session_recordings", "Ab3dEf6hIj9kLm2n"));
        let row: event_schema::RecordingChunk = serde_json::from_value(handoff.values[0].clone()).expect("a chunk row");
        assert_eq!(row.payload, "H4sIAP8AQg==", "base64 of the body, never inflated");
        assert_eq!((row.seq, row.full_snapshot, row.is_final, row.compressed_bytes), (0, 1, 0, 7));
        assert_eq!((row.country.as_str(), row.browser.as_str(), row.pathname.as_str()), ("DE", "Chrome", "/app"));
        assert_eq!(row.visitor_id.len(), 32);
    }

    #[test]
    fn bad_recording_chunks_are_refused_with_the_reason() {
        let body = vec![7u8; 100];
        let cases: Vec<(Outcome, u16, &str)> = vec![
            (record(&chunk_query(99), &body), 422, "invalid_field"),
            (record(&chunk_query(100).replace("site=demo", "site=example.com"), &body), 403, "site_not_allowed"),
            (record(&chunk_query(100).replace("site=demo", "site=nobody"), &body), 403, "unknown_site"),
            (record(&chunk_query(100).replace("seq=0", "seq=-3"), &body), 422, "invalid_field"),
            (record("garbage", &body), 422, "invalid_field"),
            (record(&chunk_query(70_000), &vec![0u8; 70_000]), 413, "payload_too_large"),
        ];
        for (outcome, status, code) in cases {
            assert_eq!(refused(&outcome), (status, code.to_owned()));
        }
        let json = TrackHead { query: Some("x"), content_type: Some("application/json"), ..head() };
        let outcome = run_endpoint(Endpoint::Record, &vars(), &json, &body, &Counters::new());
        assert_eq!(refused(&outcome), (415, "unsupported_media_type".to_owned()));
        assert_eq!(json_body(&outcome.reply)["field"], serde_json::Value::Null);
        let named = record(&chunk_query(99), &body);
        assert_eq!(json_body(&named.reply)["field"], "size");
    }

    fn run(head: &TrackHead<'_>, body: &[u8]) -> Outcome {
        run_with(&vars(), head, body, &Counters::new())
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(future)
    }

    fn json_body(reply: &Reply) -> Value {
        assert_eq!(reply.header("content-type"), Some("application/json"));
        serde_json::from_slice(&reply.body).expect("JSON body")
    }

    fn refused(outcome: &Outcome) -> (u16, String) {
        assert!(outcome.handoff.is_none());
        assert!(outcome.log.is_some(), "every refusal is logged");
        (outcome.reply.status, json_body(&outcome.reply)["error"].as_str().unwrap_or_default().to_owned())
    }

    #[test]
    fn a_valid_batch_is_accepted_with_cors_and_queued_for_forwarding() {
        let counters = Counters::new();
        let outcome = run_with(&vars(), &head(), BODY.as_bytes(), &counters);
        assert_eq!(outcome.reply.status, 202);
        assert_eq!(json_body(&outcome.reply), json!({"accepted": 2, "dropped": 0}));
        assert_eq!(outcome.reply.header("access-control-allow-origin"), Some("http://localhost:18080"));
        assert_eq!(outcome.reply.header("vary"), Some("Origin"));
        assert!(outcome.log.is_none());
        let handoff = outcome.handoff.as_ref().expect("handed off");
        assert_eq!(
            (handoff.topic.as_str(), handoff.site.as_str(), handoff.key.as_str(), handoff.values.len()),
            ("page_visits", "demo", "Ab3dEf6hIj9kLm2n", 2)
        );
        let request = handoff.produce_request();
        assert_eq!(request.records[0].key, Some(json!("Ab3dEf6hIj9kLm2n")));
        assert_eq!(request.records[0].value["country"], "DE");
        assert_eq!(request.records[0].value["ip"], "203.0.113.0");
        assert_eq!(request.records[1].value["pathname"], "/b");
        assert_eq!(counters.snapshot()["events_accepted"], 0, "accepted only once handed off");
        let outcome = handed_off(outcome, Ok(()), &counters);
        assert_eq!(outcome.reply.status, 202);
        assert_eq!(counters.snapshot()["events_accepted"], 2);
    }

    #[test]
    fn a_queue_that_refuses_the_events_turns_the_202_into_a_retryable_503() {
        let counters = Counters::new();
        let outcome = run_with(&vars(), &head(), BODY.as_bytes(), &counters);
        let outcome = handed_off(outcome, Err("queue send failed".to_owned()), &counters);
        assert_eq!(refused(&outcome), (503, "queue_unavailable".to_owned()));
        assert_eq!(outcome.reply.header("retry-after"), Some("5"));
        assert_eq!(outcome.reply.header("access-control-allow-origin"), Some("http://localhost:18080"));
        let snapshot = counters.snapshot();
        assert_eq!(snapshot["events_accepted"], 0);
        assert_eq!(snapshot["requests_rejected_by_reason"]["queue_unavailable"], 1);
    }

    #[test]
    fn both_tracker_content_types_are_accepted_with_any_parameters() {
        for content_type in
            ["text/plain", "text/plain;charset=UTF-8", "application/json", "Application/JSON; charset=utf-8"]
        {
            let outcome = run(&TrackHead { content_type: Some(content_type), ..head() }, BODY.as_bytes());
            assert_eq!(outcome.reply.status, 202, "{content_type}");
        }
    }

    #[test]
    fn client_garbage_always_gets_a_4xx_json_error() {
        let ten_megabytes = vec![b'a'; 10 * 1024 * 1024];
        let binary: Vec<u8> = (0..=255).collect();
        let cases: Vec<(TrackHead, &[u8], u16, &str)> = vec![
            (head(), b"", 400, "empty_body"),
            (head(), b"   ", 400, "empty_body"),
            (head(), &binary, 400, "malformed_json"),
            (head(), b"{\"site\":", 400, "malformed_json"),
            (head(), b"[1,2]", 422, "invalid_shape"),
            (head(), br#"{"site":"demo","sid":"x","events":[]}"#, 422, "invalid_field"),
            (head(), &ten_megabytes, 413, "payload_too_large"),
            (TrackHead { content_length: Some("10485760"), ..head() }, BODY.as_bytes(), 413, "payload_too_large"),
            (
                TrackHead { content_type: Some("application/x-www-form-urlencoded"), ..head() },
                BODY.as_bytes(),
                415,
                "unsupported_media_type",
            ),
            (TrackHead { content_type: None, ..head() }, BODY.as_bytes(), 415, "unsupported_media_type"),
            (
                TrackHead { content_type: Some("multipart/form-data; boundary=x"), ..head() },
                BODY.as_bytes(),
                415,
                "unsupported_media_type",
            ),
        ];
        for (head, body, status, code) in cases {
            let outcome = run(&head, body);
            assert_eq!(refused(&outcome), (status, code.to_owned()), "{:?} / {} bytes", head.content_type, body.len());
            assert_eq!(
                outcome.reply.header("access-control-allow-origin"),
                Some("http://localhost:18080"),
                "errors stay readable by the page"
            );
        }
    }

    #[test]
    fn the_body_limit_counts_bytes_read_even_without_a_content_length() {
        let mut vars = vars();
        vars.insert("MAX_BODY_BYTES", (BODY.len() - 1).to_string());
        let outcome = run_with(&vars, &TrackHead { content_length: None, ..head() }, BODY.as_bytes(), &Counters::new());
        assert_eq!(refused(&outcome), (413, "payload_too_large".to_owned()));
        vars.insert("MAX_BODY_BYTES", BODY.len().to_string());
        let outcome =
            run_with(&vars, &TrackHead { content_length: Some("1"), ..head() }, BODY.as_bytes(), &Counters::new());
        assert_eq!(outcome.reply.status, 202, "a body of exactly the limit passes, whatever Content-Length claimed");
    }

    #[test]
    fn unknown_sites_foreign_hostnames_and_foreign_origins_are_forbidden() {
        let counters = Counters::new();
        let foreign_host = BODY.replace("127.0.0.1", "evil.example");
        let unknown_site = BODY.replace("\"demo\"", "\"other.com\"");
        let cases: Vec<(TrackHead, String, &str)> = vec![
            (head(), foreign_host, "site_not_allowed"),
            (head(), unknown_site, "unknown_site"),
            (TrackHead { origin: Some("https://evil.example"), ..head() }, BODY.to_owned(), "origin_not_allowed"),
            (TrackHead { origin: Some("null"), ..head() }, BODY.to_owned(), "origin_not_allowed"),
        ];
        for (head, body, code) in cases {
            let outcome = run_with(&vars(), &head, body.as_bytes(), &counters);
            assert_eq!(refused(&outcome), (403, code.to_owned()));
        }
        // The page's origin belongs to a configured site, so it may read the refusal; a foreign one may not.
        let outcome = run(&TrackHead { origin: Some("https://evil.example"), ..head() }, BODY.as_bytes());
        assert_eq!(outcome.reply.header("access-control-allow-origin"), None);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot["requests_rejected_by_reason"]["site_not_allowed"], 1);
        assert_eq!(snapshot["requests_rejected_by_reason"]["unknown_site"], 1);
        assert_eq!(snapshot["requests_rejected_by_reason"]["origin_not_allowed"], 2);
    }

    #[test]
    fn a_request_without_origin_is_judged_by_its_page_hostnames() {
        assert_eq!(run(&TrackHead { origin: None, ..head() }, BODY.as_bytes()).reply.status, 202);
    }

    #[test]
    fn bots_and_headless_browsers_are_dropped_with_a_202_and_counted() {
        for user_agent in [GOOGLEBOT, HEADLESS_CHROMIUM, "", "curl/8.5.0"] {
            let counters = Counters::new();
            let outcome = run_with(&vars(), &TrackHead { user_agent, ..head() }, BODY.as_bytes(), &counters);
            assert_eq!(outcome.reply.status, 202, "{user_agent}");
            assert_eq!(json_body(&outcome.reply), json!({"accepted": 0, "dropped": 2}));
            assert!(outcome.handoff.is_none(), "{user_agent} must not be forwarded");
            assert!(outcome.log.is_some());
            assert_eq!(
                (counters.snapshot()["bot_events_dropped"].as_u64(), counters.snapshot()["events_accepted"].as_u64()),
                (Some(2), Some(0))
            );
        }
    }

    #[test]
    fn bots_are_kept_when_drop_bots_is_off() {
        let mut vars = vars();
        vars.insert("DROP_BOTS", "false".to_owned());
        let outcome =
            run_with(&vars, &TrackHead { user_agent: HEADLESS_CHROMIUM, ..head() }, BODY.as_bytes(), &Counters::new());
        assert_eq!(json_body(&outcome.reply), json!({"accepted": 2, "dropped": 0}));
        assert!(outcome.handoff.is_some());
    }

    #[test]
    fn a_missing_secret_is_a_503_naming_the_variable() {
        let mut vars = vars();
        vars.remove("VISITOR_SALT_SECRET");
        let counters = Counters::new();
        let outcome = run_with(&vars, &head(), BODY.as_bytes(), &counters);
        assert_eq!(refused(&outcome), (503, "config_error".to_owned()));
        let body = json_body(&outcome.reply);
        assert_eq!(body["field"], "VISITOR_SALT_SECRET");
        assert!(body["message"].as_str().unwrap_or_default().contains("VISITOR_SALT_SECRET"));
        assert_eq!(outcome.reply.header("retry-after"), Some("300"));
        let health = health(parse(&vars).as_ref(), &counters);
        assert_eq!((health.status, json_body(&health)["status"].as_str()), (503, Some("config_error")));
    }

    #[test]
    fn no_randomness_means_no_event_ids_and_a_retryable_503() {
        let config = parse(&vars());
        let counters = Counters::new();
        let read_body = |_| async { Ok(BODY.as_bytes().to_vec()) };
        let effects = Effects { now_ms: 0, random: &mut || None, counters: &counters };
        let outcome = block_on(ingest(Endpoint::Track, config.as_ref(), &head(), read_body, effects));
        assert_eq!(refused(&outcome), (503, "no_entropy".to_owned()));
        assert_eq!(outcome.reply.header("retry-after"), Some("1"));
    }

    #[test]
    fn every_refusal_is_counted_under_its_own_error_code() {
        let errors = [
            ApiError::UnsupportedMediaType { given: String::new(), accepted: "" },
            ApiError::PayloadTooLarge { max_body_bytes: 1 },
            ApiError::UnreadableBody(String::new()),
            ApiError::OriginNotAllowed(String::new()),
            ApiError::Invalid(TrackError::EmptyBody),
            ApiError::Invalid(TrackError::MalformedJson(String::new())),
            ApiError::Invalid(TrackError::InvalidShape(String::new())),
            ApiError::Invalid(TrackError::InvalidField { field: String::new(), reason: String::new() }),
            ApiError::UnknownSite(String::new()),
            ApiError::SiteNotAllowed { site: String::new(), hostname: String::new() },
            ApiError::Config(ConfigError::Missing { var: "X", hint: "" }),
            ApiError::NoEntropy,
            ApiError::QueueUnavailable(String::new()),
            ApiError::Internal(String::new()),
            ApiError::NotFound,
            ApiError::MethodNotAllowed { allow: "GET" },
        ];
        let labels: Vec<_> = reject_reasons().map(|(_, label)| label).collect();
        assert_eq!(labels.len(), errors.len(), "one label per refusal: {labels:?}");
        for (n, error) in errors.iter().enumerate() {
            let counters = Counters::new();
            for _ in 0..=n {
                counters.rejected(error);
            }
            let by_reason = &counters.snapshot()["requests_rejected_by_reason"];
            assert_eq!(by_reason[error.code()], n as u64 + 1, "{}", error.code());
            let total: u64 = labels.iter().map(|l| by_reason[*l].as_u64().unwrap_or(0)).sum();
            assert_eq!(total, n as u64 + 1, "{} counted elsewhere too", error.code());
        }
    }

    #[test]
    fn a_preflight_is_granted_only_to_configured_origins() {
        let config = parse(&vars());
        let counters = Counters::new();
        let granted = preflight(config.as_ref(), Some("http://127.0.0.1:18080"), &counters).reply;
        assert_eq!(granted.status, 204);
        assert_eq!(granted.header("access-control-allow-origin"), Some("http://127.0.0.1:18080"));
        assert_eq!(granted.header("access-control-allow-methods"), Some("POST, OPTIONS"));
        assert_eq!(granted.header("access-control-allow-headers"), Some("Content-Type"));
        assert_eq!(granted.header("access-control-max-age"), Some("86400"));
        assert_eq!(granted.header("vary"), Some("Origin"));
        for origin in [Some("https://evil.example"), None] {
            let outcome = preflight(config.as_ref(), origin, &counters);
            assert_eq!(refused(&outcome), (403, "origin_not_allowed".to_owned()));
            assert_eq!(outcome.reply.header("access-control-allow-origin"), None);
        }
    }

    #[test]
    fn the_script_is_served_cacheable_and_revalidates_to_a_304() {
        let fresh = script(&SNIPPET, None, None);
        assert_eq!(fresh.status, 200);
        assert_eq!(fresh.body, SNIPPET.body.as_bytes());
        assert_eq!(fresh.header("content-type"), Some("application/javascript; charset=utf-8"));
        assert_eq!(fresh.header("cache-control"), Some("public, max-age=3600, stale-while-revalidate=86400"));
        assert_eq!(fresh.header("access-control-allow-origin"), Some("*"));
        let etag = fresh.header("etag").expect("etag");
        let revalidated = script(&SNIPPET, Some(etag), None);
        assert_eq!((revalidated.status, revalidated.body.len()), (304, 0));
        assert_eq!(revalidated.header("etag"), Some(etag));
        assert_eq!(script(&SNIPPET, Some("\"stale\""), None).status, 200);
    }

    #[test]
    fn the_recorder_is_served_and_cached_for_a_year_only_under_its_own_hash() {
        let current = script(&RECORDER, None, Some(RECORDER.version()));
        assert_eq!(current.status, 200);
        assert_eq!(current.body, RECORDER.body.as_bytes());
        assert_eq!(current.header("cache-control"), Some("public, max-age=31536000, immutable"));
        let other = script(&RECORDER, None, Some(SNIPPET.version()));
        assert_eq!(other.header("cache-control"), Some("public, max-age=3600, stale-while-revalidate=86400"));
    }

    #[test]
    fn health_reports_version_and_isolate_counters() {
        let counters = Counters::new();
        counters.accepted(5);
        let reply = health(parse(&vars()).as_ref(), &counters);
        let body = json_body(&reply);
        assert_eq!(reply.status, 200);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(body["isolate_counters"]["events_accepted"], 5);
        assert!(body["counters_scope"].as_str().unwrap_or_default().contains("isolate"));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_in_json() {
        let missing = no_route("/nope");
        assert_eq!((missing.status, json_body(&missing)["error"].as_str()), (404, Some("not_found")));
        let wrong = no_route("/track");
        assert_eq!((wrong.status, json_body(&wrong)["error"].as_str()), (405, Some("method_not_allowed")));
        assert_eq!(wrong.header("allow"), Some("POST, OPTIONS"));
        assert_eq!(no_route("/js").header("allow"), Some("GET"));
    }
}
