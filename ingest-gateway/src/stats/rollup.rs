//! The rollup step: writes each UTC day's exact numbers into the daily tables (`sql/016`, `sql/017`) and its
//! finalized visits (`sql/022`), and records the day in `sql/018`, so that reports over whole days read plain
//! numbers (see [`super::daily`]).
//! `ingest-gateway rollup` runs it once; the server runs it every `STATS_ROLLUP_INTERVAL_S`, whether or not
//! the stats API is on.
//!
//! It is idempotent: a day is computed again whole from `page_visits FINAL` and `stats_sessions`, both of
//! which hold a redelivered event once, and the new rows replace the old ones (highest version). A timed run
//! looks at the past days of the late window (`STATS_ROLLUP_LATE_S`, two days by default: the edge's queue
//! gives up on a message after one) and writes only those that received events since their last run (the
//! arrivals of `sql/019`) and then none for `STATS_ROLLUP_SETTLE_S`: its work follows the events that
//! arrived. Today is never written by the timer: it is read live from the rollups every insert updates. A day
//! is marked closed by the first run after its late window, and written again only if events of it arrive.

use std::sync::LazyLock;
use std::time::Duration;

use analytics_model::Template;
use clickhouse::sql::Identifier;
use clickhouse::Client;
use futures_util::FutureExt;

use super::daily::{self, day_name, DayRun};
use super::query::DAY_S;

static EVENTS: LazyLock<Template> = template!("stats_rollup_events.sql");
static EVENT_PAIRS: LazyLock<Template> = template!("stats_rollup_event_pairs.sql");
static VISITS: LazyLock<Template> = template!("stats_rollup_visits.sql");
static VISIT_ROWS: LazyLock<Template> = template!("stats_rollup_visit_rows.sql");
const MARK: &str = include_str!("../../../sql/queries/stats_rollup_mark.sql");

/// Default seconds between the server's runs. A run with nothing new costs two small reads; a day whose events
/// settled is written at the next run (seconds of server time per day of 300,000 page views, BENCHMARKS.md),
/// and until then it is read from the live rollups.
pub const DEFAULT_INTERVAL_S: u32 = 300;

/// Default late window: events of a day may still arrive this long after it ended.
pub const DEFAULT_LATE_S: u32 = 2 * DAY_S;

/// What one run wrote: each day as `YYYY-MM-DD`, and whether it was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledDay {
    pub day: String,
    pub closed: bool,
}

/// The days a run at `now` covers, `[start, end)` in unix seconds: from the day before the oldest one still
/// in the late window (so that it is closed once it leaves the window) through today.
pub fn due(now: u32, late_s: u32) -> (u32, u32) {
    let first = (now.saturating_sub(late_s) / DAY_S).saturating_sub(1) * DAY_S;
    (first, (now / DAY_S + 1) * DAY_S)
}

/// The first day (unix seconds of its midnight UTC) a run may write when raw events are kept
/// `retention_days` days (`EVENTS_RETENTION_DAYS`; 0 keeps them forever): the retention's cutoff. Before it,
/// `ingest-gateway retention` or the TTL may already have deleted raw events, and writing such a day again
/// would replace its numbers with those of what is left.
pub fn first_writable_day(now: u32, retention_days: u32) -> u32 {
    if retention_days == 0 {
        return 0;
    }
    (now / DAY_S).saturating_sub(retention_days) * DAY_S
}

/// Refuses a run over `[from, _)` that would write a day older than the retention keeps (see
/// [`first_writable_day`]), naming the first day it may write.
pub fn check_retention(from: u32, now: u32, retention_days: u32) -> Result<(), String> {
    let first = first_writable_day(now, retention_days);
    if from >= first {
        return Ok(());
    }
    Err(format!(
        "raw page events are kept {retention_days} days (EVENTS_RETENTION_DAYS), so days before {} may have lost \
         events; writing them again would lower their numbers. Roll up from {} on, or, for the server's own runs, \
         keep EVENTS_RETENTION_DAYS at least the late window (STATS_ROLLUP_LATE_S) plus a day",
        day_name(first),
        day_name(first)
    ))
}

