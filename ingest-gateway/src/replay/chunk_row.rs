//! The gateway's rule for records on the `session_recordings` topic: each must be a [`RecordingChunk`] that
//! ClickHouse can load and the replay can read back, or the whole request is refused (422, error code
//! 42202, naming the record; see `topics`).
//!
//! Serde's checks alone (exact fields, integer ranges) keep the Kafka engine consuming; the rest keeps
//! storage honest: a payload that is not base64, or whose bytes are not the size the chunk declares, would
//! be stored and only fail at replay, long after the producer could have been told.

use base64::Engine;
use event_schema::record::RecordLimits;
use event_schema::track::{Limits, SESSION_ID_CHARS};
use event_schema::{ChunkEncoding, RecordingChunk};
use serde::Deserialize;

/// A `session_recordings` record that passed every check; registered with
/// `TopicPolicy::with_row_type::<RecordingChunkRow>` for the topic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RecordingChunk")]
pub struct RecordingChunkRow(pub RecordingChunk);

impl TryFrom<RecordingChunk> for RecordingChunkRow {
    type Error = String;

    fn try_from(chunk: RecordingChunk) -> Result<Self, String> {
        check_chunk(&chunk)?;
        Ok(Self(chunk))
    }
}

/// Everything a stored chunk must satisfy beyond its field types; the message names the field.
pub fn check_chunk(chunk: &RecordingChunk) -> Result<(), String> {
    let limits = RecordLimits::DEFAULT;
    if !is_site(&chunk.site) {
        return Err(format!("site must be 1 to {} characters from [A-Za-z0-9._-]", Limits::DEFAULT.max_site_chars));
    }
    for (field, id) in [("session_id", &chunk.session_id), ("tab_id", &chunk.tab_id)] {
        if !is_client_id(id) {
            let (min, max) = SESSION_ID_CHARS;
            return Err(format!("{field} must be {min} to {max} characters from [A-Za-z0-9_-]"));
        }
    }
    if u64::from(chunk.seq) > limits.max_seq {
        return Err(format!("seq must be at most {}", limits.max_seq));
    }
    if chunk.parts == 0 || u64::from(chunk.parts) > limits.max_parts || chunk.part >= chunk.parts {
        return Err(format!("part must be below parts, and parts from 1 to {}", limits.max_parts));
    }
    if chunk.first_ts_ms > chunk.last_ts_ms {
        return Err("first_ts_ms must not be after last_ts_ms".to_owned());
    }
    if chunk.encoding.parse::<ChunkEncoding>().is_err() {
        return Err(format!("encoding must be gzip or identity, not {:?}", chunk.encoding));
    }
    if chunk.full_snapshot > 1 || chunk.is_final > 1 {
        return Err("full_snapshot and is_final must be 0 or 1".to_owned());
    }
    if u64::from(chunk.compressed_bytes) > limits.max_chunk_bytes || chunk.compressed_bytes == 0 {
        return Err(format!("compressed_bytes must be from 1 to {}", limits.max_chunk_bytes));
    }
    // Strict base64 (standard alphabet, padded): what the edge writes, and all the replay decodes.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&chunk.payload)
        .map_err(|error| format!("payload is not base64: {error}"))?;
    if decoded.len() != chunk.compressed_bytes as usize {
        return Err(format!(
            "payload holds {} bytes but compressed_bytes declares {}",
            decoded.len(),
            chunk.compressed_bytes
        ));
    }
    Ok(())
}

/// A site id as the snippet's `data-site` may name it.
pub fn is_site(site: &str) -> bool {
    (1..=Limits::DEFAULT.max_site_chars).contains(&site.len())
        && site.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// A session or tab id as the recorder makes them.
pub fn is_client_id(id: &str) -> bool {
    let (min, max) = SESSION_ID_CHARS;
    (min..=max).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk() -> RecordingChunk {
        RecordingChunk {
            schema_version: event_schema::SCHEMA_VERSION,
            site: "example.com".into(),
            session_id: "Ab3dEf6hIj9kLm2n".into(),
            tab_id: "Qw3rTy6uIo9pAs2d".into(),
            parts: 1,
            encoding: "gzip".into(),
            compressed_bytes: 5,
            payload: base64::engine::general_purpose::STANDARD.encode(b"\x1f\x8b\x08\x00\x00"),
            dropped: "{}".into(),
            ..Default::default()
        }
    }

    fn refused(json: serde_json::Value) -> String {
        serde_json::from_value::<RecordingChunkRow>(json).expect_err("refused").to_string()
    }

    #[test]
    fn an_exact_chunk_row_with_its_declared_bytes_is_accepted() {
        let row: RecordingChunkRow = serde_json::from_value(serde_json::to_value(chunk()).expect("json")).expect("ok");
        assert_eq!(row.0, chunk());
    }

    #[test]
    fn a_payload_that_is_not_the_declared_size_or_not_base64_is_refused() {
        let with = |f: &dyn Fn(&mut RecordingChunk)| {
            let mut chunk = chunk();
            f(&mut chunk);
            serde_json::to_value(chunk).expect("json")
        };
        assert!(refused(with(&|c| c.compressed_bytes = 6)).contains("compressed_bytes declares 6"));
        assert!(refused(with(&|c| c.payload = "H4sI!!".into())).contains("not base64"));
        assert!(refused(with(&|c| c.payload = "H4sIAA".into())).contains("not base64"), "padding is required");
        assert!(refused(with(&|c| c.encoding = "br".into())).contains("encoding"));
        assert!(refused(with(&|c| c.part = 1)).contains("part must be below parts"));
        assert!(refused(with(&|c| c.session_id = "short".into())).contains("session_id"));
        assert!(refused(with(&|c| c.site = "a b".into())).contains("site"));
        assert!(refused(with(&|c| c.first_ts_ms = 2)).contains("first_ts_ms"));
    }

    #[test]
    fn a_record_with_an_unknown_or_missing_field_is_refused() {
        let mut json = serde_json::to_value(chunk()).expect("json");
        json["extra"] = 1.into();
        assert!(refused(json).contains("unknown field"));
        let mut json = serde_json::to_value(chunk()).expect("json");
        json.as_object_mut().expect("object").remove("payload");
        assert!(refused(json).contains("missing field"));
    }
}
