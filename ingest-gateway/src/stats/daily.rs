//! Reports over whole UTC days from the finalized daily rows (`sql/016`-`018`) that [`super::rollup`]
//! writes, so that a month is about 30 rows per value rather than sets of millions of ids merged at query
//! time. Each day of a range is read from those rows when a rollup run closed it (past its late window) or
//! wrote it within [`Freshness::fresh_s`]; every other day, and every question the daily rows do not key
//! (ranges that are not whole days, a page filter, two filters, a filtered breakdown), is answered from the
//! states of `stats_hourly` and `stats_sessions` as before, so a stopped rollup makes reports slower, never
//! wrong or stale. Both give the same numbers (the chDB and 18.16 tests hold them to the raw events).
//!
//! Days add up because every daily number is a sum over the day's events or visits, and visitors are per day
//! too: the edge derives visitor ids with a salt that rotates at UTC midnight.

use std::collections::{HashMap, HashSet};

use clickhouse::Client;
use serde::Deserialize;

use super::query::{self, Counts, Dimension, EventRow, Question, VisitRow, Visits, DAY_S};

const DAYS: &str = include_str!("../../../sql/queries/stats_daily_days.sql");
const COUNTS: &str = include_str!("../../../sql/queries/stats_daily_counts.sql");
const VISITS: &str = include_str!("../../../sql/queries/stats_daily_visits.sql");
const BREAKDOWN: &str = include_str!("../../../sql/queries/stats_daily_breakdown.sql");
const BREAKDOWN_VISITS: &str = include_str!("../../../sql/queries/stats_daily_breakdown_visits.sql");

/// How recent a run's rows of a day that was not closed yet (today, yesterday) must be to answer: three
/// default rollup intervals, so one failed or slow run does not send those days to the states.
pub const DEFAULT_FRESH_S: u32 = 900;

/// When a day's finalized rows may answer: a run closed the day, or wrote it at most `fresh_s` before `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Unix seconds.
    pub now: u32,
    pub fresh_s: u32,
}

impl Freshness {
    pub fn at(now: u32) -> Self {
        Self { now, fresh_s: DEFAULT_FRESH_S }
    }

    fn usable(self, run: &DayRun) -> bool {
        run.closed > 0 || run.version / 1_000 + u64::from(self.fresh_s) >= u64::from(self.now)
    }
}

/// A row of `stats_daily_days.sql`.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct DayRun {
    day: String,
    version: u64,
    closed: u8,
}

/// A row of `stats_daily_counts.sql`.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct DayCounts {
    day: String,
    visitors: u64,
    pageviews: u64,
    custom_events: u64,
}

/// A row of `stats_daily_visits.sql`.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct DayVisits {
    day: String,
    visits: u64,
    bounces: u64,
    duration_ms: u64,
}

/// Which days of a range are read from the daily rows (as `YYYY-MM-DD`), and which runs of whole days,
/// `[start, end)` in unix seconds, from the states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub days: Vec<String>,
    pub states: Vec<(u32, u32)>,
}

