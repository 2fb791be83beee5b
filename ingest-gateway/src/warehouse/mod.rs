//! The ClickHouse side of the pipeline: applies `sql/` migrations and answers the named queries.
//!
//! The SQL lives in `sql/` at the repository root (see its README for the schema's reasoning); this module
//! only runs it. Every client it builds has row validation off, because validation needs the
//! `RowBinaryWithNamesAndTypes` format that ClickHouse 18.16 lacks; the schema test in
//! `tests/warehouse.rs` checks the row types against the live table instead.

mod migrate;
mod queries;
mod sql_text;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use migrate::{migrate, read_migrations};
pub use queries::visits_by_country;
pub use sql_text::PlaceholderError;

/// Values substituted for the `${...}` placeholders of the `sql/` files. Each must match `[A-Za-z0-9._:,-]+`.
#[derive(Debug, Clone)]
pub struct SqlVars {
    /// `${KAFKA_BROKERS}`: comma-separated `host:port` list the Kafka-engine table consumes from.
    pub kafka_brokers: String,
    /// `${PAGE_VISITS_TOPIC}`: the topic of enriched events.
    pub page_visits_topic: String,
    /// `${SESSION_RECORDINGS_TOPIC}`: the topic of session-recording chunks.
    pub session_recordings_topic: String,
    /// `${CONSUMER_GROUP}`: ClickHouse's consumer group; one group per database, or they split the topic.
    pub consumer_group: String,
}

/// One `NNN_name.sql` file, read and substituted: what `migrate` sends, and what `migrate --print` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// The file name, e.g. `001_page_visits.sql`.
    pub file: String,
    pub version: u32,
    /// The file's whole text with its placeholders filled: one statement, comments and trailing `;` included.
    pub statement: String,
    /// SHA-256 (hex) of the file before substitution, as recorded in `schema_migrations`.
    pub checksum: String,
}

/// One migration file and what `migrate` did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: u32,
    /// The file name, e.g. `001_page_visits.sql`.
    pub name: String,
    /// Already applied by an earlier run, so not run again.
    pub skipped: bool,
}

/// One row of the "visits by country" report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct CountryVisits {
    /// ISO 3166-1 alpha-2, or `XX` when the edge did not know.
    pub country: String,
    /// Page views.
    pub visits: u64,
    /// Distinct visitor ids.
    pub visitors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot read migrations at {}: {source}", path.display())]
    ReadMigrations { path: PathBuf, source: std::io::Error },
    #[error("no NNN_name.sql migrations in {}: set the sql directory to the repository's sql/", dir.display())]
    NoMigrations { dir: PathBuf },
    #[error("migration {file}: the name must be NNN_name.sql")]
    MigrationName { file: String },
    #[error("migrations {first} and {second} have the same version {version}")]
    DuplicateVersion { version: u32, first: String, second: String },
    #[error("migration {file}: {source}")]
    Placeholder { file: String, source: PlaceholderError },
    #[error("migration {file} was edited after it was applied (sha256 {applied} then, {current} now): restore it and put the change in a new migration")]
    ChecksumMismatch { file: String, applied: String, current: String },
    #[error("migration {file}: {source}")]
    Statement { file: String, source: clickhouse::error::Error },
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
}

/// A client for `database` on the server at `url` (e.g. `http://127.0.0.1:8123`). An empty password is
/// allowed (the local stack's `default` user has none).
pub fn client(url: &str, database: &str, user: &str, password: &str) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(url)
        .with_database(database)
        .with_user(user)
        .with_password(password)
        .with_validation(false)
}
