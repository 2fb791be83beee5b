//! An in-memory [`RecordingStore`] for router tests: it answers with what the test put in and remembers
//! what it was asked, so a test can check both the HTTP side and the filter the handler derived. The SQL
//! itself is tested against real ClickHouse (`tests/replay_warehouse.rs`) and chDB (`tests/sql/`).

use std::sync::Mutex;

use super::store::{
    Deletion, RecordingStore, SessionFilter, SessionSummary, StoreError, StoreFuture, StoredChunk, TabChunks,
};

#[derive(Default)]
pub struct MemoryStore {
    pub sessions: Mutex<Vec<SessionSummary>>,
    pub tabs: Mutex<Vec<(String, String, TabChunks)>>,
    pub chunks: Mutex<Vec<(String, String, StoredChunk)>>,
    /// Every filter `sessions` was called with, in order.
    pub filters: Mutex<Vec<SessionFilter>>,
    /// (site, session_id) of every deletion.
    pub deleted: Mutex<Vec<(String, String)>>,
    /// When set, every call fails as an unreachable ClickHouse would.
    pub unavailable: Mutex<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStore {
    pub fn add_session(&self, summary: SessionSummary, tabs: Vec<TabChunks>, chunks: Vec<StoredChunk>) {
        let key = (summary.site.clone(), summary.session_id.clone());
        lock(&self.tabs).extend(tabs.into_iter().map(|tab| (key.0.clone(), key.1.clone(), tab)));
        lock(&self.chunks).extend(chunks.into_iter().map(|chunk| (key.0.clone(), key.1.clone(), chunk)));
        lock(&self.sessions).push(summary);
    }

    pub fn filters(&self) -> Vec<SessionFilter> {
        lock(&self.filters).clone()
    }

    fn check(&self) -> Result<(), StoreError> {
        if *lock(&self.unavailable) {
            return Err(StoreError::ClickHouse(clickhouse::error::Error::Custom("connection refused".into())));
        }
        Ok(())
    }
}

impl RecordingStore for MemoryStore {
    fn sessions<'a>(&'a self, filter: &'a SessionFilter) -> StoreFuture<'a, Vec<SessionSummary>> {
        Box::pin(async move {
            self.check()?;
            lock(&self.filters).push(filter.clone());
            let matches = |s: &&SessionSummary| {
                filter.site.as_ref().is_none_or(|site| *site == s.site)
                    && filter.session_id.as_ref().is_none_or(|id| *id == s.session_id)
            };
            let mut found: Vec<_> = lock(&self.sessions).iter().filter(matches).cloned().collect();
            found.sort_by_key(|s| std::cmp::Reverse(s.started_ms));
            found.truncate(filter.limit as usize);
            Ok(found)
        })
    }

    fn tabs<'a>(&'a self, site: &'a str, session_id: &'a str) -> StoreFuture<'a, Vec<TabChunks>> {
        Box::pin(async move {
            self.check()?;
            let tabs = lock(&self.tabs);
            Ok(tabs.iter().filter(|(s, id, _)| s == site && id == session_id).map(|(.., tab)| tab.clone()).collect())
        })
    }

    fn chunks<'a>(
        &'a self,
        site: &'a str,
        session_id: &'a str,
        tab: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<StoredChunk>> {
        Box::pin(async move {
            self.check()?;
            let chunks = lock(&self.chunks);
            Ok(chunks
                .iter()
                .filter(|(s, id, chunk)| s == site && id == session_id && tab.is_none_or(|tab| tab == chunk.tab_id))
                .map(|(.., chunk)| chunk.clone())
                .collect())
        })
    }

    fn delete<'a>(&'a self, site: &'a str, session_id: &'a str) -> StoreFuture<'a, Option<Deletion>> {
        Box::pin(async move {
            self.check()?;
            let mut sessions = lock(&self.sessions);
            let before = sessions.len();
            sessions.retain(|s| !(s.site == site && s.session_id == session_id));
            if sessions.len() == before {
                return Ok(None);
            }
            lock(&self.tabs).retain(|(s, id, _)| !(s == site && id == session_id));
            lock(&self.chunks).retain(|(s, id, _)| !(s == site && id == session_id));
            lock(&self.deleted).push((site.to_owned(), session_id.to_owned()));
            Ok(Some(Deletion::Done))
        })
    }
}
