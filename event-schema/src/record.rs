//! Session recording: what the recorder posts to `POST /record`, its validation, and the stored chunk row.
//!
//! One request carries one chunk: the body is the chunk's bytes exactly as the recorder produced them (a
//! gzip member of a JSON array of rrweb events, or that JSON itself where the browser has no
//! `CompressionStream`), and the envelope travels in the query string, so neither side ever base64-encodes
//! in the browser or inflates at the edge:
//!
//! ```text
//! POST /record?site=example.com&sid=Ab3dEf6hIj9kLm2n&tab=Qw3rTy6uIo9pAs2d&seq=0&part=0&parts=1
//!     &first=1732300000000&last=1732300004980&n=57&raw=48213&size=9120&enc=gzip&full=1&fin=0
//!     &url=https%3A%2F%2Fexample.com%2Fpricing&dropped=too_large:1
//! Content-Type: text/plain            (a CORS-safelisted type: no preflight, and sendBeacon can send it)
//! <9120 bytes>
//! ```
//!
//! A chunk is at most [`RecordLimits::max_chunk_bytes`] (64 KiB): it then fits the browser's shared 64 KiB
//! keepalive budget for the page-hide flush, a Cloudflare Queues message after base64 (128 KB), and far
//! below Kafka's default 1 MiB record. A batch larger than that is cut into `parts` of one `seq`, whose
//! bytes are concatenated in `part` order before inflating.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::track::{check_client_id, parse_page_url, Limits, TrackError, SESSION_ID_CHARS};

/// Bounds of one chunk envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLimits {
    /// Largest body, in bytes.
    pub max_chunk_bytes: u64,
    /// Largest declared uncompressed size, in bytes: a compression ratio beyond ~250 is not rrweb JSON.
    pub max_raw_bytes: u64,
    /// Sequence numbers per tab run from 0 to this (a tab that records for days stops here).
    pub max_seq: u64,
    pub max_parts: u64,
    pub max_events: u64,
    /// How far the recorder's clock may be from the server's, in ms, for `first`/`last`.
    pub max_clock_skew_ms: u64,
}

impl RecordLimits {
    pub const DEFAULT: RecordLimits = RecordLimits {
        max_chunk_bytes: 65_536,
        max_raw_bytes: 16_777_216,
        max_seq: 1_000_000,
        max_parts: 256,
        max_events: 1_000_000,
        max_clock_skew_ms: 86_400_000,
    };
}

impl Default for RecordLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How a chunk's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ChunkEncoding {
    /// A gzip member (the browser's `CompressionStream("gzip")`).
    Gzip,
    /// The JSON text itself, from browsers without `CompressionStream`.
    Identity,
}

/// Why the recorder left events out, reported in the next chunk it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum DropReason {
    /// One event larger than the recorder will ever send.
    TooLarge,
    /// More events per second than the recorder keeps (e.g. a mutation storm).
    Throttled,
    /// A chunk the browser could not send (and would not retry).
    SendFailed,
}

/// A chunk envelope that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidChunk {
    pub site: String,
    pub session_id: String,
    pub tab_id: String,
    pub seq: u32,
    pub part: u16,
    pub parts: u16,
    pub first_ts_ms: u64,
    pub last_ts_ms: u64,
    pub event_count: u32,
    pub raw_bytes: u32,
    pub compressed_bytes: u32,
    pub encoding: ChunkEncoding,
    pub full_snapshot: bool,
    pub is_final: bool,
    /// Page URL reduced as for page views (no query string but `utm_*`, no credentials).
    pub url: String,
    pub hostname: String,
    pub pathname: String,
    /// JSON object of drop reason to count, `{}` when none.
    pub dropped: String,
}