/// The dimension and value of the daily rows that answer a question: `("", "")` without filters, the
/// filter's own name with one filter on a dimension that has daily rows of both events and visits (one that
/// visits take from their first event, not `page`); `None` when the range is not whole UTC days or the
/// filters are not one the daily rows key.
pub fn key(q: &Question) -> Option<(&'static str, String)> {
    if !q.from.is_multiple_of(DAY_S) || !q.to.is_multiple_of(DAY_S) {
        return None;
    }
    let given: Vec<(&'static Dimension, &str)> = q.filters.given().collect();
    match given.as_slice() {
        [] => Some(("", String::new())),
        [(dimension, value)] if dimension.visit_alias().is_some() => Some((dimension.name, (*value).to_owned())),
        _ => None,
    }
}

/// `YYYY-MM-DD` of the UTC day that `unix` falls in.
pub fn day_name(unix: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(unix), 0).map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

fn day_start(name: &str) -> Option<u32> {
    let date = chrono::NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()?;
    u32::try_from(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp()).ok()
}

/// Splits a question of whole days into the days whose finalized rows may answer and runs of the others.
pub async fn plan(client: &Client, q: &Question, freshness: Freshness) -> Result<Plan, clickhouse::error::Error> {
    let runs: Vec<DayRun> = client.query(DAYS).bind(day_name(q.from)).bind(day_name(q.to)).fetch_all().await?;
    let usable: HashSet<String> = runs.into_iter().filter(|run| freshness.usable(run)).map(|run| run.day).collect();
    Ok(plan_days(q.from, q.to, &usable))
}

fn plan_days(from: u32, to: u32, usable: &HashSet<String>) -> Plan {
    let mut plan = Plan::default();
    for day in (from..to).step_by(DAY_S as usize) {
        let name = day_name(day);
        if usable.contains(&name) {
            plan.days.push(name);
        } else if let Some((_, end)) = plan.states.last_mut().filter(|(_, end)| *end == day) {
            *end = day + DAY_S;
        } else {
            plan.states.push((day, day + DAY_S));
        }
    }
    plan
}

fn part(q: &Question, (from, to): (u32, u32)) -> Question {
    Question { from, to, ..q.clone() }
}

/// Counts and visit metrics per day (keyed by the day's start), for the days of `plan` from the daily rows
/// of `key` and for its other days from the states.
pub async fn per_day(
    client: &Client,
    q: &Question,
    (dimension, value): (&str, &str),
    plan: &Plan,
) -> Result<(HashMap<u32, Counts>, HashMap<u32, Visits>), clickhouse::error::Error> {
    let mut counts = HashMap::new();
    let mut visits = HashMap::new();
    if !plan.days.is_empty() {
        let bind = |sql: &str| {
            client
                .query(sql)
                .bind(&q.site)
                .bind(dimension)
                .bind(value)
                .bind(day_name(q.from))
                .bind(day_name(q.to))
                .bind(&plan.days)
        };
        for row in bind(COUNTS).fetch_all::<DayCounts>().await? {
            if let Some(bucket) = day_start(&row.day) {
                let (visitors, pageviews, custom_events) = (row.visitors, row.pageviews, row.custom_events);
                counts.insert(bucket, Counts { bucket, visitors, pageviews, custom_events });
            }
        }
        for row in bind(VISITS).fetch_all::<DayVisits>().await? {
            if let Some(bucket) = day_start(&row.day) {
                visits.insert(
                    bucket,
                    Visits { bucket, visits: row.visits, bounces: row.bounces, duration_ms: row.duration_ms },
                );
            }
        }
    }
    for &range in &plan.states {
        let (_, rows) = query::counts(client, &part(q, range), DAY_S).await?;
        counts.extend(rows.into_iter().map(|row| (row.bucket, row)));
        let (_, rows) = query::visits(client, &part(q, range), DAY_S).await?;
        visits.extend(rows.into_iter().map(|row| (row.bucket, row)));
    }
    Ok((counts, visits))
}

/// The sums over every day of [`per_day`]: a range's numbers.
pub fn totals(counts: &HashMap<u32, Counts>, visits: &HashMap<u32, Visits>) -> (Counts, Visits) {
    let mut total = (Counts::default(), Visits::default());
    for row in counts.values() {
        total.0.visitors += row.visitors;
        total.0.pageviews += row.pageviews;
        total.0.custom_events += row.custom_events;
    }
    for row in visits.values() {
        total.1.visits += row.visits;
        total.1.bounces += row.bounces;
        total.1.duration_ms += row.duration_ms;
    }
    total
}

/// The top `limit` values of an event dimension over a question without filters: the daily rows, plus the
/// states of the days they cannot answer, merged by value and ordered as `stats_breakdown.sql` orders.
pub async fn event_breakdown(
    client: &Client,
    q: &Question,
    plan: &Plan,
    dimension: &Dimension,
    limit: u32,
) -> Result<Vec<EventRow>, clickhouse::error::Error> {
    let only_events = u8::from(query::is_custom_event(dimension));
    // Merged with other parts, every value is needed before the top ones can be known.
    let whole = if plan.states.is_empty() { limit } else { u32::MAX };
    let mut rows: Vec<EventRow> = if plan.days.is_empty() {
        Vec::new()
    } else {
        client
            .query(BREAKDOWN)
            .bind(&q.site)
            .bind(dimension.name)
            .bind(day_name(q.from))
            .bind(day_name(q.to))
            .bind(&plan.days)
            .bind(only_events)
            .bind(whole)
            .fetch_all()
            .await?
    };
    if plan.states.is_empty() {
        return Ok(rows);
    }
    let mut by_value: HashMap<String, EventRow> = rows.drain(..).map(|row| (row.value.clone(), row)).collect();
    for &range in &plan.states {
        let (_, part_rows) = query::event_breakdown(client, &part(q, range), dimension, u32::MAX).await?;
        for row in part_rows {
            let total =
                by_value.entry(row.value.clone()).or_insert_with(|| EventRow { value: row.value.clone(), ..zero() });
            total.visitors += row.visitors;
            total.pageviews += row.pageviews;
            total.custom_events += row.custom_events;
            total.converted_visitors += row.converted_visitors;
        }
    }
    let mut rows: Vec<EventRow> = by_value.into_values().collect();
    rows.sort_by(|a, b| {
        b.visitors.cmp(&a.visitors).then(b.custom_events.cmp(&a.custom_events)).then_with(|| a.value.cmp(&b.value))
    });
    rows.truncate(limit as usize);
    Ok(rows)
}

fn zero() -> EventRow {
    EventRow { value: String::new(), visitors: 0, pageviews: 0, custom_events: 0, converted_visitors: 0 }
}

/// The top `limit` entry or exit pages over a question without filters, as [`event_breakdown`] merges.
pub async fn visit_breakdown(
    client: &Client,
    q: &Question,
    plan: &Plan,
    dimension: &Dimension,
    limit: u32,
) -> Result<Vec<VisitRow>, clickhouse::error::Error> {
    let whole = if plan.states.is_empty() { limit } else { u32::MAX };
    let mut rows: Vec<VisitRow> = if plan.days.is_empty() {
        Vec::new()
    } else {
        client
            .query(BREAKDOWN_VISITS)
            .bind(&q.site)
            .bind(dimension.name)
            .bind(day_name(q.from))
            .bind(day_name(q.to))
            .bind(&plan.days)
            .bind(whole)
            .fetch_all()
            .await?
    };
    if plan.states.is_empty() {
        return Ok(rows);
    }
    let mut by_value: HashMap<String, VisitRow> = rows.drain(..).map(|row| (row.value.clone(), row)).collect();
    for &range in &plan.states {
        for row in query::visit_breakdown(client, &part(q, range), dimension, u32::MAX).await? {
            let total = by_value.entry(row.value.clone()).or_insert_with(|| VisitRow {
                value: row.value.clone(),
                visits: 0,
                bounces: 0,
                duration_ms: 0,
            });
            total.visits += row.visits;
            total.bounces += row.bounces;
            total.duration_ms += row.duration_ms;
        }
    }
    let mut rows: Vec<VisitRow> = by_value.into_values().collect();
    rows.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.value.cmp(&b.value)));
    rows.truncate(limit as usize);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::query::Filters;

    const JAN_1: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn question(from: u32, to: u32, filters: &[(&str, &str)]) -> Question {
        let mut set = Filters::default();
        for (name, value) in filters {
            set.set(name, value).expect("filterable");
        }
        Question { site: "s".into(), from, to, filters: set }
    }

    #[test]
    fn only_whole_days_with_at_most_one_filter_other_than_page_have_daily_rows() {
        assert_eq!(key(&question(JAN_1, JAN_1 + DAY_S, &[])), Some(("", String::new())));
        assert_eq!(key(&question(JAN_1, JAN_1 + DAY_S, &[("country", "DE")])), Some(("country", "DE".to_owned())));
        assert_eq!(key(&question(JAN_1, JAN_1 + DAY_S, &[("source", "a.b")])), Some(("source", "a.b".to_owned())));
        assert_eq!(key(&question(JAN_1, JAN_1 + DAY_S, &[("page", "/")])), None);
        assert_eq!(key(&question(JAN_1, JAN_1 + DAY_S, &[("country", "DE"), ("os", "iOS")])), None);
        assert_eq!(key(&question(JAN_1 + 3_600, JAN_1 + DAY_S, &[])), None);
    }

    #[test]
    fn days_without_usable_rows_are_grouped_into_runs_read_from_the_states() {
        let usable: HashSet<String> = ["2026-01-02", "2026-01-03", "2026-01-05"].map(str::to_owned).into();
        let plan = plan_days(JAN_1, JAN_1 + 7 * DAY_S, &usable);
        assert_eq!(plan.days, ["2026-01-02", "2026-01-03", "2026-01-05"]);
        assert_eq!(
            plan.states,
            [(JAN_1, JAN_1 + DAY_S), (JAN_1 + 3 * DAY_S, JAN_1 + 4 * DAY_S), (JAN_1 + 5 * DAY_S, JAN_1 + 7 * DAY_S)]
        );
        assert_eq!(day_start("2026-01-02"), Some(JAN_1 + DAY_S));
        assert_eq!(day_name(JAN_1 + DAY_S - 1), "2026-01-01");
    }

    #[test]
    fn a_day_answers_when_closed_or_written_recently() {
        let run = |version_s: u64, closed: u8| DayRun { day: "2026-01-01".into(), version: version_s * 1_000, closed };
        let freshness = Freshness { now: 10_000, fresh_s: 300 };
        assert!(freshness.usable(&run(9_700, 0)));
        assert!(!freshness.usable(&run(9_699, 0)));
        assert!(freshness.usable(&run(1, 1)));
    }
}
