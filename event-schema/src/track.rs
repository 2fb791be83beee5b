//! What the browser snippet posts to `POST /track`, and its validation field by field.
//!
//! A request carries one site, one per-tab session id and a batch of events, each with a random id:
//!
//! ```json
//! {"site":"example.com","sid":"Ab3dEf6hIj9kLm2n","events":[
//!   {"kind":"pageview","url":"https://example.com/a?utm_source=news","referrer":"https://google.com/",
//!    "title":"A","screen_width":1280,"language":"en-US","id":"q8Xz0PcW3nLr5tYb"},
//!   {"kind":"event","url":"https://example.com/a","name":"signup","props":{"plan":"pro"},"id":"Jk2mN4pQ6rS8tU0v"},
//!   {"kind":"engagement","url":"https://example.com/a","engaged_ms":12345,"id":"Wx1yZ3aB5cD7eF9g"}]}
//! ```
//!
//! Validation is strict about shape and bounds (a clear 4xx naming the field) and strict about privacy:
//! query parameters other than `utm_*` never leave this module, because they routinely carry e-mail
//! addresses, tokens and other personal data.
//!
//! The `schemars` attributes on [`TrackRequest`] and [`TrackEvent`] state the same rules for other languages
//! (`event-schema/contracts/track-request.schema.json`, which the snippet's tests check every request
//! against); their numbers are those of [`Limits::DEFAULT`], so the two cannot drift apart.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use url::Url;

use crate::stored::EventKind;

/// Bounds applied to every request. The defaults are what the snippet is built to respect, and what the
/// JSON Schema states.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_events: usize,
    pub max_site_chars: usize,
    pub max_url_chars: usize,
    pub max_title_chars: usize,
    pub max_language_chars: usize,
    pub max_event_name_chars: usize,
    pub max_props: usize,
    pub max_prop_key_chars: usize,
    pub max_prop_value_chars: usize,
    pub max_utm_chars: usize,
    pub max_screen_width: u64,
    pub max_engaged_ms: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_events: 25,
        max_site_chars: 100,
        max_url_chars: 2048,
        max_title_chars: 512,
        max_language_chars: 35,
        max_event_name_chars: 64,
        max_props: 16,
        max_prop_key_chars: 64,
        max_prop_value_chars: 256,
        max_utm_chars: 256,
        max_screen_width: 16_384,
        // A day: anything longer is a broken clock, not a visitor.
        max_engaged_ms: 86_400_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Length in characters of the per-tab session id (`sid`), from `[A-Za-z0-9_-]`.
pub const SESSION_ID_CHARS: (usize, usize) = (8, 64);
/// Length in characters of an event's client id (`id`), from `[A-Za-z0-9_-]`. At least 16 so that random ids
/// (the snippet's have about 95 bits) do not collide within a session.
pub const EVENT_ID_CHARS: (usize, usize) = (16, 64);

// JSON Schema (ECMA-262) spellings of the character rules that `validate` checks with `char` predicates.
const CLIENT_ID_PATTERN: &str = "^[A-Za-z0-9_-]+$";
const SITE_PATTERN: &str = "^[A-Za-z0-9._-]+$";
const LANGUAGE_PATTERN: &str = "^[A-Za-z0-9_-]*$";
const HTTP_URL_PATTERN: &str = "^https?://[^/?#]";

/// The request as it arrives. Every field is optional here so that validation, not serde, names what is
/// missing; the schema attributes state what validation requires.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    transform = absent_never_null,
    description = "A `POST /track` body as the current snippet (tracker-js) sends it. The worker accepts a \
little more, for snippets that browsers cached before a change: it ignores fields it does not know (such as \
the `ts` that older snippets sent) and accepts events without `id`. Lengths count characters (code points); \
the bounds are the worker's default limits."
)]
pub struct TrackRequest {
    /// The site id: `data-site` on the snippet's script tag.
    #[schemars(required, length(min = 1, max = Limits::DEFAULT.max_site_chars), regex(pattern = SITE_PATTERN))]
    pub site: Option<String>,
    /// Per-tab session id, random, kept in the tab's `sessionStorage`.
    #[schemars(
        required,
        length(min = SESSION_ID_CHARS.0, max = SESSION_ID_CHARS.1),
        regex(pattern = CLIENT_ID_PATTERN)
    )]
    pub sid: Option<String>,
    /// The events, oldest first.
    #[schemars(required, length(min = 1, max = Limits::DEFAULT.max_events))]
    pub events: Option<Vec<TrackEvent>>,
}

