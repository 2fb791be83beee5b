//! Whether a recording arrived whole. The recorder numbers each tab's chunks 0, 1, 2, ... without gaps,
//! cuts a chunk too large for one request into `parts`, and flags the tab's last chunk as final; so storage
//! can tell, per tab, exactly which sequence numbers are missing and whether the end arrived.
//!
//! The list computes the same status in SQL (`queries/sessions.sql`) so that it can filter and limit on it;
//! this is the per-session form, which also names the missing numbers. The integration tests check that
//! both agree.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// A session's state, worst first: a gap is worse than a missing end, since the end may still arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumString, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Completeness {
    /// Every tab has every sequence number up to its final chunk.
    Complete,
    /// Some tab misses a sequence number (or a part of one) below its highest.
    Gaps,
    /// No gap, but some tab's highest chunk is not flagged final: the end has not arrived (yet).
    NoFinal,
}

/// One stored chunk's envelope, as far as completeness is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkKey {
    pub seq: u32,
    pub part: u16,
    pub parts: u16,
    pub is_final: bool,
    pub full_snapshot: bool,
}

/// One tab of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TabCompleteness {
    pub tab_id: String,
    /// Chunks stored (parts counted separately).
    pub chunks: usize,
    pub highest_seq: u32,
    /// Sequence numbers from 0 to `highest_seq` not fully stored, ascending.
    pub missing_seqs: Vec<u32>,
    /// The chunk with the highest sequence number is flagged final.
    pub final_received: bool,
    /// Sequence numbers holding a full snapshot: where playback can resume after a gap.
    pub full_snapshot_seqs: Vec<u32>,
}

impl TabCompleteness {
    /// Deduplicates `keys` (delivery is at least once) and finds what is missing.
    pub fn from_keys(tab_id: &str, keys: &[ChunkKey]) -> Self {
        let mut parts_of: BTreeMap<u32, (u16, BTreeSet<u16>)> = BTreeMap::new();
        for key in keys {
            parts_of.entry(key.seq).or_insert_with(|| (key.parts, BTreeSet::new())).1.insert(key.part);
        }
        let highest_seq = parts_of.keys().next_back().copied().unwrap_or(0);
        let complete = |seq: u32| {
            parts_of.get(&seq).is_some_and(|(parts, received)| (0..*parts).all(|part| received.contains(&part)))
        };
        let missing_seqs = (0..=highest_seq).filter(|&seq| !complete(seq)).collect();
        let final_received = keys.iter().any(|key| key.seq == highest_seq && key.is_final);
        let full_snapshot_seqs: BTreeSet<u32> = keys.iter().filter(|k| k.full_snapshot).map(|k| k.seq).collect();
        let distinct: BTreeSet<(u32, u16)> = keys.iter().map(|key| (key.seq, key.part)).collect();
        Self {
            tab_id: tab_id.to_owned(),
            chunks: distinct.len(),
            highest_seq,
            missing_seqs,
            final_received,
            full_snapshot_seqs: full_snapshot_seqs.into_iter().collect(),
        }
    }
}

/// The session's state from its tabs.
pub fn session_status(tabs: &[TabCompleteness]) -> Completeness {
    if tabs.iter().any(|tab| !tab.missing_seqs.is_empty()) {
        Completeness::Gaps
    } else if tabs.iter().any(|tab| !tab.final_received) {
        Completeness::NoFinal
    } else {
        Completeness::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u32, part: u16, parts: u16) -> ChunkKey {
        ChunkKey { seq, part, parts, is_final: false, full_snapshot: false }
    }

    fn last(seq: u32) -> ChunkKey {
        ChunkKey { is_final: true, ..key(seq, 0, 1) }
    }

    #[test]
    fn a_tab_with_every_sequence_number_and_a_final_chunk_is_complete() {
        let tab = TabCompleteness::from_keys("t", &[key(0, 0, 1), key(1, 0, 1), last(2)]);
        assert_eq!((tab.highest_seq, tab.missing_seqs.as_slice(), tab.final_received), (2, &[][..], true));
        assert_eq!(session_status(&[tab]), Completeness::Complete);
    }

    #[test]
    fn a_withheld_chunk_is_a_gap_named_by_its_sequence_number() {
        let tab = TabCompleteness::from_keys("t", &[key(0, 0, 1), key(2, 0, 1), key(4, 0, 1), last(5)]);
        assert_eq!(tab.missing_seqs, [1, 3]);
        assert_eq!(session_status(&[tab]), Completeness::Gaps);
    }

    #[test]
    fn a_sequence_number_missing_one_of_its_parts_is_a_gap() {
        let tab = TabCompleteness::from_keys("t", &[key(0, 0, 3), key(0, 2, 3), last(1)]);
        assert_eq!((tab.missing_seqs.as_slice(), tab.chunks), (&[0][..], 3));
    }

    #[test]
    fn without_the_final_flag_on_the_highest_chunk_the_end_has_not_arrived() {
        let early_final = TabCompleteness::from_keys("t", &[last(0), key(1, 0, 1)]);
        assert!(!early_final.final_received, "a final flag below the highest chunk does not end the tab");
        let ended = TabCompleteness::from_keys("u", &[last(0)]);
        assert_eq!(session_status(&[ended, early_final]), Completeness::NoFinal);
    }

    #[test]
    fn a_chunk_delivered_twice_counts_once() {
        let tab = TabCompleteness::from_keys("t", &[key(0, 0, 1), key(0, 0, 1), last(1), last(1)]);
        assert_eq!((tab.chunks, tab.missing_seqs.len()), (2, 0));
    }
}
