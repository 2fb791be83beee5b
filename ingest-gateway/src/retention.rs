//! Retention by monthly partitions, for the tables whose rows expire: the raw page events (`page_visits`,
//! kept `EVENTS_RETENTION_DAYS` days) and the session recordings (see [`crate::replay::retention`]).
//!
//! Modern ClickHouse expires rows itself with a table TTL (`migrate` sets one on `page_visits`), but
//! ClickHouse 18.16, the floor the migrations keep to, has no TTL. What both have is
//! `ALTER TABLE ... DROP PARTITION`: instant, and it frees the disk at once. Every table here is partitioned
//! by `toYYYYMM` of its time column, so a month whose last day lies before the cutoff can be dropped whole.
//! The dropping runs on every server version: a month it drops is one the TTL would empty anyway.
//!
//! The rollups (`stats_hourly`, `stats_sessions`) are never touched: they are filled by views at insert
//! time, so dropping raw months leaves every number they hold as it was, and long-range reports keep
//! working from them.

use chrono::{DateTime, Days, NaiveDate, Utc};
use clickhouse::sql::Identifier;
use clickhouse::Client;

/// The raw events table and the column its months are cut by (`PARTITION BY toYYYYMM(timestamp)`).
pub const EVENTS_TABLE: (&str, &str) = ("page_visits", "timestamp");

/// The first UTC day that is kept when rows are kept `days` days: rows received before its midnight expire.
pub fn cutoff(now: DateTime<Utc>, days: u32) -> NaiveDate {
    now.date_naive().checked_sub_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MIN)
}

/// Whether the monthly partition `YYYYMM` holds only days before `cutoff`. Anything that is not a month
/// (an unpartitioned table's `tuple()`, a partition scheme this code does not know) is never expired.
pub fn partition_expired(partition: &str, cutoff: NaiveDate) -> bool {
    let Some(month) = partition_month(partition) else { return false };
    let (year, month) = (i32::try_from(month / 100).unwrap_or(i32::MAX), month % 100);
    if !(1..=12).contains(&month) {
        return false;
    }
    let first_day_after =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    first_day_after.is_some_and(|first_day_after| first_day_after <= cutoff)
}

/// The expired ones among `partitions`, oldest first, each once.
pub fn expired_partitions(partitions: &[String], cutoff: NaiveDate) -> Vec<String> {
    let mut expired: Vec<String> = partitions.iter().filter(|p| partition_expired(p, cutoff)).cloned().collect();
    expired.sort();
    expired.dedup();
    expired
}

/// `YYYYMM` as ClickHouse names a `toYYYYMM` partition in `system.parts` (six digits, no quotes).
fn partition_month(partition: &str) -> Option<u32> {
    (partition.len() == 6 && partition.bytes().all(|b| b.is_ascii_digit())).then(|| partition.parse().ok()).flatten()
}

/// What one run did to the raw events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsRetentionReport {
    /// Events received before this UTC day are expired.
    pub cutoff: NaiveDate,
    /// The `page_visits` months dropped, `YYYYMM`, oldest first.
    pub dropped_partitions: Vec<String>,
}

/// Drops every month of `page_visits` that lies wholly before the cutoff of `days` days; `days == 0` keeps
/// the events forever and touches nothing (`None`). The month the cutoff falls in stays whole until it has
/// expired entirely: on 18.16 events are kept between `days` and `days` + one month, and on modern servers
/// the TTL removes the expired days of that month as they expire.
pub async fn apply_events(
    client: &Client,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Option<EventsRetentionReport>, RetentionError> {
    if days == 0 {
        return Ok(None);
    }
    let cutoff = cutoff(now, days);
    let (table, column) = EVENTS_TABLE;
    let dropped_partitions = drop_expired_partitions(client, table, column, cutoff).await?;
    Ok(Some(EventsRetentionReport { cutoff, dropped_partitions }))
}

/// Why a retention run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    /// The table's months are not those of the retention column, so a month's name says nothing about its
    /// rows' age: nothing of it is dropped.
    #[error("{table} is not partitioned by toYYYYMM({column}) (its definition: {definition}); not dropping anything")]
    NotPartitionedByMonth { table: String, column: String, definition: String },
}

/// Whether a `SHOW CREATE TABLE` answer partitions by `toYYYYMM(column)`, and by nothing else.
pub fn partitioned_by_month_of(create_table: &str, column: &str) -> bool {
    let words: Vec<&str> = create_table.split_whitespace().collect();
    let normalised = words.join(" ");
    let Some((_, after)) = normalised.split_once(" PARTITION BY ") else { return false };
    let wanted = format!("toYYYYMM({column})");
    let unquoted = after.replace(['`', '"'], "");
    // The key must end where the next clause starts: `toYYYYMM(timestamp) % 2` is another key.
    const NEXT_CLAUSES: [&str; 5] = [" ORDER BY ", " PRIMARY KEY ", " SAMPLE BY ", " TTL ", " SETTINGS "];
    unquoted
        .strip_prefix(&wanted)
        .is_some_and(|rest| rest.is_empty() || NEXT_CLAUSES.iter().any(|clause| rest.starts_with(clause)))
}

