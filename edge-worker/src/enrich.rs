//! Turns a validated batch plus what the edge knows about the request into stored events.
//!
//! Everything the worker adds lives here: browser and OS from the User-Agent, bot detection, geography from
//! `request.cf`, the client IP as the IP mode allows, the cookieless visitor id, server timestamps and event
//! ids. The clock and the randomness are parameters, so the output is a pure function of the input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use chrono::Datelike;
use event_schema::stored::UNKNOWN_COUNTRY;
use event_schema::{RecordingChunk, StoredEvent, ValidBatch, ValidChunk, SCHEMA_VERSION};
use hmac::{Hmac, Mac};
use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::config::IpMode;

/// What the request says about the visitor, beyond the body.
#[derive(Debug, Clone, Copy)]
pub struct Visitor<'a> {
    pub user_agent: &'a str,
    /// The `CF-Connecting-IP` header as received; empty when absent.
    pub client_ip: &'a str,
    /// Geography and network from Cloudflare's `request.cf`, already in the stored fields (`country`,
    /// `region`, `region_code`, `city`, `continent`, `timezone`, `asn`, `colo`; empty or zero when unknown).
    /// Every other field of it is ignored.
    pub geo: &'a StoredEvent,
}

/// User-Agent substrings of automated browsers that woothee does not classify as crawlers. Puppeteer and
/// Playwright add no token of their own: driving headless Chromium they send `HeadlessChrome`, and with a
/// spoofed or headed browser they are indistinguishable from people by User-Agent alone.
pub const AUTOMATION_MARKERS: [&str; 3] = [
    // Chrome/Chromium in headless mode (old and new), the default of Puppeteer and Playwright.
    "HeadlessChrome",
    "PhantomJS",
    // Lighthouse and PageSpeed Insights audits.
    "Chrome-Lighthouse",
];

/// Why a request counts as automated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotReason {
    EmptyUserAgent,
    /// woothee's `crawler` category: search engines, SEO tools, feed fetchers.
    Crawler,
    /// woothee's "HTTP Library" (curl, wget, Python urllib, Java, libwww-perl, PHP): never a browser running
    /// the snippet.
    HttpLibrary,
    Automation(&'static str),
}

impl BotReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BotReason::EmptyUserAgent => "empty_user_agent",
            BotReason::Crawler => "crawler",
            BotReason::HttpLibrary => "http_library",
            BotReason::Automation(marker) => marker,
        }
    }
}

/// woothee's reading of a User-Agent, in the stored field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub device: String,
    pub vendor: String,
    pub bot: Option<BotReason>,
}

/// How many User-Agent readings an isolate keeps. A visitor sends the same User-Agent on every request and an
/// isolate serves a limited mix of them, so most requests repeat one it has just read; woothee's matching
/// (regex-lite, for the bundle's size) costs tens of microseconds a parse, a hit well under one.
const USER_AGENT_CACHE_ENTRIES: NonZeroUsize = NonZeroUsize::new(1024).expect("non-zero");
/// User-Agents longer than this are read every time rather than kept, so random long headers cannot make the
/// cache hold more than about `USER_AGENT_CACHE_ENTRIES` × 512 bytes of keys.
const USER_AGENT_CACHE_MAX_LEN: usize = 512;

/// [`classify_user_agent`] through a bounded, least-recently-used cache kept per isolate.
pub fn read_user_agent(user_agent: &str) -> ClientInfo {
    static CACHE: OnceLock<Mutex<LruCache<String, ClientInfo>>> = OnceLock::new();
    if user_agent.len() > USER_AGENT_CACHE_MAX_LEN {
        return classify_user_agent(user_agent);
    }
    let cache = CACHE.get_or_init(|| Mutex::new(LruCache::new(USER_AGENT_CACHE_ENTRIES)));
    // A poisoned lock only means another reading panicked; the entries are still whole values.
    let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(hit) = cache.get(user_agent) {
        return hit.clone();
    }
    let reading = classify_user_agent(user_agent);
    cache.put(user_agent.to_owned(), reading.clone());
    reading
}

