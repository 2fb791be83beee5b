//! Where recordings are read and deleted. The handlers speak to a [`RecordingStore`]; [`ClickHouseStore`]
//! is the real one (the queries are in `queries/`, every value bound with `?`), and `memory::MemoryStore`
//! stands in for it in router tests.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::DateTime;
use clickhouse::Client;
use serde::{Deserialize, Serialize};

use super::completeness::{ChunkKey, Completeness};

const SESSIONS: &str = include_str!("queries/sessions.sql");
const SESSION_TABS: &str = include_str!("queries/session_tabs.sql");
const SESSION_CHUNKS: &str = include_str!("queries/session_chunks.sql");

/// The boxed future every store method returns, so that the router can hold an `Arc<dyn RecordingStore>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
}

/// Which sessions the list shows. `None` and the widest bounds mean "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFilter {
    pub site: Option<String>,
    pub session_id: Option<String>,
    /// Session start (the recorder's first event), unix ms, in `[from_ms, to_ms)`.
    pub from_ms: u64,
    pub to_ms: u64,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// The edge's device category (`pc`, `smartphone`, ...).
    pub device: Option<String>,
    pub min_duration_ms: u64,
    pub max_duration_ms: u64,
    pub status: Option<Completeness>,
    pub limit: u32,
}

impl Default for SessionFilter {
    fn default() -> Self {
        Self {
            site: None,
            session_id: None,
            from_ms: 0,
            to_ms: u64::MAX,
            country: None,
            device: None,
            min_duration_ms: 0,
            max_duration_ms: u64::MAX,
            status: None,
            limit: 100,
        }
    }
}

impl SessionFilter {
    pub fn one_session(site: &str, session_id: &str) -> Self {
        Self { site: Some(site.to_owned()), session_id: Some(session_id.to_owned()), limit: 1, ..Self::default() }
    }

    /// The first receive day the summary must be read from: a day before `from`, since a recorder's clock
    /// may run up to a day ahead of the edge's (the edge refuses more).
    fn first_day(&self) -> String {
        let day_ms = 86_400_000;
        let ms = i64::try_from(self.from_ms.saturating_sub(day_ms)).unwrap_or(i64::MAX);
        DateTime::from_timestamp_millis(ms)
            .map_or_else(|| "2149-06-06".to_owned(), |instant| instant.format("%Y-%m-%d").to_string())
    }
}

/// One session as the list shows it: a row of `queries/sessions.sql`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct SessionSummary {
    pub site: String,
    pub session_id: String,
    /// Recorder time of the session's first and last event, unix ms.
    pub started_ms: u64,
    pub ended_ms: u64,
    pub duration_ms: u64,
    /// Distinct page paths recorded.
    pub pages: u32,
    /// The page the session's earliest chunk was recorded on.
    pub entry_url: String,
    pub visitor_id: String,
    pub country: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub tabs: u32,
    /// Chunks stored, each part counted, each chunk once however often it was delivered.
    pub chunks: u32,
    /// Bytes of the chunks as the recorder sent them, and before compression.
    pub compressed_bytes: u64,
    pub raw_bytes: u64,
    pub events: u64,
    /// Sequence numbers missing below each tab's highest, summed over the tabs.
    pub missing_seqs: u32,
    /// Tabs whose highest chunk is not flagged final.
    pub tabs_without_final: u32,
    /// `complete`, `gaps` or `no_final` (see [`Completeness`]).
    pub status: String,
}

/// One tab of a session with the envelope of each chunk stored for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct TabChunks {
    pub tab_id: String,
    /// (seq, part, parts, is_final, full_snapshot)
    pub chunks: Vec<(u32, u16, u16, u8, u8)>,
}

impl TabChunks {
    pub fn keys(&self) -> Vec<ChunkKey> {
        self.chunks
            .iter()
            .map(|&(seq, part, parts, is_final, full_snapshot)| ChunkKey {
                seq,
                part,
                parts,
                is_final: is_final == 1,
                full_snapshot: full_snapshot == 1,
            })
            .collect()
    }
}

/// One stored chunk with its bytes (base64, as stored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct StoredChunk {
    pub tab_id: String,
    pub seq: u32,
    pub part: u16,
    pub parts: u16,
    pub encoding: String,
    pub payload: String,
}

/// What became of a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The session's rows are gone.
    Done,
    /// Deletion was scheduled and is still running in the warehouse.
    Pending,
}

pub trait RecordingStore: Send + Sync {
    /// Sessions matching `filter`, newest first, at most `filter.limit`.
    fn sessions<'a>(&'a self, filter: &'a SessionFilter) -> StoreFuture<'a, Vec<SessionSummary>>;

    /// The session's tabs, by tab id; empty when nothing of it is stored.
    fn tabs<'a>(&'a self, site: &'a str, session_id: &'a str) -> StoreFuture<'a, Vec<TabChunks>>;

    /// The session's chunks (of one tab, or all), ordered by tab, seq and part, each once.
    fn chunks<'a>(
        &'a self,
        site: &'a str,
        session_id: &'a str,
        tab: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<StoredChunk>>;

    /// Deletes the session's chunks and summary; `None` when nothing of it is stored.
    fn delete<'a>(&'a self, site: &'a str, session_id: &'a str) -> StoreFuture<'a, Option<Deletion>>;
}