/// Writes every UTC day of `[from, to)` (whole days), oldest first. `now` decides which are closed
/// (`now` >= end of day + `late_s`); `version` (unix ms, increasing from run to run) orders the rows.
pub async fn run(
    client: &Client,
    (from, to): (u32, u32),
    now: u32,
    late_s: u32,
    version: u64,
) -> Result<Vec<RolledDay>, clickhouse::error::Error> {
    let mut rolled = Vec::new();
    for start in (from / DAY_S * DAY_S..to).step_by(DAY_S as usize) {
        let end = start.saturating_add(DAY_S);
        let day = day_name(start);
        let closed = u64::from(now) >= u64::from(end) + u64::from(late_s);
        client.query(&EVENTS.sql()).bind(&day).bind(version).bind(start).bind(end).execute().await?;
        for filter in analytics_model::DIMENSIONS.iter().filter(|d| d.paired()) {
            client
                .query(&EVENT_PAIRS.sql())
                .bind(Identifier(filter.column))
                .bind(&day)
                .bind(version)
                .bind(filter.name)
                .bind(start)
                .bind(end)
                .execute()
                .await?;
        }
        for visits in [&VISITS, &VISIT_ROWS] {
            client
                .query(&visits.sql())
                .bind(&day)
                .bind(version)
                .bind(&day)
                .bind(&day)
                .bind(u64::from(start) * 1_000)
                .bind(u64::from(end) * 1_000)
                .execute()
                .await?;
        }
        // Only once all are written: a run cut short leaves the day to the states (or to its older rows).
        client.query(MARK).bind(&day).bind(version).bind(u8::from(closed)).execute().await?;
        rolled.push(RolledDay { day, closed });
    }
    Ok(rolled)
}

/// What a timed run does with one day (of the late window, or an earlier one that events arrived for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayAction {
    /// Nothing: today (read live from the rollups), rows current (and closed once due), or events still
    /// arriving.
    Skip,
    /// Write the day's rows: it has none, or events arrived after its last run and have settled.
    Write,
    /// Its rows are current and its late window is over: mark it closed without computing it again.
    Close,
}

/// Decides a day `[start, start + DAY_S)` for a run at `now` of `version` (its start, unix ms, on the clock
/// arrivals are recorded with), from the day's last run (`None`: never written) and its last arrival over
/// every site (`None`: none recorded). Work follows the events: a day is computed
/// again only after events of it arrived, and only once they stopped for `settle_s`, so that the new rows
/// answer at once; today is left to the live rollups, which are exact and current without any run.
pub fn decide(
    (start, now, version): (u32, u32, u64),
    late_s: u32,
    settle_s: u32,
    run: Option<&DayRun>,
    arrived: Option<u32>,
) -> DayAction {
    let end = start.saturating_add(DAY_S);
    if end > now {
        return DayAction::Skip;
    }
    let closing = u64::from(now) >= u64::from(end) + u64::from(late_s);
    // A day of the late window that a rollup from before the paired rows wrote (sql/023) is written again;
    // an older, closed one is left to `ingest-gateway rollup --from --to` (its paired questions read the
    // live rollups until then), so an upgrade does not recompute the whole history at once.
    let current = |run: &&DayRun| daily::current(run.version, arrived, settle_s) && (run.paired > 0 || run.closed > 0);
    if let Some(run) = run.filter(current) {
        return if closing && run.closed == 0 { DayAction::Close } else { DayAction::Skip };
    }
    // Rows written now would be current: the events have stopped arriving for the settle time.
    if daily::current(version, arrived, settle_s) {
        DayAction::Write
    } else {
        DayAction::Skip
    }
}

