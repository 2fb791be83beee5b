//! `POST /topics/{topic}`: the Redpanda HTTP Proxy produce API (JSON and binary embedded formats v2), so the
//! edge worker can point at Redpanda's proxy or at this gateway without a change.
//!
//! What Redpanda's proxy does, read from its sources (`pandaproxy/rest/handlers.cc` `post_topics_name`,
//! `json/requests/produce.h`, `json/iobuf.h`, `kafka/client/client.cc` `produce_records`,
//! `parsing/httpd.h`, `error.h`, `error.cc`, `reply.h`, `server.cc`, `security/request_auth.cc`) and its
//! tests (`json/requests/test/produce.cc`, `rest/test/produce.cc`, `tests/rptest/tests/pandaproxy_test.py`),
//! and what the gateway does about each point (`tests/golden/` holds the exchanges, replayed by a test):
//!
//! - Request `Content-Type` is split on `,`, `;` and spaces; the first token that is
//!   `application/vnd.kafka.json.v2+json` or `application/vnd.kafka.binary.v2+json` picks the format, and
//!   without one the answer is 415 (`error_code` 415). An absent or `*/*` type is not enough.
//! - `Accept`, split the same way, must be absent, empty, `*/*` or `application/vnd.kafka.v2+json`,
//!   else 406 (`error_code` 406); `application/vnd.kafka.binary.v2+json` is refused too. Success bodies are
//!   `application/vnd.kafka.v2+json`; error bodies `application/json`.
//! - A body that is not JSON, or JSON of another shape (a field other than `records` / `key` / `value` /
//!   `partition`, a non-integer partition, no `records`), including an empty body, is 422
//!   `{"error_code":422,"message":"parse error at offset N"}`; the gateway appends the parser's reason.
//! - Binary format: `key` and `value` must be JSON strings holding base64 (standard alphabet; the gateway
//!   also takes it unpadded); `null` or any other JSON type is a parse error (422), as is a string that
//!   is not base64, which Redpanda reports as "parse error at offset N" and the gateway as
//!   "parse error: the value of record I is not base64: ...". The decoded bytes are written as they are.
//! - A body larger than the limit is 413. Redpanda checks the `Content-Length` before anything else and
//!   answers with no body; the gateway checks it first too, also enforces the limit on chunked bodies
//!   while reading, and always answers with a JSON error body.
//! - HTTP Basic auth failures: malformed header 400 (`40002`, "Malformed Authorization header"), unknown
//!   scheme 400 (`40002`, "Unsupported Authorization method"), missing or wrong credentials 401 (`40101`).
//!   Redpanda authenticates Basic only (its users are SASL users); the gateway also takes bearer tokens.
//! - A topic name that is not a legal Kafka name is 400 `40002` ("Invalid parameter 'topic_name' got ...").
//! - JSON format: key and value are written as the JSON text of the field, compact: a string key `"abc"`
//!   becomes the five bytes `"abc"`, quotes included; `null` becomes the four bytes `null`. A record without
//!   `value` gets a null value. Redpanda re-serializes the parsed value with rapidjson (member order kept,
//!   whitespace dropped, strings re-escaped, numbers re-printed); the gateway drops the whitespace of the
//!   text as sent and keeps the rest byte for byte. Both write the same bytes for what JSON serializers
//!   emit (serde_json, `JSON.stringify`); they differ only for hand-written escapes (`\u0041`, `\/`) and
//!   non-canonical numbers (`1.50`, `1e2`), which Redpanda normalizes and the gateway keeps.
//! - A record without `key`: Redpanda writes an empty (zero-length) key, the gateway a null key, because
//!   librdkafka hashes an empty key (sending every keyless record to one partition) but spreads null keys.
//! - Records are grouped by partition. Redpanda takes the explicit `partition`, else murmur2 of the key
//!   bytes modulo the partition count, else round robin; the gateway leaves it to librdkafka's
//!   `murmur2_random`, Java's murmur2 with the sign bit masked, which picks the same partition as Redpanda
//!   whenever the partition count is a power of two. Each partition gets one `offsets` entry:
//!   `{"partition":p,"offset":base}`, or `{"partition":p,"error_code":c,"offset":-1}` when the write
//!   failed, still with HTTP 200. Redpanda writes one batch per partition; the gateway produces record by
//!   record, so its entry carries the lowest offset of that partition's records in the request, and one
//!   failed record marks the entry failed. Entries are ordered by partition (Redpanda's order is its hash
//!   map's).
//! - An unknown topic: every record falls back to partition 0 (or its explicit partition) and the produce
//!   fails there: 200 `{"offsets":[{"partition":0,"error_code":3,"offset":-1}]}`. Topics are never created.
//!   The gateway answers so for an allowed topic the broker lacks; a topic off its allowlist is refused
//!   first, with 403 `40301` (see `topics`). Redpanda's 404 codes (`40401` topic, `40402` partition) belong
//!   to its fetch and consumer routes; on produce, an unknown topic or partition is error code 3 in a 200.
//! - `{"records":[]}` is 200 `{"offsets":[]}`, whatever allowed topic.
//! - A record over the broker's size limit: Redpanda writes the others and reports error code 10
//!   (`message_too_large`) for its partition; the gateway refuses the whole request with 413 before
//!   producing any of it, so a client never has to untangle a half-written batch.
//! - Stricter than Redpanda on purpose: records for a topic with a registered row type (the `page_visits`
//!   topic: `StoredEvent`) must each be such a row, else 422 with `error_code` 42202 naming the record, and
//!   nothing of the request is produced (see `topics`).
//! - Redpanda answers 503 with `Retry-After: 0` when shutting down; the gateway answers 503 with
//!   `Retry-After: 1` when its producer queue is full (`503`), the broker is unreachable (`50302`), it is
//!   serving its maximum of concurrent requests (`503`), or a request outlived its timeout (`50003`), and
//!   429 with the `Retry-After` its rate limiter computes when a client is over its rate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use event_schema::produce::{
    CONTENT_TYPE_BINARY_V2, CONTENT_TYPE_JSON_V2, CONTENT_TYPE_V2, UNKNOWN_TOPIC_OR_PARTITION,
};
use event_schema::{PartitionOffset, ProduceResponse};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::metrics::FailureReason;
use crate::refusal::Refusal;
use crate::sink::{SinkError, SinkRecord};
use crate::AppState;