/// Parses and validates the query string of `POST /record` against the body's real length.
/// `now_ms` bounds the recorder's timestamps (a clock more than a day off is refused).
pub fn parse_chunk(query: &str, body_len: usize, now_ms: u64, limits: &RecordLimits) -> Result<ValidChunk, TrackError> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if params.insert(key.to_string(), value.to_string()).is_some() {
            return Err(TrackError::field(key, "is given more than once"));
        }
    }
    let text = |name: &str| -> Result<String, TrackError> {
        params.get(name).filter(|v| !v.is_empty()).cloned().ok_or_else(|| TrackError::field(name, "is required"))
    };
    let number = |name: &str, max: u64| -> Result<u64, TrackError> {
        let raw = text(name)?;
        match raw.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(TrackError::field(name, format!("must be a whole number from 0 to {max}"))),
        }
    };
    let flag = |name: &str| -> Result<bool, TrackError> {
        match params.get(name).map(String::as_str) {
            None | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(_) => Err(TrackError::field(name, "must be 0 or 1")),
        }
    };

    let page_limits = Limits::DEFAULT;
    let site = text("site")?;
    if site.chars().count() > page_limits.max_site_chars
        || !site.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(TrackError::field("site", "must be 1 to 100 characters from [A-Za-z0-9._-]"));
    }
    let session_id = text("sid")?;
    check_client_id("sid", &session_id, SESSION_ID_CHARS)?;
    let tab_id = text("tab")?;
    check_client_id("tab", &tab_id, SESSION_ID_CHARS)?;

    let seq = number("seq", limits.max_seq)?;
    let parts = number("parts", limits.max_parts)?;
    if parts == 0 {
        return Err(TrackError::field("parts", "must be at least 1"));
    }
    let part = number("part", limits.max_parts)?;
    if part >= parts {
        return Err(TrackError::field("part", "must be below parts"));
    }

    let earliest = now_ms.saturating_sub(limits.max_clock_skew_ms);
    let latest = now_ms.saturating_add(limits.max_clock_skew_ms);
    let first_ts_ms = number("first", u64::MAX)?;
    let last_ts_ms = number("last", u64::MAX)?;
    if !(earliest..=latest).contains(&first_ts_ms) {
        return Err(TrackError::field("first", "must be a unix time in ms within a day of the server's clock"));
    }
    if !(first_ts_ms..=latest).contains(&last_ts_ms) {
        return Err(TrackError::field("last", "must not be before first, nor more than a day ahead"));
    }

    let event_count = number("n", limits.max_events)?;
    let raw_bytes = number("raw", limits.max_raw_bytes)?;
    let size = number("size", limits.max_chunk_bytes)?;
    if size != body_len as u64 {
        return Err(TrackError::field("size", format!("declares {size} bytes but the body has {body_len}")));
    }
    if size == 0 {
        return Err(TrackError::field("size", "must be at least 1: an empty chunk is never sent"));
    }
    let encoding: ChunkEncoding =
        text("enc")?.parse().map_err(|_| TrackError::field("enc", "must be gzip or identity"))?;
    if encoding == ChunkEncoding::Identity && parts == 1 && raw_bytes != size {
        return Err(TrackError::field("raw", "must equal size for an uncompressed chunk"));
    }

    let url = text("url")?;
    if url.chars().count() > page_limits.max_url_chars {
        return Err(TrackError::field("url", format!("is longer than {} characters", page_limits.max_url_chars)));
    }
    let page = parse_page_url(&url, &page_limits).map_err(|reason| TrackError::field("url", reason))?;

    let dropped = parse_dropped(params.get("dropped").map(String::as_str).unwrap_or(""))?;
    let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(ValidChunk {
        site,
        session_id,
        tab_id,
        seq: narrow(seq),
        part: u16::try_from(part).unwrap_or(u16::MAX),
        parts: u16::try_from(parts).unwrap_or(u16::MAX),
        first_ts_ms,
        last_ts_ms,
        event_count: narrow(event_count),
        raw_bytes: narrow(raw_bytes),
        compressed_bytes: narrow(size),
        encoding,
        full_snapshot: flag("full")?,
        is_final: flag("fin")?,
        url: page.url,
        hostname: page.hostname,
        pathname: page.pathname,
        dropped,
    })
}