/// Writes or closes days as [`decide`] says, oldest first: what the server's timer does. The days are those
/// of the late window, and every earlier day a run wrote that events of arrived since, even a closed one (a
/// replay of old records, a backfill), back to the retention's cutoff (`retention_days`, see
/// [`first_writable_day`]). `now` and `version` must come from the server's clock, the one `sql/019`
/// records arrivals with.
pub async fn run_due(
    client: &Client,
    (now, version): (u32, u64),
    late_s: u32,
    settle_s: u32,
    retention_days: u32,
) -> Result<Vec<RolledDay>, clickhouse::error::Error> {
    let (window, to) = due(now, late_s);
    let first = first_writable_day(now, retention_days);
    let (runs, arrivals) = daily::days(client, "", (first.min(window), to)).await?;
    let mut days: std::collections::BTreeSet<u32> = (window..to).step_by(DAY_S as usize).collect();
    days.extend(runs.keys().filter_map(|day| daily::day_start(day)).filter(|&start| start >= first));
    let mut rolled = Vec::new();
    for start in days {
        let day = day_name(start);
        match decide((start, now, version), late_s, settle_s, runs.get(&day), arrivals.get(&day).copied()) {
            DayAction::Skip => {}
            DayAction::Write => rolled.extend(run(client, (start, start + DAY_S), now, late_s, version).await?),
            DayAction::Close => {
                client.query(MARK).bind(&day).bind(version).bind(1_u8).execute().await?;
                rolled.push(RolledDay { day, closed: true });
            }
        }
    }
    Ok(rolled)
}

/// Runs the due days every `interval`, for as long as the server runs. A failed run is logged and retried at
/// the next tick: until then the API answers those days from the live rollups.
pub async fn every(client: Client, interval: Duration, late_s: u32, settle_s: u32, retention_days: u32) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let started = std::time::Instant::now();
        let outcome = match server_clock(&client).await {
            Ok(clock) => run_due(&client, clock, late_s, settle_s, retention_days).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(days) => tracing::debug!(?days, elapsed_ms = started.elapsed().as_millis(), "stats rollup written"),
            Err(error) => tracing::warn!(%error, "stats rollup failed; reports read those days from the live rollups"),
        }
    }
}

/// [`every`], supervised: a run that panics is logged and the timer starts again one interval later. The
/// task ends when its future is dropped (the server aborts it when it shuts down); a run cut short leaves
/// nothing a report reads, since a day's mark is written after its rows.
pub async fn supervised(client: Client, interval: Duration, late_s: u32, settle_s: u32, retention_days: u32) {
    loop {
        let timer = every(client.clone(), interval, late_s, settle_s, retention_days);
        if std::panic::AssertUnwindSafe(timer).catch_unwind().await.is_err() {
            tracing::error!("the stats rollup task panicked; it starts again after the interval");
            tokio::time::sleep(interval).await;
        }
    }
}