/// The response extension naming the client a produce request came from, for the per-client counters.
#[derive(Debug, Clone)]
pub struct ClientLabel(pub Arc<str>);

/// The client label of a request refused before or at the credential check.
pub const UNAUTHENTICATED: &str = "unauthenticated";

pub async fn produce(
    State(state): State<AppState>,
    topic: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let _in_flight = state.metrics.produce_in_flight();
    let (parts, body) = request.into_parts();
    let client = match admit(&state, &parts.headers) {
        Ok(client) => client,
        Err((refusal, client)) => return with_client(refusal.into_response(), client),
    };
    let outcome = match topic {
        Ok(Path(topic)) => produce_records(&state, &topic, &parts.headers, body).await,
        Err(rejection) => Err(Refusal::InvalidTopic(rejection.body_text())),
    };
    let response = match outcome {
        Ok(offsets) => {
            let body = serde_json::to_vec(&ProduceResponse { offsets }).unwrap_or_default();
            (StatusCode::OK, [(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_V2))], body).into_response()
        }
        Err(refusal) => refusal.into_response(),
    };
    with_client(response, client)
}

fn with_client(mut response: Response, client: Arc<str>) -> Response {
    response.extensions_mut().insert(ClientLabel(client));
    response
}

/// What is checked before anything is read: the declared size, who the client is, and its rate.
fn admit(state: &AppState, headers: &HeaderMap) -> Result<Arc<str>, (Refusal, Arc<str>)> {
    let limit_bytes = state.limits.max_body_bytes;
    let unauthenticated = || Arc::from(UNAUTHENTICATED);
    if declared_length(headers).is_some_and(|length| length > limit_bytes) {
        return Err((Refusal::PayloadTooLarge { limit_bytes }, unauthenticated()));
    }
    let client = state.auth.check(headers).map_err(|error| (Refusal::from(error), unauthenticated()))?;
    if let Err(retry_after) = state.rate_limits.check(&client) {
        return Err((Refusal::RateLimited { client: client.clone(), retry_after }, client));
    }
    Ok(client)
}

