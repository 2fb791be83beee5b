//! A session's stored chunks back into the one array of rrweb events a player takes.
//!
//! Each sequence number's parts are concatenated in part order and then inflated (gzip) or taken as they
//! are (identity): the recorder cut the compressed bytes, not the events. Each chunk is a JSON array of
//! events; a tab's chunks follow each other by sequence number, and the tabs are merged by event
//! `timestamp` (a stable sort, so events of equal time keep their recorded order).
//!
//! A sequence number with a part missing cannot be inflated and is skipped, as is a chunk that does not
//! inflate or parse: the player resumes at the next full snapshot. Both are counted in the result, never
//! silently dropped (the API reports them in response headers).

use std::io::Read;

use base64::Engine;
use event_schema::record::RecordLimits;
use flate2::read::GzDecoder;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::store::StoredChunk;

/// The events, as one JSON array, and what could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedEvents {
    /// A JSON array of rrweb events, ordered by timestamp.
    pub json: Vec<u8>,
    pub events: usize,
    /// Sequence numbers skipped because a part of them is not stored.
    pub incomplete_seqs: usize,
    /// Chunks skipped because their bytes do not inflate or are not a JSON array of events.
    pub unreadable_chunks: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("the session's events exceed {limit_bytes} bytes uncompressed")]
    TooLarge { limit_bytes: usize },
}

#[derive(Deserialize)]
struct Timestamp {
    timestamp: f64,
}

