//! `ingest-gateway retention`: deletes recordings received before midnight UTC `days` days ago, from the
//! chunks and from the summary alike.
//!
//! Modern ClickHouse would do this itself with a table TTL, but ClickHouse 18.16 (the local stack's, and
//! the floor the migrations keep to) has none. So, run daily (cron, a systemd timer, a Kubernetes CronJob):
//!
//! 1. every monthly partition whose whole month lies before the cutoff is dropped (see [`crate::retention`]):
//!    instant, and it frees the disk at once;
//! 2. the rows before the cutoff in the month it falls in are deleted with `ALTER TABLE ... DELETE`, a
//!    mutation that rewrites those parts in the background; it is only issued when such rows exist.
//!
//! A session that spans the cutoff loses its older chunks first and then shows as having gaps, which is the
//! truth about what is left of it.

use chrono::{DateTime, NaiveDate, Utc};
use clickhouse::sql::Identifier;
use clickhouse::Client;

use crate::retention::{cutoff, drop_expired_partitions, RetentionError};

/// The two recording tables and the column each is partitioned by (monthly).
const TABLES: [(&str, &str); 2] = [("recording_chunks", "timestamp"), ("recording_sessions", "day")];

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// Rows received before this UTC day are deleted.
    pub cutoff: NaiveDate,
    /// (table, partition) dropped whole.
    pub dropped_partitions: Vec<(String, String)>,
    /// Rows of partly expired months scheduled for deletion, per table.
    pub deleted_rows: Vec<(String, u64)>,
}

/// Deletes the recordings received before midnight UTC `days` days before `now`: whole months by dropping
/// them, the rest of the cutoff's month by a background mutation.
pub async fn apply(client: &Client, days: u32, now: DateTime<Utc>) -> Result<RetentionReport, RetentionError> {
    let cutoff = cutoff(now, days);
    let cutoff_day = cutoff.format("%Y-%m-%d").to_string();
    let mut report = RetentionReport { cutoff, dropped_partitions: Vec::new(), deleted_rows: Vec::new() };
    for (table, column) in TABLES {
        for partition in drop_expired_partitions(client, table, column, cutoff).await? {
            report.dropped_partitions.push((table.to_owned(), partition));
        }
        let older: u64 = client
            .query("SELECT toUInt64(count()) FROM ? WHERE toDate(?) < toDate(?)")
            .bind(Identifier(table))
            .bind(Identifier(column))
            .bind(&cutoff_day)
            .fetch_one()
            .await?;
        if older > 0 {
            client
                .query("ALTER TABLE ? DELETE WHERE toDate(?) < toDate(?)")
                .bind(Identifier(table))
                .bind(Identifier(column))
                .bind(&cutoff_day)
                .execute()
                .await?;
            tracing::info!(table, rows = older, cutoff = %cutoff_day, "deleting expired recordings");
            report.deleted_rows.push((table.to_owned(), older));
        }
    }
    Ok(report)
}