async fn produce_records(
    state: &AppState,
    topic: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<PartitionOffset>, Refusal> {
    if !is_legal_topic_name(topic) {
        return Err(Refusal::InvalidTopic(topic.to_owned()));
    }
    let format = request_format(headers)?;
    let acceptable = |t: &&str| t.is_empty() || *t == "*/*" || t.eq_ignore_ascii_case(CONTENT_TYPE_V2);
    if !media_types(headers, ACCEPT).iter().any(acceptable) {
        return Err(Refusal::NotAcceptable);
    }
    if !state.topics.is_allowed(topic) {
        return Err(Refusal::ForbiddenTopic { topic: topic.to_owned() });
    }
    let body = read_body(body, state.limits.max_body_bytes).await?;
    let records = match format {
        Format::Json => parse_records(&body)?,
        Format::Binary => parse_binary_records(&body)?,
    };
    check_record_sizes(&records, state.limits.max_record_bytes)?;
    state.topics.check_records(topic, &records)?;
    if records.is_empty() {
        return Ok(Vec::new());
    }

    let count = records.len();
    let unavailable = |reason: String| Refusal::BrokerUnavailable { records: count, reason };
    if !state.sink.topic_exists(topic).await.map_err(|e| unavailable(e.to_string()))? {
        state.metrics.count_failures(topic, FailureReason::UnknownTopic, count);
        tracing::warn!(%topic, records = count, "produce to an allowed topic the broker lacks: answered error code 3");
        let failed: Vec<_> = records
            .iter()
            .map(|r| PartitionOffset::failed(r.partition.unwrap_or(0), UNKNOWN_TOPIC_OR_PARTITION))
            .collect();
        return Ok(offsets_by_partition(&failed));
    }

    let sizes: Vec<usize> = records.iter().map(SinkRecord::size).collect();
    let started = Instant::now();
    let sent = state.sink.send_batch(topic, records).await;
    state.metrics.observe_produce(topic, started.elapsed());
    let per_record = sent.map_err(|error| match error {
        SinkError::QueueFull { enqueued } => Refusal::QueueFull { records: count, enqueued },
        SinkError::Unavailable(reason) => unavailable(reason),
    })?;
    let (mut written, mut written_bytes) = (0, 0);
    for (outcome, size) in per_record.iter().zip(&sizes) {
        if !outcome.is_error() {
            written += 1;
            written_bytes += size;
        }
    }
    state.metrics.count_produced(topic, written, written_bytes);
    if written < count {
        state.metrics.count_failures(topic, FailureReason::Delivery, count - written);
        let codes: Vec<_> = per_record.iter().filter_map(|o| o.error_code.filter(|&c| c != 0)).collect();
        tracing::warn!(%topic, records = count, failed = count - written, ?codes, "records failed to produce");
    }
    Ok(offsets_by_partition(&per_record))
}

/// The two embedded formats of the produce API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Binary,
}

/// The format named by the first `Content-Type` token that names one, as Redpanda picks it.
fn request_format(headers: &HeaderMap) -> Result<Format, Refusal> {
    media_types(headers, CONTENT_TYPE)
        .into_iter()
        .find_map(|token| {
            if token.eq_ignore_ascii_case(CONTENT_TYPE_JSON_V2) {
                Some(Format::Json)
            } else if token.eq_ignore_ascii_case(CONTENT_TYPE_BINARY_V2) {
                Some(Format::Binary)
            } else {
                None
            }
        })
        .ok_or(Refusal::UnsupportedMediaType)
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
fn is_legal_topic_name(topic: &str) -> bool {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    (1..=249).contains(&topic.len()) && topic.chars().all(legal) && topic != "." && topic != ".."
}

fn check_record_sizes(records: &[SinkRecord], limit_bytes: usize) -> Result<(), Refusal> {
    match records.iter().enumerate().find(|(_, record)| record.size() > limit_bytes) {
        Some((index, record)) => Err(Refusal::RecordTooLarge { index, bytes: record.size(), limit_bytes }),
        None => Ok(()),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// The tokens of a media-type header the way Redpanda reads them: split on `,`, `;` and spaces. An absent
/// or empty header is one empty token.
fn media_types(headers: &HeaderMap, name: HeaderName) -> Vec<&str> {
    let Some(value) = headers.get(name) else { return vec![""] };
    let Ok(value) = value.to_str() else { return Vec::new() };
    let tokens: Vec<_> = value.split([',', ';', ' ']).filter(|t| !t.is_empty()).collect();
    if tokens.is_empty() {
        vec![""]
    } else {
        tokens
    }
}

async fn read_body(body: Body, limit_bytes: usize) -> Result<axum::body::Bytes, Refusal> {
    match Limited::new(body, limit_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Refusal::PayloadTooLarge { limit_bytes })
        }
        Err(error) => Err(Refusal::UnreadableBody(error.to_string())),
    }
}

/// The request as sent, borrowing each key and value as raw JSON text. Not `event_schema::ProduceRequest`:
/// its `serde_json::Value` would sort object members and respell numbers, and the bytes on the topic must
/// be the text the client sent (see the module header).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduceRequest<'a> {
    #[serde(borrow)]
    records: Vec<RawRecord<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    key: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    value: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    partition: Option<i32>,
}

