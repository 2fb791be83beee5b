//! What the browser snippet posts to `POST /track`, and its validation field by field.
//!
//! A request carries one site, one per-tab session id and a batch of events:
//!
//! ```json
//! {"site":"example.com","sid":"Ab3dEf6hIj9kLm2n","events":[
//!   {"kind":"pageview","url":"https://example.com/a?utm_source=news","referrer":"https://google.com/",
//!    "title":"A","screen_width":1280,"language":"en-US","ts":1732300000000},
//!   {"kind":"event","url":"https://example.com/a","name":"signup","props":{"plan":"pro"}},
//!   {"kind":"engagement","url":"https://example.com/a","engaged_ms":12345}]}
//! ```
//!
//! Validation is strict about shape and bounds (a clear 4xx naming the field) and strict about privacy:
//! query parameters other than `utm_*` never leave this module, because they routinely carry e-mail
//! addresses, tokens and other personal data.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::stored::EventKind;

/// Bounds applied to every request. The defaults are what the snippet is built to respect.
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

impl Default for Limits {
    fn default() -> Self {
        Self {
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
        }
    }
}

/// The request as it arrives. Every field is optional here so that validation, not serde, names what is missing.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct TrackRequest {
    pub site: Option<String>,
    pub sid: Option<String>,
    pub events: Option<Vec<TrackEvent>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct TrackEvent {
    pub kind: Option<String>,
    pub url: Option<String>,
    pub referrer: Option<String>,
    pub title: Option<String>,
    pub screen_width: Option<u64>,
    pub language: Option<String>,
    pub name: Option<String>,
    pub props: Option<Map<String, Value>>,
    pub engaged_ms: Option<u64>,
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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        TrackError::InvalidField { field: field.into(), reason: reason.into() }
    }

    /// HTTP status: 400 for bytes that are not JSON, 422 for JSON that breaks the contract.
    pub fn status(&self) -> u16 {
        match self {
            TrackError::EmptyBody | TrackError::MalformedJson(_) => 400,
            TrackError::InvalidShape(_) | TrackError::InvalidField { .. } => 422,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            TrackError::EmptyBody => "empty_body",
            TrackError::MalformedJson(_) => "malformed_json",
            TrackError::InvalidShape(_) => "invalid_shape",
            TrackError::InvalidField { .. } => "invalid_field",
        }
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
    if !(8..=64).contains(&session_id.len())
        || !session_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(TrackError::field("sid", "must be 8 to 64 characters from [A-Za-z0-9_-]"));
    }

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

    let mut valid = ValidEvent { kind, page, props: "{}".to_owned(), ..ValidEvent::default() };
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
}
