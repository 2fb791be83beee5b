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

/// One recording chunk: the record value on the `session_recordings` topic and the `recording_chunks` row.
///
/// `payload` is the chunk's bytes as the recorder sent them (gzip, or JSON text), base64-encoded on the
/// topic because the Kafka engine reads JSONEachRow; the materialized view decodes it, so the table stores
/// the compressed bytes themselves. Duplicates (a resent chunk) share (site, session, tab, seq, part) and
/// collapse in the ReplacingMergeTree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "clickhouse", derive(clickhouse::Row))]
pub struct RecordingChunk {
    pub schema_version: u8,
    pub site: String,
    /// The snippet's per-tab session id (`sid`), as on page views.
    pub session_id: String,
    /// The recorder's id of the tab; sequence numbers run per tab.
    pub tab_id: String,
    /// 0, 1, 2, ... without gaps per tab; a gap in storage is a lost chunk.
    pub seq: u32,
    /// Part of a sequence number too large for one request, from 0; `parts` in all.
    pub part: u16,
    pub parts: u16,
    /// Recorder time of the first and last event in the chunk, unix ms.
    pub first_ts_ms: u64,
    pub last_ts_ms: u64,
    pub event_count: u32,
    /// Bytes of the chunk's JSON before compression, and as sent.
    pub raw_bytes: u32,
    pub compressed_bytes: u32,
    /// `gzip` or `identity`.
    pub encoding: String,
    /// 1 when the chunk holds a full DOM snapshot: playback can start there.
    pub full_snapshot: u8,
    /// 1 on the tab's last chunk (sent when the page is hidden or left).
    pub is_final: u8,
    /// JSON object of drop reason to count: what the recorder left out before this chunk.
    pub dropped: String,
    /// The page the chunk was recorded on, reduced as page-view URLs are.
    pub url: String,
    pub pathname: String,
    /// Keyed daily hash, as on page views.
    pub visitor_id: String,
    /// Server receive time, unix seconds (`DateTime`) and ms.
    pub timestamp: u32,
    pub timestamp_ms: u64,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub country: String,
    pub region: String,
    pub city: String,
    /// The chunk's bytes, base64 on the topic (see the type's docs).
    pub payload: String,
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
