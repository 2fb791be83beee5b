//! The enriched event: the record value on the `page_visits` topic and, field for field, the ClickHouse row.
//!
//! ClickHouse's Kafka engine reads the topic as `JSONEachRow`, so this must stay a flat JSON object whose
//! keys are the column names of `sql/001_page_visits.sql`: a nested object cannot go into a `String`
//! column (custom-event props travel as a JSON string), and timestamps travel as unix seconds, which every
//! ClickHouse version parses into `DateTime`. The `clickhouse` feature derives the row type for the gateway,
//! and a test there checks these fields against the live table.

use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning; stored in every row so old rows stay interpretable.
pub const SCHEMA_VERSION: u8 = 1;

/// ClickHouse column types that differ from the plain mapping of the Rust field type (see [`crate::contract`]):
/// timestamps travel as unix seconds (`u32`) and are stored as `DateTime('UTC')`.
pub const CLICKHOUSE_TYPE_OVERRIDES: &[(&str, &str)] = &[("timestamp", "DateTime('UTC')")];

/// Country code stored when the edge did not know the visitor's country (Cloudflare's own convention).
pub const UNKNOWN_COUNTRY: &str = "XX";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    #[default]
    Pageview,
    /// A custom event sent with `window.pathlight(name, props)`.
    Event,
    /// Time a page was visible, sent when the visitor leaves it.
    Engagement,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Pageview => "pageview",
            EventKind::Event => "event",
            EventKind::Engagement => "engagement",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pageview" => Some(EventKind::Pageview),
            "event" => Some(EventKind::Event),
            "engagement" => Some(EventKind::Engagement),
            _ => None,
        }
    }
}

/// One stored event. Empty strings and zeros mean "not collected" (ClickHouse columns are not Nullable).
/// Unknown fields are refused: ClickHouse's JSONEachRow fails on a key the table lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
pub struct StoredEvent {
    /// UUIDv7 text: unique, and sorts by time.
    pub event_id: String,
    pub schema_version: u8,
    /// `pageview`, `event` or `engagement`.
    pub kind: String,
    pub site: String,
    /// Per-tab id from the snippet's sessionStorage; also the record key, so a session stays in order.
    pub session_id: String,
    /// Keyed hash of (daily salt, site, IP, user agent); rotates at UTC midnight, never reversible.
    pub visitor_id: String,
    /// Server receive time, unix seconds (`DateTime`).
    pub timestamp: u32,
    /// Server receive time, unix milliseconds.
    pub timestamp_ms: u64,

    /// Page URL as stored: scheme, host, path and (when the snippet sends one) fragment; no query string.
    pub url: String,
    pub hostname: String,
    pub pathname: String,
    /// Referrer without query string or fragment; empty for direct visits.
    pub referrer: String,
    pub referrer_host: String,
    pub title: String,
    pub screen_width: u16,
    pub language: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,

    /// Custom event name; empty for other kinds.
    pub event_name: String,
    /// Custom event props as a JSON object text; `{}` when none.
    pub props: String,
    /// Visible time on the page, for `engagement` events.
    pub engaged_ms: u32,

    /// woothee's parse of the User-Agent.
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    /// woothee category: `pc`, `smartphone`, `mobilephone`, `appliance`, `misc` or `UNKNOWN`.
    pub device: String,
    pub vendor: String,

    /// Client IP as the configured IP mode allows: full, truncated (/24, /48) or empty.
    pub ip: String,
    /// ISO 3166-1 alpha-2, or [`UNKNOWN_COUNTRY`].
    pub country: String,
    pub region: String,
    pub region_code: String,
    pub city: String,
    pub continent: String,
    pub timezone: String,
    pub asn: u32,
    /// Cloudflare data centre (IATA code) that received the event.
    pub colo: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip_through_their_names() {
        for kind in [EventKind::Pageview, EventKind::Event, EventKind::Engagement] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).expect("serializes"), kind.as_str());
        }
        assert_eq!(EventKind::parse("click"), None);
    }
}