/// The server's current time as unix seconds, and a run's version: that time in ms (the clock `sql/019`
/// records arrivals with, so that no skew between hosts can make rows look newer than an arrival), or one more
/// than the latest run's version when that is not below it. `now()` counts whole seconds, so two runs within
/// one second would otherwise share a version, and a day's visit rows of both runs would be read as one run's
/// (every visit they share counted twice).
pub async fn server_clock(client: &Client) -> Result<(u32, u64), clickhouse::error::Error> {
    client
        .query(
            "SELECT toUInt32(now()), greatest(toUInt64(now()) * 1000, (SELECT max(version) FROM stats_daily_runs) + 1)",
        )
        .fetch_one()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_3: u32 = 1_767_398_400; // 2026-01-03T00:00:00Z

    #[test]
    fn a_run_never_writes_a_day_the_retention_may_have_emptied() {
        let now = 20_000 * DAY_S + 3_600;
        assert_eq!(first_writable_day(now, 0), 0, "0 keeps raw events forever");
        assert_eq!(first_writable_day(now, 30), (20_000 - 30) * DAY_S, "the retention's cutoff, a midnight");
        assert!(check_retention((20_000 - 30) * DAY_S, now, 30).is_ok());
        let refused = check_retention((20_000 - 31) * DAY_S, now, 30).expect_err("a day before the cutoff");
        assert!(refused.contains("EVENTS_RETENTION_DAYS"), "{refused}");
        assert!(refused.contains(&day_name((20_000 - 30) * DAY_S)), "{refused}");
        assert!(check_retention(0, now, 0).is_ok());
        let (from, _) = due(now, 2 * DAY_S);
        assert!(
            check_retention(from, now, 3).is_ok(),
            "the server's runs fit a retention of the late window plus a day"
        );
        assert!(check_retention(from, now, 2).is_err());
    }

    #[test]
    fn a_run_covers_today_and_the_late_window_and_one_day_more_to_close_it() {
        // At 2026-01-03 10:00 with a two-day window: 2025-12-31 (closed now) through 2026-01-03.
        assert_eq!(due(JAN_3 + 36_000, DEFAULT_LATE_S), (JAN_3 - 3 * DAY_S, JAN_3 + DAY_S));
        assert_eq!(due(JAN_3, 0), (JAN_3 - DAY_S, JAN_3 + DAY_S));
    }

    #[test]
    fn a_timed_run_writes_a_past_day_once_its_events_settled_and_closes_current_rows_without_computing_them() {
        let day = JAN_3 - DAY_S; // 2026-01-02
        let at = |now: u32| (day, now, u64::from(now) * 1_000);
        let written =
            |version_s: u64, closed: u8| DayRun { day: day_name(day), version: version_s * 1_000, closed, paired: 1 };
        let (late, settle) = (DEFAULT_LATE_S, 60);
        let noon = JAN_3 + 43_200;
        assert_eq!(decide((JAN_3, noon, 0), late, settle, None, Some(noon)), DayAction::Skip, "today stays live");
        assert_eq!(decide(at(noon), late, settle, None, None), DayAction::Write, "never written");
        assert_eq!(decide(at(noon), late, settle, None, Some(noon - 60)), DayAction::Write);
        assert_eq!(decide(at(noon), late, settle, None, Some(noon - 59)), DayAction::Skip, "still arriving");
        let current = written(u64::from(noon - 600), 0);
        assert_eq!(decide(at(noon), late, settle, Some(&current), Some(noon - 700)), DayAction::Skip, "nothing new");
        assert_eq!(decide(at(noon), late, settle, Some(&current), Some(noon - 300)), DayAction::Write, "new events");
        let closing = JAN_3 + DAY_S + late;
        assert_eq!(decide(at(closing), late, settle, Some(&current), Some(noon - 700)), DayAction::Close);
        assert_eq!(decide(at(closing), late, settle, Some(&current), Some(noon)), DayAction::Write);
        let closed = written(u64::from(noon), 1);
        assert_eq!(decide(at(closing), late, settle, Some(&closed), Some(noon - 700)), DayAction::Skip);
        assert_eq!(
            decide(at(closing + DAY_S), late, settle, Some(&closed), Some(closing)),
            DayAction::Write,
            "events that arrived for a closed day are counted again"
        );

        // Written by a rollup from before the paired rows: again while in its window (never closed without
        // them), left alone once closed.
        let unpaired = DayRun { paired: 0, ..current.clone() };
        assert_eq!(decide(at(noon), late, settle, Some(&unpaired), Some(noon - 700)), DayAction::Write);
        assert_eq!(decide(at(closing), late, settle, Some(&unpaired), Some(noon - 700)), DayAction::Write);
        let closed_unpaired = DayRun { paired: 0, ..closed.clone() };
        assert_eq!(decide(at(closing), late, settle, Some(&closed_unpaired), Some(noon - 700)), DayAction::Skip);
    }
}
