//! The ClickHouse side of the pipeline, as a library: applies `sql/` migrations, keeps the rollups in the
//! analytics model's shape (`rollups`) and answers the named queries. `ingest-gateway` runs it.
//!
//! The SQL lives in `sql/` at the repository root (see its README for the schema's reasoning); this library
//! runs it, in the form the server at hand takes (`variant`: 18.16 as written, current servers and clusters
//! derived by rules), and keeps what the files cannot hold because it comes from configuration: the users
//! (`access`) and the events' retention. Every client it builds has row validation off, because validation
//! needs the `RowBinaryWithNamesAndTypes` format that ClickHouse 18.16 lacks; the schema test in
//! `ingest-gateway/tests/warehouse.rs` checks the row types against the live table instead.

pub mod access;
mod migrate;
mod queries;
pub mod rollups;
mod secret;
mod sql_text;
pub mod variant;

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

pub use access::{AccessConfig, ManagedUser};
pub use migrate::{
    keep_rollups, migrate, migrate_with, read_migrations, read_migrations_for, render_golden,
    rollup_statements_after_files,
};
pub use queries::visits_by_country;
pub use secret::Secret;
pub use sql_text::PlaceholderError;
pub use variant::{Target, VariantError};

/// Settings of `migrate` beyond the files: a cluster to deploy on, the topics' replication, the users.
#[derive(Debug, Clone, Default, Args)]
pub struct DeployConfig {
    /// Deploy on this ClickHouse cluster (a name from the servers' `remote_servers`): `ON CLUSTER` DDL,
    /// Replicated*MergeTree local tables `<table>_local`, Distributed tables under the plain names for
    /// reading, Kafka tables on every replica in one consumer group. Needs ClickHouse 21.8 or later and
    /// ClickHouse Keeper (or ZooKeeper); see docs/CLUSTER.md. Unset: one server.
    #[arg(long, env = "CLICKHOUSE_CLUSTER", global = true)]
    pub clickhouse_cluster: Option<String>,

    /// Replicas of each partition of the topics `migrate` creates (Kafka CreateTopics `replication_factor`);
    /// at most the number of brokers. 3 on a production Redpanda or Kafka cluster, 1 on a single broker.
    #[arg(long, env = "TOPIC_REPLICATION_FACTOR", default_value_t = 1, global = true)]
    pub topic_replication_factor: i32,

    #[command(flatten)]
    pub access: AccessConfig,
}

impl DeployConfig {
    /// Checks what the types cannot; the message says what to set.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(cluster) = &self.clickhouse_cluster {
            access::check_identifier(cluster).map_err(|why| format!("CLICKHOUSE_CLUSTER {why}"))?;
        }
        if self.topic_replication_factor < 1 {
            return Err("TOPIC_REPLICATION_FACTOR (--topic-replication-factor) must be at least 1".to_owned());
        }
        self.access.users().map(drop)
    }

    /// What `migrate` deploys besides the files.
    pub fn deployment(&self, events_retention_days: u32) -> Result<Deployment, String> {
        Ok(Deployment { cluster: self.clickhouse_cluster.clone(), events_retention_days, users: self.access.users()? })
    }
}

/// What `migrate` keeps besides the versioned files, all of it from configuration.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// CLICKHOUSE_CLUSTER.
    pub cluster: Option<String>,
    /// EVENTS_RETENTION_DAYS; 0 keeps events forever.
    pub events_retention_days: u32,
    pub users: Vec<ManagedUser>,
}

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
    /// The file's whole text with its placeholders filled: one statement, comments and trailing `;` included;
    /// on a current server or a cluster, in the form the rules of `variant` derive.
    pub statement: String,
    /// Generated statements that run before `statement` (none on 18.16).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// Generated statements that complete `statement` (none on 18.16).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
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
    /// Visits that started in the range with their first event from this country (the analytics model's
    /// `visits`).
    pub visits: u64,
    /// Page views from this country.
    pub pageviews: u64,
    /// Distinct visitors among those page views.
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
    Variant { file: String, source: VariantError },
    #[error("ClickHouse {version} cannot take the cluster deployment (CLICKHOUSE_CLUSTER): it needs 21.8 or later")]
    ClusterNeedsCurrentServer { version: String },
    #[error("{0}")]
    Access(String),
    #[error("ClickHouse {version} has no SQL access control, so migrate cannot create user {user}: define it in the server's users.xml (password_sha256_hex of the configured password{rights}), or unset the variables of this user; logging in as it failed: {source}")]
    LegacyUser { version: String, user: String, rights: &'static str, source: clickhouse::error::Error },
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