pub fn classify_user_agent(user_agent: &str) -> ClientInfo {
    let user_agent = user_agent.trim();
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    let field = |get: fn(&woothee::parser::WootheeResult) -> String| {
        parsed.as_ref().map(get).unwrap_or_else(|| "UNKNOWN".to_owned())
    };
    let device = field(|r| r.category.to_owned());
    let browser = field(|r| r.name.to_owned());
    let bot = if user_agent.is_empty() {
        Some(BotReason::EmptyUserAgent)
    } else if device == "crawler" {
        Some(BotReason::Crawler)
    } else if browser == "HTTP Library" {
        Some(BotReason::HttpLibrary)
    } else {
        AUTOMATION_MARKERS.iter().find(|m| user_agent.contains(*m)).map(|m| BotReason::Automation(m))
    };
    ClientInfo {
        browser,
        browser_version: field(|r| r.version.to_owned()),
        os: field(|r| r.os.to_owned()),
        os_version: field(|r| r.os_version.to_string()),
        device,
        vendor: field(|r| r.vendor.to_owned()),
        bot,
    }
}

/// The IP as stored under `mode`. Text that is not an IP address is never stored.
pub fn stored_ip(raw: &str, mode: IpMode) -> String {
    let Ok(ip) = raw.trim().parse::<IpAddr>() else {
        return String::new();
    };
    match (mode, ip) {
        (IpMode::Drop, _) => String::new(),
        (IpMode::Full, ip) => ip.to_string(),
        (IpMode::Truncate, IpAddr::V4(v4)) => Ipv4Addr::from(u32::from(v4) & 0xFFFF_FF00).to_string(),
        (IpMode::Truncate, IpAddr::V6(v6)) => Ipv6Addr::from(u128::from(v6) & (u128::MAX << 80)).to_string(),
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `HMAC-SHA256(secret, "YYYY-MM-DD")` of the UTC day of `received_ms`: a salt that nobody stores and that
/// changes at UTC midnight, so visitor ids cannot be linked across days.
pub fn daily_salt(secret: &str, received_ms: u64) -> [u8; 32] {
    hmac_sha256(secret.as_bytes(), &[utc_date(received_ms).as_bytes()])
}

/// Cookieless visitor id: the first 16 bytes of `HMAC-SHA256(daily_salt, site \0 ip \0 user_agent)`, hex.
/// Uses the full IP, before any truncation, so visitors behind one /24 stay apart.
pub fn visitor_id(salt: &[u8; 32], site: &str, client_ip: &str, user_agent: &str) -> String {
    let digest = hmac_sha256(salt, &[site.as_bytes(), b"\0", client_ip.as_bytes(), b"\0", user_agent.as_bytes()]);
    hex::encode(&digest[..16])
}

/// `YYYY-MM-DD` of a unix millisecond timestamp in UTC.
pub fn utc_date(unix_ms: u64) -> String {
    let millis = i64::try_from(unix_ms).unwrap_or(i64::MAX);
    // Year, month and day rather than `format("%Y-%m-%d")`: chrono's strftime parser is ~8 KB of the wasm.
    let date = chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default().date_naive();
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// The stored id of an event that carries the snippet's own id: a UUIDv8 made of
/// `SHA-256("pathlight-event" \0 site \0 session id \0 client id)`, so a browser retry, a worker retry and a
/// Kafka redelivery of the same event all carry one `event_id`, which the warehouse deduplicates on. The
/// client id is only ever hashed: it cannot choose or collide with another site's or session's ids.
pub fn derived_event_id(site: &str, session_id: &str, client_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"pathlight-event\0")
        .chain_update(site.as_bytes())
        .chain_update(b"\0")
        .chain_update(session_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(client_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// Builds one stored event per valid event. An event with the snippet's id gets [`derived_event_id`]; one
/// without (an older snippet, a server-side sender) gets a UUIDv7 from the receive time and the 10 bytes
/// `random` supplies.
pub fn enrich(
    batch: &ValidBatch,
    visitor: &Visitor<'_>,
    client: &ClientInfo,
    ip_mode: IpMode,
    salt_secret: &str,
    received_ms: u64,
    random: &mut dyn FnMut() -> [u8; 10],
) -> Vec<StoredEvent> {
    // The fields every event of the request shares; each event then adds its own.
    let shared = request_row(&batch.site, &batch.session_id, visitor, client, ip_mode, salt_secret, received_ms);
    batch
        .events
        .iter()
        .map(|event| StoredEvent {
            event_id: match &event.client_id {
                Some(client_id) => derived_event_id(&batch.site, &batch.session_id, client_id),
                None => uuid::Builder::from_unix_timestamp_millis(received_ms, &random()).into_uuid().to_string(),
            },
            kind: event.kind.as_str().to_owned(),
            url: event.page.url.clone(),
            hostname: event.page.hostname.clone(),
            pathname: event.page.pathname.clone(),
            referrer: event.referrer.clone(),
            referrer_host: event.referrer_host.clone(),
            title: event.title.clone(),
            screen_width: event.screen_width,
            language: event.language.clone(),
            utm_source: event.page.utm.source.clone(),
            utm_medium: event.page.utm.medium.clone(),
            utm_campaign: event.page.utm.campaign.clone(),
            utm_term: event.page.utm.term.clone(),
            utm_content: event.page.utm.content.clone(),
            event_name: event.event_name.clone(),
            props: event.props.clone(),
            engaged_ms: event.engaged_ms,
            ..shared.clone()
        })
        .collect()
}

/// The request-level fields of a stored row: who (visitor id, device, network, geography) and when.
fn request_row(
    site: &str,
    session_id: &str,
    visitor: &Visitor<'_>,
    client: &ClientInfo,
    ip_mode: IpMode,
    salt_secret: &str,
    received_ms: u64,
) -> StoredEvent {
    let geo = visitor.geo;
    StoredEvent {
        schema_version: SCHEMA_VERSION,
        site: site.to_owned(),
        session_id: session_id.to_owned(),
        visitor_id: visitor_id(
            &daily_salt(salt_secret, received_ms),
            site,
            visitor.client_ip.trim(),
            visitor.user_agent,
        ),
        timestamp: u32::try_from(received_ms / 1000).unwrap_or(u32::MAX),
        timestamp_ms: received_ms,
        browser: client.browser.clone(),
        browser_version: client.browser_version.clone(),
        os: client.os.clone(),
        os_version: client.os_version.clone(),
        device: client.device.clone(),
        vendor: client.vendor.clone(),
        ip: stored_ip(visitor.client_ip, ip_mode),
        country: stored_country(&geo.country),
        region: geo.region.clone(),
        region_code: geo.region_code.clone(),
        city: geo.city.clone(),
        continent: geo.continent.clone(),
        timezone: geo.timezone.clone(),
        asn: geo.asn,
        colo: geo.colo.clone(),
        ..StoredEvent::default()
    }
}

/// The stored row of one recording chunk: the envelope, the same visitor, device and geography enrichment as
/// page views (a smaller set: replay lists filter by them), and the chunk's bytes in base64 for the topic.
pub fn enrich_chunk(
    chunk: &ValidChunk,
    body: &[u8],
    visitor: &Visitor<'_>,
    client: &ClientInfo,
    salt_secret: &str,
    received_ms: u64,
) -> RecordingChunk {
    // A chunk keeps no IP, and of the request's facts only what replay lists filter by.
    let request = request_row(&chunk.site, &chunk.session_id, visitor, client, IpMode::Drop, salt_secret, received_ms);
    RecordingChunk {
        schema_version: request.schema_version,
        site: request.site,
        session_id: request.session_id,
        tab_id: chunk.tab_id.clone(),
        seq: chunk.seq,
        part: chunk.part,
        parts: chunk.parts,
        first_ts_ms: chunk.first_ts_ms,
        last_ts_ms: chunk.last_ts_ms,
        event_count: chunk.event_count,
        raw_bytes: chunk.raw_bytes,
        compressed_bytes: chunk.compressed_bytes,
        encoding: <&str>::from(chunk.encoding).to_owned(),
        full_snapshot: u8::from(chunk.full_snapshot),
        is_final: u8::from(chunk.is_final),
        dropped: chunk.dropped.clone(),
        url: chunk.url.clone(),
        pathname: chunk.pathname.clone(),
        visitor_id: request.visitor_id,
        timestamp: request.timestamp,
        timestamp_ms: request.timestamp_ms,
        browser: request.browser,
        os: request.os,
        device: request.device,
        country: request.country,
        region: request.region,
        city: request.city,
        payload: base64::engine::general_purpose::STANDARD.encode(body),
    }
}

/// ISO 3166-1 alpha-2 in upper case, or [`UNKNOWN_COUNTRY`].
fn stored_country(country: &str) -> String {
    if country.is_empty() {
        UNKNOWN_COUNTRY.to_owned()
    } else {
        country.to_ascii_uppercase()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use event_schema::{parse_batch, Limits};

    use super::*;

    pub(crate) const CHROME_DESKTOP: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    /// What Debian's Chromium 156 sends with `--headless`, measured.
    pub(crate) const HEADLESS_CHROMIUM: &str =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
    pub(crate) const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    #[test]
    fn a_cached_reading_is_the_parsers_reading() {
        let long = format!("{CHROME_DESKTOP} {}", "x".repeat(USER_AGENT_CACHE_MAX_LEN));
        for user_agent in [CHROME_DESKTOP, "curl/8.5.0", "", long.as_str()] {
            assert_eq!(read_user_agent(user_agent), classify_user_agent(user_agent), "first read of {user_agent:?}");
            assert_eq!(read_user_agent(user_agent), classify_user_agent(user_agent), "cached read of {user_agent:?}");
        }
    }

    #[test]
    fn real_user_agents_are_read_as_expected() {
        /// (user agent, browser, version, os, os version, device, vendor, bot)
        type Row = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            Option<BotReason>,
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            (CHROME_DESKTOP, "Chrome", "124.0.0.0", "Windows 10", "NT 10.0", "pc", "Google", None),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
             "Firefox", "125.0", "Linux", "UNKNOWN", "pc", "Mozilla", None),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
             "Safari", "17.4", "Mac OSX", "10.15.7", "pc", "Apple", None),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
             "Safari", "17.4", "iPhone", "17.4", "smartphone", "Apple", None),
            ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
             "Safari", "17.4", "iPad", "17.4", "smartphone", "Apple", None),
            ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
             "Chrome", "124.0.0.0", "Android", "10", "smartphone", "Google", None),
            (GOOGLEBOT, "Googlebot", "UNKNOWN", "UNKNOWN", "UNKNOWN", "crawler", "UNKNOWN", Some(BotReason::Crawler)),
            ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
             "bingbot", "UNKNOWN", "UNKNOWN", "UNKNOWN", "crawler", "UNKNOWN", Some(BotReason::Crawler)),
            ("curl/8.5.0", "HTTP Library", "curl", "UNKNOWN", "UNKNOWN", "misc", "UNKNOWN", Some(BotReason::HttpLibrary)),
            ("Python-urllib/3.11", "HTTP Library", "python", "UNKNOWN", "UNKNOWN", "misc", "UNKNOWN", Some(BotReason::HttpLibrary)),
            (HEADLESS_CHROMIUM, "Chrome", "156.0.0.0", "Linux", "UNKNOWN", "pc", "Google", Some(BotReason::Automation("HeadlessChrome"))),
            ("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
             "Safari", "UNKNOWN", "Linux", "UNKNOWN", "pc", "Apple", Some(BotReason::Automation("PhantomJS"))),
            ("", "UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN", Some(BotReason::EmptyUserAgent)),
        ];
        for &(ua, browser, version, os, os_version, device, vendor, bot) in table {
            let info = classify_user_agent(ua);
            let expected = ClientInfo {
                browser: browser.to_owned(),
                browser_version: version.to_owned(),
                os: os.to_owned(),
                os_version: os_version.to_owned(),
                device: device.to_owned(),
                vendor: vendor.to_owned(),
                bot,
            };
            assert_eq!(info, expected, "{ua}");
        }
    }

    #[test]
    fn ips_are_stored_truncated_in_full_or_not_at_all() {
        let cases = [
            ("203.0.113.77", IpMode::Truncate, "203.0.113.0"),
            ("2001:db8:1:2:3:4:5:6", IpMode::Truncate, "2001:db8:1::"),
            ("2001:DB8:1::ff", IpMode::Full, "2001:db8:1::ff"),
            ("203.0.113.77", IpMode::Full, "203.0.113.77"),
            (" 203.0.113.77 ", IpMode::Truncate, "203.0.113.0"),
            ("203.0.113.77", IpMode::Drop, ""),
            ("2001:db8::1", IpMode::Drop, ""),
            ("", IpMode::Full, ""),
            ("not-an-ip", IpMode::Full, ""),
            ("203.0.113.77, 10.0.0.1", IpMode::Full, ""),
        ];
        for (raw, mode, stored) in cases {
            assert_eq!(stored_ip(raw, mode), stored, "{raw} {mode:?}");
        }
    }

    #[test]
    fn utc_dates_are_calendar_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(1_709_251_199_999), "2024-02-29");
        assert_eq!(utc_date(1_709_251_200_000), "2024-03-01");
        assert_eq!(utc_date(4_102_444_800_000), "2100-01-01");
        assert_eq!(utc_date(u64::MAX), "1970-01-01", "out of chrono's range falls back to the epoch, never panics");
    }

    #[test]
    fn the_salt_rotates_exactly_at_utc_midnight() {
        let midnight_ms = 1_732_320_000_000; // 2024-11-23T00:00:00.000Z
        let secret = "0123456789abcdef";
        let last_ms_of_day = daily_salt(secret, midnight_ms - 1);
        assert_eq!(daily_salt(secret, midnight_ms - 86_400_000), last_ms_of_day, "same day, same salt");
        assert_ne!(daily_salt(secret, midnight_ms), last_ms_of_day, "23:59:59.999 and 00:00:00.000 differ");
        assert_eq!(daily_salt(secret, midnight_ms), daily_salt(secret, midnight_ms + 86_399_999));
        assert_ne!(daily_salt(secret, midnight_ms), daily_salt("another-secret-value", midnight_ms));
    }

    #[test]
    fn visitor_ids_differ_per_site_ip_and_agent_and_are_128_bit_hex() {
        let salt = daily_salt("0123456789abcdef", 0);
        let id = visitor_id(&salt, "a.com", "203.0.113.7", CHROME_DESKTOP);
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, visitor_id(&salt, "a.com", "203.0.113.7", CHROME_DESKTOP));
        assert_ne!(id, visitor_id(&salt, "b.com", "203.0.113.7", CHROME_DESKTOP));
        assert_ne!(id, visitor_id(&salt, "a.com", "203.0.113.8", CHROME_DESKTOP), "the full IP is hashed");
        assert_ne!(id, visitor_id(&salt, "a.com", "203.0.113.7", GOOGLEBOT));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(visitor_id(&salt, "ab", "c", "x"), visitor_id(&salt, "a", "bc", "x"));
    }

    #[test]
    fn enrichment_fills_every_added_field() {
        let batch = parse_batch(
            br#"{"site":"demo","sid":"Ab3dEf6hIj9kLm2n","events":[
                {"kind":"pageview","url":"http://localhost:18080/a?utm_source=news&email=x","title":"A","screen_width":1280,"language":"de-DE"},
                {"kind":"event","url":"http://localhost:18080/a","name":"signup","props":{"plan":"pro"}}]}"#,
            &Limits::default(),
        )
        .expect("valid");
        let geo = StoredEvent {
            country: "de".to_owned(),
            city: "Berlin".to_owned(),
            asn: 3320,
            colo: "FRA".to_owned(),
            // Not geography: enrichment must not take it from here.
            title: "from the geo template".to_owned(),
            ..StoredEvent::default()
        };
        let visitor = Visitor { user_agent: CHROME_DESKTOP, client_ip: "203.0.113.77", geo: &geo };
        let mut next = 0u8;
        let mut random = || {
            next += 1;
            [next; 10]
        };
        let received_ms = 1_732_300_000_123;
        let events = enrich(
            &batch,
            &visitor,
            &classify_user_agent(CHROME_DESKTOP),
            IpMode::Truncate,
            "0123456789abcdef",
            received_ms,
            &mut random,
        );

        assert_eq!(events.len(), 2);
        let first = &events[0];
        let id = uuid::Uuid::parse_str(&first.event_id).expect("uuid");
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_timestamp().map(|t| t.to_unix()), Some((1_732_300_000, 123_000_000)));
        assert_ne!(first.event_id, events[1].event_id);
        assert_eq!((first.kind.as_str(), events[1].kind.as_str()), ("pageview", "event"));
        assert_eq!((first.site.as_str(), first.session_id.as_str()), ("demo", "Ab3dEf6hIj9kLm2n"));
        assert_eq!(
            (first.timestamp, first.timestamp_ms, first.schema_version),
            (1_732_300_000, received_ms, SCHEMA_VERSION)
        );
        assert_eq!(first.url, "http://localhost:18080/a");
        assert_eq!((first.utm_source.as_str(), first.title.as_str(), first.screen_width), ("news", "A", 1280));
        assert_eq!((first.browser.as_str(), first.os.as_str(), first.device.as_str()), ("Chrome", "Windows 10", "pc"));
        assert_eq!((first.ip.as_str(), first.country.as_str(), first.city.as_str()), ("203.0.113.0", "DE", "Berlin"));
        assert_eq!((first.asn, first.colo.as_str()), (3320, "FRA"));
        assert_eq!(events[1].title, "", "only geography is taken from the request's cf fields");
        assert_eq!(
            first.visitor_id,
            visitor_id(&daily_salt("0123456789abcdef", received_ms), "demo", "203.0.113.77", CHROME_DESKTOP)
        );
        assert_eq!(events[1].visitor_id, first.visitor_id);
        assert_eq!((events[1].event_name.as_str(), events[1].props.as_str()), ("signup", r#"{"plan":"pro"}"#));
    }

    #[test]
    fn an_event_with_a_client_id_keeps_its_stored_id_across_resends() {
        let body = br#"{"site":"demo","sid":"Ab3dEf6hIj9kLm2n","events":[
            {"kind":"pageview","url":"http://localhost/a","id":"k3Jd9sLq0PzX7wEr"},
            {"kind":"pageview","url":"http://localhost/b","id":"Zz9sLq0PzX7wErk3"}]}"#;
        let batch = parse_batch(body, &Limits::default()).expect("valid");
        let geo = StoredEvent::default();
        let visitor = Visitor { user_agent: CHROME_DESKTOP, client_ip: "203.0.113.7", geo: &geo };
        let client = classify_user_agent(CHROME_DESKTOP);
        let run = |received_ms| {
            enrich(&batch, &visitor, &client, IpMode::Full, "0123456789abcdef", received_ms, &mut || {
                [received_ms as u8; 10]
            })
        };
        let (first, resent) = (run(1_732_300_000_000), run(1_732_300_005_000));
        let ids = |events: &[StoredEvent]| events.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&resent), "a resend seconds later is the same event");
        assert_ne!(first[0].event_id, first[1].event_id);
        let id = uuid::Uuid::parse_str(&first[0].event_id).expect("uuid");
        assert_eq!(id.get_version_num(), 8);
        assert_eq!(first[0].event_id, derived_event_id("demo", "Ab3dEf6hIj9kLm2n", "k3Jd9sLq0PzX7wEr"));
        // The same client id in another session or site is another event.
        assert_ne!(first[0].event_id, derived_event_id("demo", "Other6hIj9kLm2nX", "k3Jd9sLq0PzX7wEr"));
        assert_ne!(first[0].event_id, derived_event_id("other", "Ab3dEf6hIj9kLm2n", "k3Jd9sLq0PzX7wEr"));
        // Site, session and client ids are validated to [A-Za-z0-9._-], so the NUL separators are unambiguous.
        assert_ne!(derived_event_id("ab", "cdefghij", "x"), derived_event_id("a", "bcdefghij", "x"));
    }

    #[test]
    fn an_unknown_country_is_stored_as_xx() {
        let batch = parse_batch(
            br#"{"site":"demo","sid":"abcdefgh","events":[{"kind":"pageview","url":"http://localhost/"}]}"#,
            &Limits::default(),
        )
        .expect("valid");
        let geo = StoredEvent::default();
        let visitor = Visitor { user_agent: CHROME_DESKTOP, client_ip: "", geo: &geo };
        let events = enrich(
            &batch,
            &visitor,
            &classify_user_agent(CHROME_DESKTOP),
            IpMode::Full,
            "0123456789abcdef",
            0,
            &mut || [0; 10],
        );
        assert_eq!((events[0].country.as_str(), events[0].ip.as_str()), (UNKNOWN_COUNTRY, ""));
    }
}