/// One event of a request. `kind`, `url` and `id` are common to all kinds; [`kind_fields`] says which of the
/// others each kind carries.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    transform = absent_never_null,
    transform = per_kind_rules,
    description = "One event. `kind`, `url` and `id` apply to every kind; each other field belongs to one kind, \
which may require it, and an event carries no field of another kind."
)]
pub struct TrackEvent {
    /// What happened: a page view, a custom event, or time the page was visible.
    #[schemars(required, with = "EventKind")]
    pub kind: Option<String>,
    /// The page's absolute http(s) URL. Only the `utm_*` query parameters are kept.
    #[schemars(required, length(min = 1, max = Limits::DEFAULT.max_url_chars), regex(pattern = HTTP_URL_PATTERN))]
    pub url: Option<String>,
    /// The previous page, `""` for none. Only scheme, host and path are kept.
    #[schemars(length(max = Limits::DEFAULT.max_url_chars))]
    pub referrer: Option<String>,
    #[schemars(length(max = Limits::DEFAULT.max_title_chars))]
    pub title: Option<String>,
    #[schemars(range(max = Limits::DEFAULT.max_screen_width))]
    pub screen_width: Option<u64>,
    /// A language tag such as `en-US`.
    #[schemars(length(max = Limits::DEFAULT.max_language_chars), regex(pattern = LANGUAGE_PATTERN))]
    pub language: Option<String>,
    /// The custom event's name.
    #[schemars(length(min = 1, max = Limits::DEFAULT.max_event_name_chars))]
    pub name: Option<String>,
    #[schemars(with = "Option<Props>")]
    pub props: Option<Map<String, Value>>,
    /// Milliseconds the page was visible since the previous report.
    #[schemars(range(max = Limits::DEFAULT.max_engaged_ms))]
    pub engaged_ms: Option<u64>,
    /// Random per event, chosen by the client; a retried request resends it unchanged. The worker derives the
    /// stored event id from (site, sid, id), so a retry is stored once, and trusts it for nothing else. The
    /// worker accepts events without one (snippets cached before ids existed); the current snippet always
    /// sends one, so the schema requires it.
    #[schemars(
        required,
        length(min = EVENT_ID_CHARS.0, max = EVENT_ID_CHARS.1),
        regex(pattern = CLIENT_ID_PATTERN)
    )]
    pub id: Option<String>,
}

/// Every kind, for the schema's per-kind rules (a new kind fails to compile in [`kind_fields`] until added).
const EVENT_KINDS: [EventKind; 3] = [EventKind::Pageview, EventKind::Event, EventKind::Engagement];

/// The fields a kind of event carries besides `kind`, `url` and `id`, and those of them it requires.
/// `validate_event` reads exactly these; the schema states them, and forbids the other kinds' fields.
fn kind_fields(kind: EventKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        EventKind::Pageview => (&["referrer", "title", "screen_width", "language"], &[]),
        EventKind::Event => (&["name", "props"], &["name"]),
        EventKind::Engagement => (&["engaged_ms"], &["engaged_ms"]),
    }
}

/// The schema of `props` (the Rust field is a plain JSON map that `validate_props` checks).
struct Props;

impl JsonSchema for Props {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Props".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let limits = Limits::DEFAULT;
        json_schema!({
            "description": "The custom event's properties: a flat object of strings, numbers and booleans.",
            "type": "object",
            "maxProperties": limits.max_props,
            "propertyNames": { "type": "string", "minLength": 1, "maxLength": limits.max_prop_key_chars },
            "additionalProperties": {
                "anyOf": [
                    { "type": "string", "maxLength": limits.max_prop_value_chars },
                    { "type": "number" },
                    { "type": "boolean" }
                ]
            }
        })
    }
}

/// On the wire a field that does not apply is left out, never `null`: the schema says so, although serde
/// (for `Option`) would read a `null` as absent.
fn absent_never_null(schema: &mut Schema) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else { return };
    for property in properties.values_mut() {
        if let Some(Value::Array(types)) = property.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                property["type"] = only;
            }
        }
    }
}