/// `reason:count,reason:count` (reasons from [`DropReason`]) into a JSON object text.
fn parse_dropped(text: &str) -> Result<String, TrackError> {
    let mut counts = serde_json::Map::new();
    for item in text.split(',').filter(|item| !item.is_empty()) {
        let invalid = || TrackError::field("dropped", "must be reason:count pairs, e.g. too_large:1,throttled:20");
        let (reason, count) = item.split_once(':').ok_or_else(invalid)?;
        let reason: DropReason = reason.parse().map_err(|_| invalid())?;
        let count: u32 = count.parse().map_err(|_| invalid())?;
        counts.insert(<&str>::from(reason).to_owned(), count.into());
    }
    Ok(serde_json::Value::Object(counts).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_732_300_010_000;
    const QUERY: &str = "site=example.com&sid=Ab3dEf6hIj9kLm2n&tab=Qw3rTy6uIo9pAs2d&seq=3&part=0&parts=1\
        &first=1732300000000&last=1732300004980&n=57&raw=48213&size=9120&enc=gzip&full=1&fin=0\
        &url=https%3A%2F%2Fexample.com%2Fpricing%3Femail%3Da%2540b.c%26utm_source%3Dnews&dropped=too_large:1,throttled:20";

    fn parse(query: &str, body_len: usize) -> Result<ValidChunk, TrackError> {
        parse_chunk(query, body_len, NOW, &RecordLimits::DEFAULT)
    }

    fn field_error(query: &str, body_len: usize) -> String {
        match parse(query, body_len) {
            Err(TrackError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error for {query}, got {other:?}"),
        }
    }

    #[test]
    fn a_chunk_envelope_is_read_and_its_page_reduced() {
        let chunk = parse(QUERY, 9120).expect("valid");
        assert_eq!(
            (chunk.site.as_str(), chunk.session_id.as_str(), chunk.tab_id.as_str()),
            ("example.com", "Ab3dEf6hIj9kLm2n", "Qw3rTy6uIo9pAs2d")
        );
        assert_eq!((chunk.seq, chunk.part, chunk.parts), (3, 0, 1));
        assert_eq!((chunk.first_ts_ms, chunk.last_ts_ms), (1_732_300_000_000, 1_732_300_004_980));
        assert_eq!((chunk.event_count, chunk.raw_bytes, chunk.compressed_bytes), (57, 48_213, 9_120));
        assert_eq!((chunk.encoding, chunk.full_snapshot, chunk.is_final), (ChunkEncoding::Gzip, true, false));
        assert_eq!(chunk.url, "https://example.com/pricing", "query strings never survive");
        assert_eq!(chunk.pathname, "/pricing");
        assert_eq!(chunk.dropped, r#"{"throttled":20,"too_large":1}"#);
    }

    #[test]
    fn the_declared_size_must_be_the_body_length() {
        assert_eq!(field_error(QUERY, 9119), "size");
        assert_eq!(field_error(&QUERY.replace("size=9120", "size=70000"), 70_000), "size", "over 64 KiB");
    }

    #[test]
    fn every_envelope_rule_names_its_parameter() {
        let cases = [
            ("site=example.com", "site=ex%20ample", "site"),
            ("sid=Ab3dEf6hIj9kLm2n", "sid=short", "sid"),
            ("tab=Qw3rTy6uIo9pAs2d", "tab=", "tab"),
            ("seq=3", "seq=-1", "seq"),
            ("seq=3", "seq=99999999", "seq"),
            ("part=0", "part=1", "part"),
            ("parts=1", "parts=0", "parts"),
            ("first=1732300000000", "first=1", "first"),
            ("last=1732300004980", "last=1732299999999", "last"),
            ("n=57", "n=lots", "n"),
            ("raw=48213", "raw=999999999", "raw"),
            ("enc=gzip", "enc=br", "enc"),
            ("full=1", "full=yes", "full"),
            ("fin=0", "fin=2", "fin"),
            ("url=https%3A%2F%2Fexample.com%2Fpricing", "url=ftp%3A%2F%2Fx", "url"),
            ("dropped=too_large:1,throttled:20", "dropped=gremlins:1", "dropped"),
            ("dropped=too_large:1,throttled:20", "dropped=too_large", "dropped"),
        ];
        for (good, bad, field) in cases {
            assert!(QUERY.contains(good), "{good}");
            assert_eq!(field_error(&QUERY.replacen(good, bad, 1), 9120), field, "{bad}");
        }
        assert_eq!(field_error(&format!("{QUERY}&seq=4"), 9120), "seq", "a repeated parameter");
        assert_eq!(field_error(&QUERY.replace("&n=57", ""), 9120), "n", "a missing parameter");
        assert_eq!(field_error(&QUERY.replace("enc=gzip", "enc=identity"), 9120), "raw");
    }

    #[test]
    fn a_huge_event_travels_as_parts_of_one_sequence_number() {
        let chunk = parse(&QUERY.replace("part=0&parts=1", "part=2&parts=3"), 9120).expect("valid");
        assert_eq!((chunk.part, chunk.parts), (2, 3));
    }
}

#[cfg(test)]
mod fuzz {
    //! Bounded property tests of the request parsing at the edge: whatever a client sends, parsing ends in a
    //! value or a client error (4xx), never a panic.
    use proptest::prelude::*;

    use super::*;
    use crate::track::parse_batch;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_track_body_is_parsed_or_refused_with_a_4xx(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Err(error) = parse_batch(&body, &Limits::DEFAULT) {
                prop_assert!(matches!(error.status(), 400 | 422), "{error:?}");
            }
        }

        #[test]
        fn json_shaped_track_bodies_are_parsed_or_refused_with_a_4xx(
            site in "[a-z.]{0,12}|.{0,8}", sid in "[A-Za-z0-9_-]{0,70}", kind in "pageview|event|engagement|.{0,6}",
            url in "https?://[a-z]{1,8}/[a-z?=&%]{0,20}|.{0,20}", extra in ".{0,40}", width in any::<i64>(),
        ) {
            let body = serde_json::json!({"site": site, "sid": sid, "events": [
                {"kind": kind, "url": url, "screen_width": width, "name": extra, "props": {"k": extra}, "id": extra}
            ]});
            if let Err(error) = parse_batch(body.to_string().as_bytes(), &Limits::DEFAULT) {
                prop_assert!(matches!(error.status(), 400 | 422), "{error:?}");
            }
        }

        #[test]
        fn any_chunk_envelope_is_parsed_or_refused_with_a_4xx(
            query in "([a-z]{1,6}=[A-Za-z0-9%:,._-]{0,24}&?){0,18}|.{0,200}", body_len in 0usize..100_000,
        ) {
            if let Err(error) = parse_chunk(&query, body_len, 1_732_300_000_000, &RecordLimits::DEFAULT) {
                prop_assert!(matches!(error.status(), 400 | 422), "{error:?}");
            }
        }
    }
}