/// Drops the active monthly partitions of `table` that lie wholly before `cutoff`, and returns them. The table
/// must be partitioned by `toYYYYMM(column)` (checked from its definition first): then every row of a month
/// has its `column` in that month, so a month that ends before the cutoff holds no row of the kept window.
pub async fn drop_expired_partitions(
    client: &Client,
    table: &str,
    column: &str,
    cutoff: NaiveDate,
) -> Result<Vec<String>, RetentionError> {
    let definition: String = client.query("SHOW CREATE TABLE ?").bind(Identifier(table)).fetch_one().await?;
    if !partitioned_by_month_of(&definition, column) {
        return Err(RetentionError::NotPartitionedByMonth {
            table: table.to_owned(),
            column: column.to_owned(),
            definition: definition.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    let partitions: Vec<String> = client
        .query(
            "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = ? AND active",
        )
        .bind(table)
        .fetch_all()
        .await?;
    let mut dropped = Vec::new();
    for partition in expired_partitions(&partitions, cutoff) {
        let Some(month) = partition_month(&partition) else { continue };
        client.query("ALTER TABLE ? DROP PARTITION ?").bind(Identifier(table)).bind(month).execute().await?;
        tracing::info!(table, %partition, %cutoff, "dropped an expired month");
        dropped.push(partition);
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("a time").to_utc()
    }

    fn months(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn the_cutoff_is_midnight_utc_so_many_days_ago() {
        assert_eq!(cutoff(at("2026-04-01T23:59:00Z"), 20), day("2026-03-12"));
        assert_eq!(cutoff(at("2026-04-01T00:00:00Z"), 1), day("2026-03-31"));
        assert_eq!(cutoff(at("2026-03-01T00:00:00Z"), 1), day("2026-02-28"));
        assert_eq!(cutoff(at("2028-03-01T12:00:00Z"), 1), day("2028-02-29"), "a leap day is a day");
        assert_eq!(cutoff(at("2026-04-01T00:00:00Z"), u32::MAX), NaiveDate::MIN, "too far back keeps everything");
    }

    #[test]
    fn a_month_is_dropped_only_when_all_of_it_is_before_the_cutoff() {
        assert!(partition_expired("202601", day("2026-03-12")));
        assert!(partition_expired("202602", day("2026-03-01")), "its last day is before the first kept day");
        assert!(!partition_expired("202602", day("2026-02-28")), "its last day is the first kept day");
        assert!(!partition_expired("202603", day("2026-03-01")), "the month the cutoff opens is kept");
        assert!(!partition_expired("202603", day("2026-03-31")), "the month the cutoff falls in is kept");
        assert!(partition_expired("202512", day("2026-01-01")), "December rolls into the next year");
        assert!(!partition_expired("202512", day("2025-12-31")));
        assert!(partition_expired("202802", day("2028-03-01")), "a leap February ends on the 29th");
        assert!(!partition_expired("202802", day("2028-02-29")));
    }

    #[test]
    fn a_partition_that_is_not_a_month_is_never_dropped() {
        for name in ["all", "tuple()", "2026", "20260101", "202613", "202600", "-20260", ""] {
            assert!(!partition_expired(name, day("2030-01-01")), "{name:?}");
        }
    }

    #[test]
    fn only_a_table_partitioned_by_the_month_of_the_retention_column_qualifies() {
        // As ClickHouse 18.16 and current servers print them (SHOW CREATE TABLE).
        let old = "CREATE TABLE db.page_visits ( event_id String, timestamp DateTime('UTC')) ENGINE = \
                   ReplacingMergeTree PARTITION BY toYYYYMM(timestamp) ORDER BY (site, toDate(timestamp)) SETTINGS \
                   index_granularity = 8192";
        let modern = "CREATE TABLE db.page_visits\n(\n    `timestamp` DateTime('UTC')\n)\nENGINE = \
                      ReplacingMergeTree\nPARTITION BY toYYYYMM(timestamp)\nORDER BY timestamp\nTTL timestamp + \
                      toIntervalDay(30)\nSETTINGS index_granularity = 8192";
        assert!(partitioned_by_month_of(old, "timestamp"));
        assert!(partitioned_by_month_of(modern, "timestamp"));
        assert!(!partitioned_by_month_of(old, "received"), "another column's months");
        assert!(!partitioned_by_month_of(&old.replace("toYYYYMM(timestamp)", "toYYYYMM(timestamp) % 2"), "timestamp"));
        assert!(!partitioned_by_month_of(&old.replace("toYYYYMM", "toYYYYMMDD"), "timestamp"));
        assert!(!partitioned_by_month_of(&old.replace("PARTITION BY toYYYYMM(timestamp) ", ""), "timestamp"));
    }

    #[test]
    fn the_expired_months_are_listed_oldest_first_once_each() {
        let cutoff = cutoff(at("2026-03-01T00:30:00Z"), 30); // keeps 2026-01-30 on: January stays
        assert_eq!(cutoff, day("2026-01-30"));
        let parts = months(&["202602", "202512", "202601", "202511", "202512", "202603"]);
        assert_eq!(expired_partitions(&parts, cutoff), months(&["202511", "202512"]));
        assert_eq!(expired_partitions(&parts, day("2026-02-01")), months(&["202511", "202512", "202601"]));
        assert!(expired_partitions(&parts, day("2025-11-30")).is_empty());
    }
}