/// Adds what depends on the kind: the fields it requires, and that it carries no field of another kind
/// (the worker would ignore them; the snippet never sends them).
fn per_kind_rules(schema: &mut Schema) {
    let rules: Vec<Value> = EVENT_KINDS
        .iter()
        .map(|&kind| {
            let (_, required) = kind_fields(kind);
            let foreign: Map<String, Value> = EVENT_KINDS
                .iter()
                .filter(|&&other| other != kind)
                .flat_map(|&other| kind_fields(other).0)
                .map(|field| ((*field).to_owned(), Value::Bool(false)))
                .collect();
            let mut then = json!({ "properties": foreign });
            if !required.is_empty() {
                then["required"] = json!(required);
            }
            json!({
                "if": { "properties": { "kind": { "const": kind.as_str() } }, "required": ["kind"] },
                "then": then
            })
        })
        .collect();
    schema.insert("allOf".to_owned(), Value::Array(rules));
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidBatch {
    pub site: String,
    pub session_id: String,
    pub events: Vec<ValidEvent>,
}

/// One validated event, already reduced to what may be stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidEvent {
    pub kind: EventKind,
    pub page: PageUrl,
    pub referrer: String,
    pub referrer_host: String,
    pub title: String,
    pub screen_width: u16,
    pub language: String,
    pub event_name: String,
    /// JSON object text, `{}` when there are none.
    pub props: String,
    pub engaged_ms: u32,
    /// The event's client-chosen `id`, shape-checked; `None` from snippets older than event ids.
    pub client_id: Option<String>,
}

/// A page URL reduced to its stored form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PageUrl {
    /// Scheme, host, port, path and fragment; never the query string.
    pub url: String,
    pub hostname: String,
    pub pathname: String,
    pub utm: Utm,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Utm {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub term: String,
    pub content: String,
}

/// Why a request was refused. Each maps to one HTTP status and one stable `error` code.
/// `TrackErrorKind` (derived) is the fieldless twin that metrics iterate for their label set.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(TrackErrorKind),
    derive(strum::EnumIter, strum::EnumCount, strum::IntoStaticStr),
    strum(serialize_all = "snake_case")
)]
pub enum TrackError {
    #[error("the request body is empty")]
    EmptyBody,
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body does not have the expected shape: {0}")]
    InvalidShape(String),
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
}

impl TrackError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        TrackError::InvalidField { field: field.into(), reason: reason.into() }
    }

    /// HTTP status: 400 for bytes that are not JSON, 422 for JSON that breaks the contract.
    pub fn status(&self) -> u16 {
        match self {
            TrackError::EmptyBody | TrackError::MalformedJson(_) => 400,
            TrackError::InvalidShape(_) | TrackError::InvalidField { .. } => 422,
        }
    }

    /// The stable `error` code: the variant's name in snake case.
    pub fn code(&self) -> &'static str {
        TrackErrorKind::from(self).into()
    }

    pub fn body(&self) -> ErrorBody {
        let field = match self {
            TrackError::InvalidField { field, .. } => Some(field.clone()),
            _ => None,
        };
        ErrorBody { error: self.code().to_owned(), message: self.to_string(), field }
    }
}

/// The JSON error body every HTTP boundary of the product answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_field`, `payload_too_large`.
    pub error: String,
    /// What is wrong, for a person.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self { error: error.to_owned(), message: message.into(), field: None }
    }
}

/// Parses and validates a `/track` body.
pub fn parse_batch(body: &[u8], limits: &Limits) -> Result<ValidBatch, TrackError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(TrackError::EmptyBody);
    }
    let request: TrackRequest = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => TrackError::InvalidShape(e.to_string()),
        _ => TrackError::MalformedJson(e.to_string()),
    })?;
    validate(request, limits)
}

pub fn validate(request: TrackRequest, limits: &Limits) -> Result<ValidBatch, TrackError> {
    let site = required("site", request.site)?;
    check_len("site", &site, limits.max_site_chars)?;
    if !site.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(TrackError::field("site", "may contain only letters, digits, '.', '-' and '_'"));
    }

    let session_id = required("sid", request.sid)?;
    check_client_id("sid", &session_id, SESSION_ID_CHARS)?;

    let events = request.events.ok_or_else(|| TrackError::field("events", "is required"))?;
    if events.is_empty() {
        return Err(TrackError::field("events", "must hold at least one event"));
    }
    if events.len() > limits.max_events {
        return Err(TrackError::field(
            "events",
            format!("holds {} events; at most {} are allowed", events.len(), limits.max_events),
        ));
    }
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| validate_event(&format!("events[{i}]"), event, limits))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(ValidBatch { site, session_id, events })
}