/// Recordings in ClickHouse (`recording_chunks`, `recording_sessions`).
pub struct ClickHouseStore {
    client: Client,
    /// How long a deletion may wait for ClickHouse to finish before it is reported as pending.
    delete_wait: Duration,
}

impl ClickHouseStore {
    pub fn new(client: Client, delete_wait: Duration) -> Self {
        Self { client, delete_wait }
    }

    async fn stored_rows(&self, site: &str, session_id: &str) -> Result<u64, StoreError> {
        let sql = "SELECT toUInt64(count()) FROM recording_chunks WHERE site = ? AND session_id = ?";
        let chunks: u64 = self.client.query(sql).bind(site).bind(session_id).fetch_one().await?;
        let sql = "SELECT toUInt64(count()) FROM recording_sessions WHERE site = ? AND session_id = ?";
        let summaries: u64 = self.client.query(sql).bind(site).bind(session_id).fetch_one().await?;
        Ok(chunks + summaries)
    }
}

/// Mutations still running on the recording tables of the client's database.
pub async fn pending_mutations(client: &Client) -> Result<u64, clickhouse::error::Error> {
    client
        .query(
            "SELECT toUInt64(count()) FROM system.mutations WHERE database = currentDatabase() \
             AND table IN ('recording_chunks', 'recording_sessions') AND is_done = 0",
        )
        .fetch_one()
        .await
}

/// Polls until no mutation of the recording tables is pending, for at most `wait`.
pub async fn wait_for_mutations(client: &Client, wait: Duration) -> Result<bool, clickhouse::error::Error> {
    let deadline = Instant::now() + wait;
    loop {
        if pending_mutations(client).await? == 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl RecordingStore for ClickHouseStore {
    fn sessions<'a>(&'a self, filter: &'a SessionFilter) -> StoreFuture<'a, Vec<SessionSummary>> {
        Box::pin(async move {
            let either = |value: &Option<String>| value.clone().unwrap_or_default();
            let status = filter.status.map_or("", <&str>::from);
            let rows = self
                .client
                .query(SESSIONS)
                .bind(either(&filter.site))
                .bind(either(&filter.site))
                .bind(either(&filter.session_id))
                .bind(either(&filter.session_id))
                .bind(filter.first_day())
                .bind(filter.from_ms)
                .bind(filter.to_ms)
                .bind(either(&filter.country))
                .bind(either(&filter.country))
                .bind(either(&filter.device))
                .bind(either(&filter.device))
                .bind(filter.min_duration_ms)
                .bind(filter.max_duration_ms)
                .bind(status)
                .bind(status)
                .bind(filter.limit)
                .fetch_all::<SessionSummary>()
                .await?;
            Ok(rows)
        })
    }

    fn tabs<'a>(&'a self, site: &'a str, session_id: &'a str) -> StoreFuture<'a, Vec<TabChunks>> {
        Box::pin(async move { Ok(self.client.query(SESSION_TABS).bind(site).bind(session_id).fetch_all().await?) })
    }

    fn chunks<'a>(
        &'a self,
        site: &'a str,
        session_id: &'a str,
        tab: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<StoredChunk>> {
        Box::pin(async move {
            let tab = tab.unwrap_or("");
            Ok(self.client.query(SESSION_CHUNKS).bind(site).bind(session_id).bind(tab).bind(tab).fetch_all().await?)
        })
    }

    fn delete<'a>(&'a self, site: &'a str, session_id: &'a str) -> StoreFuture<'a, Option<Deletion>> {
        Box::pin(async move {
            if self.stored_rows(site, session_id).await? == 0 {
                return Ok(None);
            }
            // A mutation: ClickHouse rewrites the parts holding the rows, in the background.
            for table in ["recording_chunks", "recording_sessions"] {
                self.client
                    .query("ALTER TABLE ? DELETE WHERE site = ? AND session_id = ?")
                    .bind(clickhouse::sql::Identifier(table))
                    .bind(site)
                    .bind(session_id)
                    .execute()
                    .await?;
            }
            let done = wait_for_mutations(&self.client, self.delete_wait).await?;
            Ok(Some(if done { Deletion::Done } else { Deletion::Pending }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_read_from_a_day_before_the_range_starts() {
        let filter = SessionFilter { from_ms: 1_767_225_600_000, ..SessionFilter::default() }; // 2026-01-01
        assert_eq!(filter.first_day(), "2025-12-31");
        assert_eq!(SessionFilter::default().first_day(), "1970-01-01");
    }

    #[test]
    fn every_query_has_as_many_placeholders_as_it_is_bound_with() {
        // The clickhouse crate binds `?` positionally; a stray one in a comment would shift every value.
        let count = |sql: &str| sql.matches('?').count();
        assert_eq!((count(SESSIONS), count(SESSION_TABS), count(SESSION_CHUNKS)), (16, 2, 4));
    }
}