/// A field that is present is `Some`, even when it is JSON `null` (a key `null` is the bytes `null`, and a
/// `partition` of `null` is malformed), unlike serde's default for `Option`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// Parses a JSON v2 produce body into the records to write.
pub fn parse_records(body: &[u8]) -> Result<Vec<SinkRecord>, Refusal> {
    let request: RawProduceRequest<'_> = serde_json::from_slice(body).map_err(|error| Refusal::InvalidJson {
        offset: byte_offset(body, error.line(), error.column()),
        reason: error.to_string(),
    })?;
    Ok(request
        .records
        .into_iter()
        .map(|record| SinkRecord {
            key: record.key.map(|raw| compact_json(raw.get())),
            value: record.value.map(|raw| compact_json(raw.get())),
            partition: record.partition,
        })
        .collect())
}

/// A binary v2 request: key and value are base64 strings. A JSON `null` is not a string, so it is refused,
/// as Redpanda refuses it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinaryProduceRequest {
    records: Vec<BinaryRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinaryRecord {
    #[serde(default, deserialize_with = "present")]
    key: Option<String>,
    #[serde(default, deserialize_with = "present")]
    value: Option<String>,
    #[serde(default, deserialize_with = "present")]
    partition: Option<i32>,
}

/// Standard base64 alphabet; padding may be left out, since many encoders do.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses a binary v2 produce body into the records to write, decoding each key and value.
pub fn parse_binary_records(body: &[u8]) -> Result<Vec<SinkRecord>, Refusal> {
    let request: BinaryProduceRequest = serde_json::from_slice(body).map_err(|error| Refusal::InvalidJson {
        offset: byte_offset(body, error.line(), error.column()),
        reason: error.to_string(),
    })?;
    let decode = |index: usize, field: &'static str, text: Option<String>| {
        text.map(|text| BASE64.decode(text)).transpose().map_err(|error| Refusal::InvalidBase64 {
            index,
            field,
            reason: error.to_string(),
        })
    };
    request
        .records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            Ok(SinkRecord {
                key: decode(index, "key", record.key)?,
                value: decode(index, "value", record.value)?,
                partition: record.partition,
            })
        })
        .collect()
}

/// `json` without the whitespace between tokens; strings (and so everything else) stay byte for byte.
/// It runs on every key and value of every request, so it copies whole runs between whitespace and jumps
/// through strings to the next quote or backslash, rather than moving byte by byte; what JSON serializers
/// emit has no such whitespace, and is then one copy.
pub fn compact_json(json: &str) -> Vec<u8> {
    let bytes = json.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut run_start, mut at) = (0, 0);
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                // To the closing quote; an unterminated string (not valid JSON) runs to the end.
                let mut close = bytes.len();
                at += 1;
                while let Some(offset) =
                    bytes.get(at..).and_then(|rest| rest.iter().position(|&b| b == b'"' || b == b'\\'))
                {
                    at += offset;
                    if bytes[at] == b'"' {
                        close = at;
                        break;
                    }
                    at += 2; // a backslash and the byte it escapes
                }
                at = (close + 1).min(bytes.len());
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&bytes[run_start..at]);
                at += 1;
                run_start = at;
            }
            _ => at += 1,
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out
}

/// serde_json reports errors by line and column; the proxy reports a byte offset.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let before: usize = body.split_inclusive(|&b| b == b'\n').take(line.saturating_sub(1)).map(<[u8]>::len).sum();
    before + column.saturating_sub(1)
}