/// Merges `chunks` (any order; they are sorted by tab, seq and part here). `max_bytes` bounds the
/// inflated total, so a huge session is refused rather than exhausting memory.
pub fn merge(mut chunks: Vec<StoredChunk>, max_bytes: usize) -> Result<MergedEvents, MergeError> {
    chunks.sort_by(|a, b| (&a.tab_id, a.seq, a.part).cmp(&(&b.tab_id, b.seq, b.part)));
    chunks.dedup_by(|a, b| (&a.tab_id, a.seq, a.part) == (&b.tab_id, b.seq, b.part));
    let per_chunk_limit = usize::try_from(RecordLimits::DEFAULT.max_raw_bytes).unwrap_or(usize::MAX);

    let mut inflated: Vec<Vec<u8>> = Vec::new();
    let (mut incomplete_seqs, mut unreadable_chunks, mut total) = (0, 0, 0usize);
    for group in chunks.chunk_by(|a, b| (&a.tab_id, a.seq) == (&b.tab_id, b.seq)) {
        let parts = usize::from(group[0].parts);
        let in_order = group.iter().enumerate().all(|(index, chunk)| usize::from(chunk.part) == index);
        if group.len() != parts || !in_order {
            incomplete_seqs += 1;
            continue;
        }
        let remaining = max_bytes - total;
        match read_chunk(group, per_chunk_limit.min(remaining)) {
            Ok(Some(bytes)) => {
                total += bytes.len();
                inflated.push(bytes);
            }
            Ok(None) if remaining <= per_chunk_limit => return Err(MergeError::TooLarge { limit_bytes: max_bytes }),
            // Larger than any chunk the recorder sends (a declared raw size over the limit is refused at
            // the edge): not an rrweb chunk, whatever it is.
            Ok(None) => {
                tracing::warn!(tab = %group[0].tab_id, seq = group[0].seq, "skipped a chunk that inflates beyond the chunk limit");
                unreadable_chunks += 1;
            }
            Err(reason) => {
                tracing::warn!(tab = %group[0].tab_id, seq = group[0].seq, %reason, "skipped an unreadable chunk");
                unreadable_chunks += 1;
            }
        }
    }

    // Borrow the events out of the inflated chunks; only their timestamps are parsed.
    let mut events: Vec<(f64, &RawValue)> = Vec::new();
    for bytes in &inflated {
        let parsed = serde_json::from_slice::<Vec<&RawValue>>(bytes).map_err(|e| e.to_string()).and_then(|all| {
            all.into_iter()
                .map(|event| {
                    let stamp: Timestamp = serde_json::from_str(event.get()).map_err(|e| e.to_string())?;
                    Ok((stamp.timestamp, event))
                })
                .collect::<Result<Vec<_>, String>>()
        });
        match parsed {
            Ok(chunk_events) => events.extend(chunk_events),
            Err(reason) => {
                tracing::warn!(%reason, "skipped a chunk that is not a JSON array of rrweb events");
                unreadable_chunks += 1;
            }
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut json = Vec::with_capacity(total + 2);
    json.push(b'[');
    for (index, (_, event)) in events.iter().enumerate() {
        if index > 0 {
            json.push(b',');
        }
        json.extend_from_slice(event.get().as_bytes());
    }
    json.push(b']');
    Ok(MergedEvents { json, events: events.len(), incomplete_seqs, unreadable_chunks })
}

/// One sequence number's bytes, inflated: `Ok(None)` when they exceed `limit`, `Err` when unreadable.
fn read_chunk(parts: &[StoredChunk], limit: usize) -> Result<Option<Vec<u8>>, String> {
    let mut compressed = Vec::new();
    for part in parts {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&part.payload)
            .map_err(|error| format!("payload is not base64: {error}"))?;
        compressed.extend_from_slice(&bytes);
    }
    let bytes = match parts[0].encoding.as_str() {
        "identity" => compressed,
        "gzip" => {
            // One byte past the limit tells "exactly at the limit" from "over it" without inflating it all.
            let mut inflated = Vec::new();
            let limit_plus_one = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            GzDecoder::new(compressed.as_slice())
                .take(limit_plus_one)
                .read_to_end(&mut inflated)
                .map_err(|error| format!("does not inflate: {error}"))?;
            inflated
        }
        other => return Err(format!("unknown encoding {other:?}")),
    };
    Ok((bytes.len() <= limit).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("compresses");
        encoder.finish().expect("compresses")
    }

    fn chunk(tab: &str, seq: u32, part: u16, parts: u16, bytes: &[u8]) -> StoredChunk {
        StoredChunk {
            tab_id: tab.into(),
            seq,
            part,
            parts,
            encoding: "gzip".into(),
            payload: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    fn timestamps(merged: &MergedEvents) -> Vec<u64> {
        let events: Vec<serde_json::Value> = serde_json::from_slice(&merged.json).expect("a JSON array");
        events.iter().map(|event| event["timestamp"].as_u64().expect("a timestamp")).collect()
    }

    #[test]
    fn tabs_are_merged_by_event_time_and_parts_are_joined_before_inflating() {
        let big = gzip(br#"[{"type":3,"timestamp":20,"data":{}},{"type":3,"timestamp":40,"data":{}}]"#);
        let (head, tail) = big.split_at(big.len() / 2);
        let chunks = vec![
            chunk("tab-b", 0, 0, 1, &gzip(br#"[{"type":4,"timestamp":15},{"type":2,"timestamp":30}]"#)),
            chunk("tab-a", 1, 1, 2, tail),
            chunk("tab-a", 0, 0, 1, &gzip(br#"[{"type":4,"timestamp":10},{"type":2,"timestamp":11}]"#)),
            chunk("tab-a", 1, 0, 2, head),
        ];
        let merged = merge(chunks, 1 << 20).expect("merges");
        assert_eq!(timestamps(&merged), [10, 11, 15, 20, 30, 40]);
        assert_eq!((merged.events, merged.incomplete_seqs, merged.unreadable_chunks), (6, 0, 0));
    }

    #[test]
    fn an_incomplete_or_unreadable_sequence_number_is_skipped_and_counted() {
        let mut identity = chunk("t", 3, 0, 1, br#"[{"type":3,"timestamp":9}]"#);
        identity.encoding = "identity".into();
        let chunks = vec![
            chunk("t", 0, 0, 1, &gzip(br#"[{"type":4,"timestamp":1}]"#)),
            chunk("t", 1, 0, 2, &gzip(b"[]")),
            chunk("t", 2, 0, 1, b"not gzip at all"),
            identity,
            chunk("t", 4, 0, 1, &gzip(br#"{"type":3}"#)),
        ];
        let merged = merge(chunks, 1 << 20).expect("merges");
        assert_eq!(timestamps(&merged), [1, 9]);
        assert_eq!((merged.incomplete_seqs, merged.unreadable_chunks), (1, 2));
    }

    #[test]
    fn a_session_larger_than_the_limit_is_refused_rather_than_inflated_whole() {
        let bomb = gzip(&[b' '; 100_000]);
        let refused = merge(vec![chunk("t", 0, 0, 1, &bomb)], 50_000);
        assert_eq!(refused, Err(MergeError::TooLarge { limit_bytes: 50_000 }));
    }

    #[test]
    fn a_chunk_inflating_past_the_chunk_limit_is_skipped_not_fatal() {
        let limit = usize::try_from(RecordLimits::DEFAULT.max_raw_bytes).expect("fits");
        let bomb = gzip(&vec![b' '; limit + 1]);
        let chunks = vec![chunk("t", 0, 0, 1, &gzip(br#"[{"type":4,"timestamp":1}]"#)), chunk("t", 1, 0, 1, &bomb)];
        let merged = merge(chunks, 4 * limit).expect("merges the rest");
        assert_eq!((timestamps(&merged), merged.unreadable_chunks), (vec![1], 1));
    }

    #[test]
    fn a_chunk_delivered_twice_is_replayed_once() {
        let bytes = gzip(br#"[{"type":4,"timestamp":1}]"#);
        let merged = merge(vec![chunk("t", 0, 0, 1, &bytes), chunk("t", 0, 0, 1, &bytes)], 1 << 20).expect("merges");
        assert_eq!(timestamps(&merged), [1]);
    }
}