fn validate_event(path: &str, event: TrackEvent, limits: &Limits) -> Result<ValidEvent, TrackError> {
    let at = |name: &str| format!("{path}.{name}");
    let kind_text = required(&at("kind"), event.kind)?;
    let kind = EventKind::parse(&kind_text)
        .ok_or_else(|| TrackError::field(at("kind"), "must be one of pageview, event, engagement"))?;

    let url = required(&at("url"), event.url)?;
    check_len(&at("url"), &url, limits.max_url_chars)?;
    let page = parse_page_url(&url, limits).map_err(|reason| TrackError::field(at("url"), reason))?;

    if let Some(id) = &event.id {
        check_client_id(&at("id"), id, EVENT_ID_CHARS)?;
    }

    let mut valid = ValidEvent { kind, page, props: "{}".to_owned(), client_id: event.id, ..ValidEvent::default() };
    match kind {
        EventKind::Pageview => {
            if let Some(referrer) = event.referrer.filter(|r| !r.is_empty()) {
                check_len(&at("referrer"), &referrer, limits.max_url_chars)?;
                // A referrer that does not parse is browser noise, not a reason to lose the page view.
                if let Some((stored, host)) = reduce_referrer(&referrer) {
                    valid.referrer = stored;
                    valid.referrer_host = host;
                }
            }
            let title = event.title.unwrap_or_default();
            check_len(&at("title"), &title, limits.max_title_chars)?;
            valid.title = title;
            let width = event.screen_width.unwrap_or(0);
            if width > limits.max_screen_width {
                return Err(TrackError::field(
                    at("screen_width"),
                    format!("must be at most {}", limits.max_screen_width),
                ));
            }
            valid.screen_width = u16::try_from(width).unwrap_or(u16::MAX);
            let language = event.language.unwrap_or_default();
            check_len(&at("language"), &language, limits.max_language_chars)?;
            if !language.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(TrackError::field(at("language"), "must be a language tag such as en-US"));
            }
            valid.language = language;
        }
        EventKind::Event => {
            let name = required(&at("name"), event.name)?;
            check_len(&at("name"), &name, limits.max_event_name_chars)?;
            valid.event_name = name;
            if let Some(props) = event.props {
                valid.props = validate_props(&at("props"), props, limits)?;
            }
        }
        EventKind::Engagement => {
            let engaged = event.engaged_ms.ok_or_else(|| TrackError::field(at("engaged_ms"), "is required"))?;
            if engaged > limits.max_engaged_ms {
                return Err(TrackError::field(at("engaged_ms"), format!("must be at most {}", limits.max_engaged_ms)));
            }
            valid.engaged_ms = u32::try_from(engaged).unwrap_or(u32::MAX);
        }
    }
    Ok(valid)
}

fn validate_props(path: &str, props: Map<String, Value>, limits: &Limits) -> Result<String, TrackError> {
    if props.len() > limits.max_props {
        return Err(TrackError::field(
            path,
            format!("holds {} props; at most {} are allowed", props.len(), limits.max_props),
        ));
    }
    for (key, value) in &props {
        if key.is_empty() || key.chars().count() > limits.max_prop_key_chars {
            return Err(TrackError::field(
                path,
                format!("prop names must be 1 to {} characters", limits.max_prop_key_chars),
            ));
        }
        match value {
            Value::String(s) if s.chars().count() > limits.max_prop_value_chars => {
                return Err(TrackError::field(
                    format!("{path}.{key}"),
                    format!("is longer than {} characters", limits.max_prop_value_chars),
                ));
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            _ => return Err(TrackError::field(format!("{path}.{key}"), "must be a string, number or boolean")),
        }
    }
    Ok(Value::Object(props).to_string())
}

/// Reduces a page URL to its stored form and pulls out the UTM parameters.
pub fn parse_page_url(raw: &str, limits: &Limits) -> Result<PageUrl, String> {
    let url = Url::parse(raw).map_err(|e| format!("is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_owned());
    }
    let hostname = url.host_str().filter(|h| !h.is_empty()).ok_or("must have a host")?.to_owned();

    let mut utm = Utm::default();
    for (key, value) in url.query_pairs() {
        let slot = match key.as_ref() {
            "utm_source" => &mut utm.source,
            "utm_medium" => &mut utm.medium,
            "utm_campaign" => &mut utm.campaign,
            "utm_term" => &mut utm.term,
            "utm_content" => &mut utm.content,
            _ => continue,
        };
        if slot.is_empty() {
            *slot = value.chars().take(limits.max_utm_chars).collect();
        }
    }

    let mut stored = url.clone();
    stored.set_query(None);
    Ok(PageUrl { url: stored.to_string(), hostname, pathname: url.path().to_owned(), utm })
}

/// A referrer keeps only scheme, host and path. Returns `None` for anything that is not an http(s) URL.
fn reduce_referrer(raw: &str) -> Option<(String, String)> {
    let mut url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_owned();
    url.set_query(None);
    url.set_fragment(None);
    Some((url.to_string(), host))
}

fn required(field: &str, value: Option<String>) -> Result<String, TrackError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(TrackError::field(field, "is required")),
    }
}

