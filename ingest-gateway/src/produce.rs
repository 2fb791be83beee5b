//! `POST /topics/{topic}`: the Redpanda HTTP Proxy produce API (JSON embedded format v2), so the edge worker
//! can point at Redpanda's proxy or at this gateway without a change.
//!
//! What Redpanda's proxy does, read from its sources (`pandaproxy/rest/handlers.cc` `post_topics_name`,
//! `json/requests/produce.h`, `kafka/client/client.cc` `produce_records`, `parsing/httpd.h`, `error.cc`,
//! `reply.h`, `server.cc`, `security/request_auth.cc`), and what the gateway does about each point:
//!
//! - Request `Content-Type` is split on `,`, `;` and spaces; some token must be
//!   `application/vnd.kafka.json.v2+json`, else 415 `{"error_code":415,"message":"unsupported_media_type"}`.
//!   Redpanda also takes `application/vnd.kafka.binary.v2+json` (base64 records); the gateway does not (415).
//! - `Accept`, split the same way, must be absent, empty, `*/*` or `application/vnd.kafka.v2+json`,
//!   else 406 `{"error_code":406,"message":"not_acceptable"}`. Success bodies are
//!   `application/vnd.kafka.v2+json`; error bodies `application/json`.
//! - A body that is not JSON, or JSON of another shape (a field other than `records` / `key` / `value` /
//!   `partition`, a non-integer partition, no `records`), including an empty body, is 422
//!   `{"error_code":422,"message":"parse error at offset N"}`; the gateway appends the parser's reason.
//! - A body larger than the limit is 413. Redpanda checks the `Content-Length` before anything else and
//!   answers with no body; the gateway checks it first too, also enforces the limit on chunked bodies
//!   while reading, and always answers with a JSON error body.
//! - HTTP Basic auth failures: malformed header 400 (`40002`, "Malformed Authorization header"), unknown
//!   scheme 400 (`40002`, "Unsupported Authorization method"), missing or wrong credentials 401 (`40101`).
//! - Key and value are written as the JSON text of the field, compact: a string key `"abc"` becomes the
//!   five bytes `"abc"`, quotes included; `null` becomes the four bytes `null`. A record without `value`
//!   gets a null value. Redpanda re-serializes the parsed value with rapidjson (member order kept,
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
//! - `{"records":[]}` is 200 `{"offsets":[]}`, whatever the topic.
//! - Stricter than Redpanda on purpose: records for the topic ClickHouse loads into `page_visits` must each
//!   be an exact `StoredEvent` (every field, no other), else 422 with `error_code` 42202 naming the record,
//!   and nothing of the request is produced. ClickHouse 18.16's Kafka engine stops consuming a topic for
//!   good at the first record it cannot parse, so one bad record would silently halt ingestion for all.
//! - Redpanda answers 503 with `Retry-After: 0` when shutting down; the gateway answers 503 with
//!   `Retry-After: 1` when its producer queue is full or the broker is unreachable.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use event_schema::produce::{CONTENT_TYPE_JSON_V2, CONTENT_TYPE_V2, UNKNOWN_TOPIC_OR_PARTITION};
use event_schema::{PartitionOffset, ProduceResponse, StoredEvent};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::metrics::FailureReason;
use crate::refusal::Refusal;
use crate::sink::{SinkError, SinkRecord};
use crate::AppState;

pub async fn produce(
    State(state): State<AppState>,
    topic: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let topic = match topic {
        Ok(Path(topic)) => topic,
        Err(rejection) => return Refusal::InvalidTopic(rejection.body_text()).into_response(),
    };
    match produce_records(&state, &topic, request).await {
        Ok(offsets) => {
            let body = serde_json::to_vec(&ProduceResponse { offsets }).unwrap_or_default();
            (StatusCode::OK, [(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_V2))], body).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn produce_records(state: &AppState, topic: &str, request: Request) -> Result<Vec<PartitionOffset>, Refusal> {
    let (parts, body) = request.into_parts();
    let limit_bytes = state.max_body_bytes;
    if declared_length(&parts.headers).is_some_and(|length| length > limit_bytes) {
        return Err(Refusal::PayloadTooLarge { limit_bytes });
    }
    state.auth.check(&parts.headers)?;
    let json_v2 = |t: &&str| t.eq_ignore_ascii_case(CONTENT_TYPE_JSON_V2);
    if !media_types(&parts.headers, CONTENT_TYPE).iter().any(json_v2) {
        return Err(Refusal::UnsupportedMediaType);
    }
    let acceptable = |t: &&str| t.is_empty() || *t == "*/*" || t.eq_ignore_ascii_case(CONTENT_TYPE_V2);
    if !media_types(&parts.headers, ACCEPT).iter().any(acceptable) {
        return Err(Refusal::NotAcceptable);
    }
    let body = read_body(body, limit_bytes).await?;
    let records = parse_records(&body)?;
    if state.event_topic.as_deref() == Some(topic) {
        check_stored_events(&records)?;
    }
    if records.is_empty() {
        return Ok(Vec::new());
    }

    let count = records.len();
    let unavailable = |reason: String| Refusal::BrokerUnavailable { records: count, reason };
    if !state.sink.topic_exists(topic).await.map_err(|e| unavailable(e.to_string()))? {
        state.metrics.count_failures(FailureReason::UnknownTopic, count);
        tracing::warn!(%topic, records = count, "produce to an unknown topic: answered error code 3");
        let failed: Vec<_> = records
            .iter()
            .map(|r| PartitionOffset::failed(r.partition.unwrap_or(0), UNKNOWN_TOPIC_OR_PARTITION))
            .collect();
        return Ok(offsets_by_partition(&failed));
    }

    let per_record = state.sink.send_batch(topic, records).await.map_err(|error| match error {
        SinkError::QueueFull { enqueued } => Refusal::QueueFull { records: count, enqueued },
        SinkError::Unavailable(reason) => unavailable(reason),
    })?;
    let failed = per_record.iter().filter(|o| o.is_error()).count();
    state.metrics.count_produced(count - failed);
    if failed > 0 {
        state.metrics.count_failures(FailureReason::Delivery, failed);
        let codes: Vec<_> = per_record.iter().filter_map(|o| o.error_code.filter(|&c| c != 0)).collect();
        tracing::warn!(%topic, records = count, failed, ?codes, "records failed to produce");
    }
    Ok(offsets_by_partition(&per_record))
}

/// Every record value must parse as a `StoredEvent`, the row ClickHouse's Kafka engine will read.
fn check_stored_events(records: &[SinkRecord]) -> Result<(), Refusal> {
    for (index, record) in records.iter().enumerate() {
        let value = record.value.as_deref().unwrap_or(b"null");
        if let Err(error) = serde_json::from_slice::<StoredEvent>(value) {
            return Err(Refusal::NotAStoredEvent { index, reason: error.to_string() });
        }
    }
    Ok(())
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

/// `json` without the whitespace between tokens; strings (and so everything else) stay byte for byte.
pub fn compact_json(json: &str) -> Vec<u8> {
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
