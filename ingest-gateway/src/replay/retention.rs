//! `ingest-gateway retention`: deletes recordings received before midnight UTC `days` days ago, from the
//! chunks and from the summary alike.
//!
//! Modern ClickHouse would do this itself with a table TTL, but ClickHouse 18.16 (the local stack's, and
//! the floor the migrations keep to) has none. So, run daily (cron, a systemd timer, a Kubernetes CronJob):
//!
//! 1. every monthly partition whose whole month lies before the cutoff is dropped: instant, and it frees
//!    the disk at once;
//! 2. the rows before the cutoff in the month it falls in are deleted with `ALTER TABLE ... DELETE`, a
//!    mutation that rewrites those parts in the background; it is only issued when such rows exist.
//!
//! A session that spans the cutoff loses its older chunks first and then shows as having gaps, which is the
//! truth about what is left of it.

use chrono::{DateTime, Days, NaiveDate, Utc};
use clickhouse::sql::Identifier;
use clickhouse::Client;

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

/// The first UTC day that is kept.
pub fn cutoff(now: DateTime<Utc>, days: u32) -> NaiveDate {
    now.date_naive().checked_sub_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MIN)
}

/// Whether the monthly partition `YYYYMM` holds only days before `cutoff`.
pub fn partition_expired(partition: &str, cutoff: NaiveDate) -> bool {
    let Ok(month) = partition.parse::<u32>() else { return false };
    let (year, month) = (i32::try_from(month / 100).unwrap_or(i32::MAX), month % 100);
    let next_month =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    next_month.is_some_and(|first_day_after| first_day_after <= cutoff)
}

pub async fn apply(
    client: &Client,
    days: u32,
    now: DateTime<Utc>,
) -> Result<RetentionReport, clickhouse::error::Error> {
    let cutoff = cutoff(now, days);
    let cutoff_day = cutoff.format("%Y-%m-%d").to_string();
    let mut report = RetentionReport { cutoff, dropped_partitions: Vec::new(), deleted_rows: Vec::new() };
    for (table, column) in TABLES {
        let partitions: Vec<String> = client
            .query("SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = ? AND active")
            .bind(table)
            .fetch_all()
            .await?;
        for partition in partitions.into_iter().filter(|p| partition_expired(p, cutoff)) {
            let month: u32 = partition.parse().unwrap_or_default();
            client.query("ALTER TABLE ? DROP PARTITION ?").bind(Identifier(table)).bind(month).execute().await?;
            tracing::info!(table, %partition, "dropped an expired month of recordings");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn the_cutoff_is_midnight_utc_so_many_days_ago() {
        let now = DateTime::parse_from_rfc3339("2026-04-01T23:59:00+00:00").expect("time").with_timezone(&Utc);
        assert_eq!(cutoff(now, 20), day("2026-03-12"));
        assert_eq!(cutoff(now, 1), day("2026-03-31"));
    }

    #[test]
    fn a_month_is_dropped_only_when_all_of_it_is_before_the_cutoff() {
        assert!(partition_expired("202601", day("2026-03-12")));
        assert!(partition_expired("202602", day("2026-03-01")));
        assert!(!partition_expired("202602", day("2026-02-28")));
        assert!(!partition_expired("202603", day("2026-03-12")));
        assert!(partition_expired("202512", day("2026-01-01")), "December rolls into the next year");
        assert!(!partition_expired("all", day("2026-01-01")), "an unpartitioned table is never dropped whole");
    }
}