/// An id the client chose: `min..=max` characters from `[A-Za-z0-9_-]`.
pub(crate) fn check_client_id(field: &str, id: &str, (min, max): (usize, usize)) -> Result<(), TrackError> {
    if !(min..=max).contains(&id.len()) || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
        return Err(TrackError::field(field, format!("must be {min} to {max} characters from [A-Za-z0-9_-]")));
    }
    Ok(())
}

fn check_len(field: &str, value: &str, max_chars: usize) -> Result<(), TrackError> {
    if value.chars().count() > max_chars {
        return Err(TrackError::field(field, format!("is longer than {max_chars} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<ValidBatch, TrackError> {
        parse_batch(body.as_bytes(), &Limits::default())
    }

    fn field_error(body: &str) -> String {
        match parse(body) {
            Err(TrackError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    const PAGEVIEW: &str = r#"{"site":"example.com","sid":"Ab3dEf6hIj9kLm2n","events":[{"kind":"pageview",
        "url":"https://Example.com/pricing?email=a%40b.c&utm_source=news&utm_campaign=fall#plans",
        "referrer":"https://www.google.com/search?q=secret","title":"Pricing","screen_width":1280,"language":"en-US","ts":1}]}"#;

    #[test]
    fn a_pageview_is_reduced_to_what_may_be_stored() {
        let batch = parse(PAGEVIEW).expect("valid");
        assert_eq!(batch.site, "example.com");
        assert_eq!(batch.session_id, "Ab3dEf6hIj9kLm2n");
        let event = &batch.events[0];
        assert_eq!(event.kind, EventKind::Pageview);
        assert_eq!(event.page.url, "https://example.com/pricing#plans");
        assert_eq!(event.page.hostname, "example.com");
        assert_eq!(event.page.pathname, "/pricing");
        assert_eq!(event.page.utm.source, "news");
        assert_eq!(event.page.utm.campaign, "fall");
        assert_eq!(event.referrer, "https://www.google.com/search");
        assert_eq!(event.referrer_host, "www.google.com");
        assert_eq!((event.title.as_str(), event.screen_width, event.language.as_str()), ("Pricing", 1280, "en-US"));
    }

    #[test]
    fn query_parameters_other_than_utm_never_survive() {
        let batch = parse(PAGEVIEW).expect("valid");
        assert!(!batch.events[0].page.url.contains("email"), "{}", batch.events[0].page.url);
        assert!(!batch.events[0].referrer.contains("secret"));
    }

    #[test]
    fn a_custom_event_keeps_its_name_and_props_as_json_text() {
        let batch = parse(r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"event","url":"http://s/x","name":"signup","props":{"plan":"pro","seats":3,"trial":true}}]}"#)
            .expect("valid");
        let event = &batch.events[0];
        assert_eq!(event.event_name, "signup");
        let props: Value = serde_json::from_str(&event.props).expect("props are JSON");
        assert_eq!(props, serde_json::json!({"plan":"pro","seats":3,"trial":true}));
    }

    #[test]
    fn an_engagement_event_carries_its_visible_time() {
        let batch = parse(
            r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"engagement","url":"http://s/x","engaged_ms":4200}]}"#,
        )
        .expect("valid");
        assert_eq!(batch.events[0].engaged_ms, 4200);
        assert_eq!(batch.events[0].props, "{}");
    }

    #[test]
    fn an_unparsable_referrer_becomes_a_direct_visit() {
        let batch = parse(r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"http://s/","referrer":"android-app://x"}]}"#)
            .expect("valid");
        assert_eq!((batch.events[0].referrer.as_str(), batch.events[0].referrer_host.as_str()), ("", ""));
    }

    #[test]
    fn bytes_that_are_not_json_are_a_400() {
        for body in ["", "   ", "garbage", "{\"site\":", "\u{0}\u{1}"] {
            let error = parse(body).expect_err(body);
            assert_eq!(error.status(), 400, "{body:?} gave {error:?}");
        }
    }

    #[test]
    fn json_of_the_wrong_shape_is_a_422() {
        for body in [
            "[]",
            "42",
            "\"text\"",
            r#"{"site":1}"#,
            r#"{"events":{}}"#,
            r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"http://s/","screen_width":-1}]}"#,
        ] {
            let error = parse(body).expect_err(body);
            assert_eq!((error.status(), error.code()), (422, "invalid_shape"), "{body}");
        }
    }

    #[test]
    fn every_field_rule_names_its_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"sid":"abcdefgh","events":[]}"#, "site"),
            (r#"{"site":"ex ample","sid":"abcdefgh","events":[]}"#, "site"),
            (r#"{"site":"s","events":[]}"#, "sid"),
            (r#"{"site":"s","sid":"short","events":[]}"#, "sid"),
            (r#"{"site":"s","sid":"abcdefg!","events":[]}"#, "sid"),
            (r#"{"site":"s","sid":"abcdefgh"}"#, "events"),
            (r#"{"site":"s","sid":"abcdefgh","events":[]}"#, "events"),
            (r#"{"site":"s","sid":"abcdefgh","events":[{"url":"http://s/"}]}"#, "events[0].kind"),
            (r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"click","url":"http://s/"}]}"#, "events[0].kind"),
            (r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview"}]}"#, "events[0].url"),
            (r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"/relative"}]}"#, "events[0].url"),
            (r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"ftp://s/"}]}"#, "events[0].url"),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"http://s/","screen_width":99999}]}"#,
                "events[0].screen_width",
            ),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"http://s/","language":"en US;"}]}"#,
                "events[0].language",
            ),
            (r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"event","url":"http://s/"}]}"#, "events[0].name"),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"event","url":"http://s/","name":"n","props":{"a":{"nested":1}}}]}"#,
                "events[0].props.a",
            ),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"event","url":"http://s/","name":"n","props":{"a":null}}]}"#,
                "events[0].props.a",
            ),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"engagement","url":"http://s/"}]}"#,
                "events[0].engaged_ms",
            ),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"engagement","url":"http://s/","engaged_ms":90000000}]}"#,
                "events[0].engaged_ms",
            ),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"http://s/","id":""}]}"#,
                "events[0].id",
            ),
            (
                r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview","url":"http://s/","id":"Ab3dEf6hIj9kLm2n!"}]}"#,
                "events[0].id",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(field_error(body), *field, "{body}");
        }
    }

    #[test]
    fn lengths_are_capped_per_field() {
        let limits = Limits::default();
        let long_url = format!("http://s/{}", "a".repeat(limits.max_url_chars));
        let long_title = "t".repeat(limits.max_title_chars + 1);
        let long_name = "n".repeat(limits.max_event_name_chars + 1);
        let many_props: Map<String, Value> =
            (0..=limits.max_props).map(|i| (format!("k{i}"), Value::from(i))).collect();
        let long_value = "v".repeat(limits.max_prop_value_chars + 1);
        let cases = [
            (
                format!(r#"{{"site":"s","sid":"abcdefgh","events":[{{"kind":"pageview","url":"{long_url}"}}]}}"#),
                "events[0].url",
            ),
            (
                format!(
                    r#"{{"site":"s","sid":"abcdefgh","events":[{{"kind":"pageview","url":"http://s/","title":"{long_title}"}}]}}"#
                ),
                "events[0].title",
            ),
            (
                format!(
                    r#"{{"site":"s","sid":"abcdefgh","events":[{{"kind":"event","url":"http://s/","name":"{long_name}"}}]}}"#
                ),
                "events[0].name",
            ),
            (
                format!(
                    r#"{{"site":"s","sid":"abcdefgh","events":[{{"kind":"event","url":"http://s/","name":"n","props":{}}}]}}"#,
                    Value::Object(many_props)
                ),
                "events[0].props",
            ),
            (
                format!(
                    r#"{{"site":"s","sid":"abcdefgh","events":[{{"kind":"event","url":"http://s/","name":"n","props":{{"k":"{long_value}"}}}}]}}"#
                ),
                "events[0].props.k",
            ),
        ];
        for (body, field) in &cases {
            assert_eq!(field_error(body), *field);
        }
    }

    #[test]
    fn a_batch_over_the_event_limit_is_refused() {
        let event = r#"{"kind":"pageview","url":"http://s/"}"#;
        let events = vec![event; Limits::default().max_events + 1].join(",");
        assert_eq!(field_error(&format!(r#"{{"site":"s","sid":"abcdefgh","events":[{events}]}}"#)), "events");
        let events = vec![event; Limits::default().max_events].join(",");
        assert!(parse(&format!(r#"{{"site":"s","sid":"abcdefgh","events":[{events}]}}"#)).is_ok());
    }

    #[test]
    fn error_bodies_say_what_is_wrong() {
        let error = parse(r#"{"site":"s","sid":"abcdefgh","events":[{"kind":"pageview"}]}"#).expect_err("invalid");
        let body = serde_json::to_value(error.body()).expect("serializes");
        assert_eq!(body["error"], "invalid_field");
        assert_eq!(body["field"], "events[0].url");
        assert_eq!(body["message"], "events[0].url: is required");
    }

    fn with_id(id: &str) -> String {
        format!(r#"{{"site":"s","sid":"abcdefgh","events":[{{"kind":"pageview","url":"http://s/","id":"{id}"}}]}}"#)
    }

    #[test]
    fn a_well_formed_event_id_travels_with_the_event() {
        for id in ["Ab3dEf6hIj9kLm2n", "0123456789abcdef", &"a-_Z".repeat(16)] {
            let batch = parse(&with_id(id)).expect(id);
            assert_eq!(batch.events[0].client_id.as_deref(), Some(id));
        }
    }

    #[test]
    fn an_event_id_of_the_wrong_shape_is_a_422_naming_it() {
        let (min, max) = EVENT_ID_CHARS;
        for id in
            ["a".repeat(min - 1), "a".repeat(max + 1), "Ab3dEf6h Ij9kLm2n".to_owned(), "Ab3dEf6hIj9kLm2né".to_owned()]
        {
            let error = parse(&with_id(&id)).expect_err(&id);
            assert_eq!(error.status(), 422);
            assert_eq!(error.body().field.as_deref(), Some("events[0].id"), "{id}");
        }
    }

    #[test]
    fn events_from_older_snippets_without_an_id_and_with_a_client_ts_are_accepted() {
        let batch = parse(PAGEVIEW).expect("valid");
        assert!(PAGEVIEW.contains(r#""ts":1"#) && !PAGEVIEW.contains(r#""id""#));
        assert_eq!(batch.events[0].client_id, None);
    }

    /// The smallest valid event of a kind, as a JSON object.
    fn minimal_event(kind: EventKind) -> Map<String, Value> {
        let mut event = serde_json::json!({"kind": kind.as_str(), "url": "http://s/"});
        for field in kind_fields(kind).1 {
            event[*field] = match *field {
                "name" => Value::from("n"),
                "engaged_ms" => Value::from(1),
                other => panic!("add an example value for {other}"),
            };
        }
        let Value::Object(event) = event else { unreachable!() };
        event
    }

    #[test]
    fn each_kind_requires_exactly_the_fields_the_schema_names() {
        for kind in EVENT_KINDS {
            let batch = |event: &Map<String, Value>| {
                serde_json::json!({"site": "s", "sid": "abcdefgh", "events": [event]}).to_string()
            };
            let event = minimal_event(kind);
            assert!(parse(&batch(&event)).is_ok(), "{kind:?}");
            for field in kind_fields(kind).1 {
                let mut without = event.clone();
                without.remove(*field);
                assert_eq!(field_error(&batch(&without)), format!("events[0].{field}"), "{kind:?}");
            }
        }
    }

    fn track_request_schema() -> Value {
        let (_, schema) = crate::contract::json_schemas()
            .into_iter()
            .find(|(name, _)| *name == "track-request.schema.json")
            .expect("the /track contract is generated");
        schema.to_value()
    }

    #[test]
    fn every_event_field_belongs_to_all_kinds_or_to_exactly_one() {
        let schema = track_request_schema();
        let properties = schema["$defs"]["TrackEvent"]["properties"].as_object().expect("properties");
        for field in properties.keys() {
            let kinds = EVENT_KINDS.iter().filter(|&&kind| kind_fields(kind).0.contains(&field.as_str())).count();
            let expected = if ["kind", "url", "id"].contains(&field.as_str()) { 0 } else { 1 };
            assert_eq!(kinds, expected, "{field} must be common to every kind or belong to exactly one");
        }
    }

    /// Every string a schema allows through `const` or `enum`, however nested.
    fn allowed_strings(schema: &Value, into: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("const", Value::String(text)) => into.push(text.clone()),
                        ("enum", Value::Array(texts)) => {
                            into.extend(texts.iter().filter_map(Value::as_str).map(str::to_owned))
                        }
                        _ => allowed_strings(value, into),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| allowed_strings(item, into)),
            _ => {}
        }
    }

    #[test]
    fn the_per_kind_rules_cover_every_kind_the_schema_allows() {
        let schema = track_request_schema();
        let mut allowed = Vec::new();
        allowed_strings(&schema["$defs"]["TrackEvent"]["properties"]["kind"], &mut allowed);
        allowed.sort();
        let mut ruled: Vec<String> = EVENT_KINDS.iter().map(|kind| kind.as_str().to_owned()).collect();
        ruled.sort();
        assert_eq!(allowed, ruled);
        assert_eq!(schema["$defs"]["TrackEvent"]["allOf"].as_array().map(Vec::len), Some(EVENT_KINDS.len()));
        assert!(allowed.iter().all(|text| EventKind::parse(text).is_some()));
    }

    #[test]
    fn the_schema_states_the_default_limits() {
        let limits = Limits::default();
        let schema = track_request_schema();
        let request = &schema["properties"];
        let event = &schema["$defs"]["TrackEvent"]["properties"];
        let props = &event["props"];
        let stated: [(&str, &Value, u64); 15] = [
            ("events.maxItems", &request["events"]["maxItems"], limits.max_events as u64),
            ("site.maxLength", &request["site"]["maxLength"], limits.max_site_chars as u64),
            ("sid.minLength", &request["sid"]["minLength"], SESSION_ID_CHARS.0 as u64),
            ("sid.maxLength", &request["sid"]["maxLength"], SESSION_ID_CHARS.1 as u64),
            ("url.maxLength", &event["url"]["maxLength"], limits.max_url_chars as u64),
            ("referrer.maxLength", &event["referrer"]["maxLength"], limits.max_url_chars as u64),
            ("title.maxLength", &event["title"]["maxLength"], limits.max_title_chars as u64),
            ("language.maxLength", &event["language"]["maxLength"], limits.max_language_chars as u64),
            ("screen_width.maximum", &event["screen_width"]["maximum"], limits.max_screen_width),
            ("name.maxLength", &event["name"]["maxLength"], limits.max_event_name_chars as u64),
            ("props.maxProperties", &props["maxProperties"], limits.max_props as u64),
            ("props names maxLength", &props["propertyNames"]["maxLength"], limits.max_prop_key_chars as u64),
            ("engaged_ms.maximum", &event["engaged_ms"]["maximum"], limits.max_engaged_ms),
            ("id.minLength", &event["id"]["minLength"], EVENT_ID_CHARS.0 as u64),
            ("id.maxLength", &event["id"]["maxLength"], EVENT_ID_CHARS.1 as u64),
        ];
        for (what, value, limit) in stated {
            assert_eq!(value.as_u64(), Some(limit), "{what}");
        }
        let string_values = props["additionalProperties"]["anyOf"]
            .as_array()
            .and_then(|types| types.iter().find(|t| t["type"] == "string"))
            .expect("string prop values");
        assert_eq!(string_values["maxLength"].as_u64(), Some(limits.max_prop_value_chars as u64));
    }

    #[test]
    fn the_schema_requires_what_validation_requires_and_forbids_unknown_fields() {
        let schema = track_request_schema();
        assert_eq!(schema["required"], serde_json::json!(["site", "sid", "events"]));
        assert_eq!(schema["$defs"]["TrackEvent"]["required"], serde_json::json!(["kind", "url", "id"]));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["TrackEvent"]["additionalProperties"], false);
        let nullable = schema.to_string().contains(r#""null""#);
        assert!(!nullable, "a field the snippet leaves out is absent, never null");
    }
}