/// Folds per-record results into one entry per partition, ascending: the lowest offset written there, or
/// the first failure (error code and offset -1) when any of that partition's records failed.
pub fn offsets_by_partition(per_record: &[PartitionOffset]) -> Vec<PartitionOffset> {
    let mut by_partition: BTreeMap<i32, PartitionOffset> = BTreeMap::new();
    for outcome in per_record {
        by_partition
            .entry(outcome.partition)
            .and_modify(|entry| {
                if outcome.is_error() && !entry.is_error() {
                    *entry = outcome.clone();
                } else if !entry.is_error() {
                    entry.offset = entry.offset.min(outcome.offset);
                }
            })
            .or_insert_with(|| outcome.clone());
    }
    by_partition.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Option<&str>, value: Option<&str>, partition: Option<i32>) -> SinkRecord {
        SinkRecord { key: key.map(|k| k.as_bytes().to_vec()), value: value.map(|v| v.as_bytes().to_vec()), partition }
    }

    #[test]
    fn keys_and_values_keep_their_json_text_without_whitespace() {
        let body = br#"{ "records": [ { "key": "sid-1", "value": { "b" : 1, "a": [1.50, "x y\" z"] } },
            { "value": 42, "partition": 1 }, { "key": null, "value": null } ] }"#;
        assert_eq!(
            parse_records(body).expect("valid"),
            vec![
                record(Some(r#""sid-1""#), Some(r#"{"b":1,"a":[1.50,"x y\" z"]}"#), None),
                record(None, Some("42"), Some(1)),
                record(Some("null"), Some("null"), None),
            ]
        );
    }

    /// The byte-by-byte definition `compact_json` must keep to.
    fn compact_json_byte_by_byte(json: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(json.len());
        let (mut in_string, mut escaped) = (false, false);
        for &byte in json.as_bytes() {
            if in_string {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else if byte == b'"' {
                in_string = true;
            } else if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                continue;
            }
            out.push(byte);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn compacting_copies_runs_yet_writes_what_the_byte_by_byte_definition_writes(
            json in r#"[ \t\r\n"\\a-z0-9{}:,\[\]]{0,64}"#
        ) {
            proptest::prop_assert_eq!(compact_json(&json), compact_json_byte_by_byte(&json));
        }
    }

    #[test]
    fn compacting_keeps_escaped_quotes_and_spaces_inside_strings() {
        let json = "{ \"a b\" : \"x \\\" y\\\\\" , \"c\":[ 1 , 2 ] }";
        assert_eq!(compact_json(json), br#"{"a b":"x \" y\\","c":[1,2]}"#.to_vec());
    }

    #[test]
    fn a_record_without_value_has_a_null_value() {
        assert_eq!(
            parse_records(br#"{"records":[{"key":"k"}]}"#).expect("valid"),
            vec![record(Some(r#""k""#), None, None)]
        );
    }

    #[test]
    fn it_rejects_what_redpanda_rejects_with_an_offset() {
        for body in [
            &b""[..],
            b"   ",
            b"garbage",
            b"[]",
            b"{}",
            br#"{"records":{}}"#,
            br#"{"records":[1]}"#,
            br#"{"records":[],"extra":1}"#,
            br#"{"records":[{"value":1,"headers":[]}]}"#,
            br#"{"records":[{"value":1,"partition":"0"}]}"#,
            br#"{"records":[{"value":1,"partition":null}]}"#,
            br#"{"records":[{"value":1,"partition":1.5}]}"#,
            br#"{"records":[]} trailing"#,
        ] {
            let result = parse_records(body);
            assert!(
                matches!(result, Err(Refusal::InvalidJson { .. })),
                "{:?} gave {result:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_error_offset_counts_bytes_across_lines() {
        let body = b"{\n  \"records\": x\n}";
        let Err(Refusal::InvalidJson { offset, .. }) = parse_records(body) else { panic!("must fail") };
        assert_eq!(body[offset], b'x');
    }

    #[test]
    fn offsets_are_grouped_by_partition_with_the_lowest_offset() {
        let per_record = [
            PartitionOffset::ok(2, 11),
            PartitionOffset::ok(0, 5),
            PartitionOffset::ok(2, 10),
            PartitionOffset::ok(0, 6),
        ];
        assert_eq!(offsets_by_partition(&per_record), vec![PartitionOffset::ok(0, 5), PartitionOffset::ok(2, 10)]);
    }

    #[test]
    fn one_failed_record_marks_its_partition_failed() {
        let per_record = [
            PartitionOffset::ok(1, 3),
            PartitionOffset::failed(1, 7),
            PartitionOffset::ok(1, 4),
            PartitionOffset::failed(1, 19),
        ];
        assert_eq!(offsets_by_partition(&per_record), vec![PartitionOffset::failed(1, 7)]);
    }
}
