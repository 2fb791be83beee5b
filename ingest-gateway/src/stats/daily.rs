//! Reports over whole UTC days from the finalized daily rows (`sql/016`-`018`) that [`super::rollup`]
//! writes, so that a month is about 30 rows per value rather than sets of millions of ids merged at query
//! time. Each day of a range is read from those rows when the run that wrote them started at least
//! [`Freshness::settle_s`] after the day's last arrival (`sql/019`); every other day (today, while events
//! arrive, or a day that just received late events), and every question the daily rows do not key
//! (ranges that are not whole days, counts under three filters or two of many values each, a breakdown under
//! two filters or one of many values), is answered from the states of `stats_hourly` and `stats_sessions`
//! or the raw events as before, so a stopped rollup makes reports slower, never wrong or stale. Both give the
//! same numbers (the chDB and 18.16 tests hold them to the raw events).
//!
//! Events under a filter of few values ([`Dimension::paired`]: country, browser, ...) have daily rows per
//! value of every event dimension (`country=DE/page`), so a filtered breakdown and the counts of two filters
//! are sums of daily rows too ([`counts_key`], [`breakdown_key`]); visits under filters come from the
//! finalized visit rows (sql/022).
//!
//! Days add up because every daily number is a sum over the day's events or visits, and visitors are per day
//! too: the edge derives visitor ids with a salt that rotates at UTC midnight.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use analytics_model::Template;

use clickhouse::Client;
use serde::Deserialize;

use super::query::{self, Counts, Dimension, EventRow, Question, Source, VisitRow, Visits, DAY_S};

const DAYS: &str = include_str!("../../../sql/queries/stats_daily_days.sql");
const ARRIVALS: &str = include_str!("../../../sql/queries/stats_arrivals.sql");
const COUNTS: &str = include_str!("../../../sql/queries/stats_daily_counts.sql");
const VISITS: &str = include_str!("../../../sql/queries/stats_daily_visits.sql");
const BREAKDOWN: &str = include_str!("../../../sql/queries/stats_daily_breakdown.sql");
const BREAKDOWN_VISITS: &str = include_str!("../../../sql/queries/stats_daily_breakdown_visits.sql");
static VISIT_ROWS: LazyLock<Template> = template!("stats_visit_rows.sql");
static BREAKDOWN_VISIT_ROWS: LazyLock<Template> = template!("stats_breakdown_visit_rows.sql");

/// Default seconds a day's last arrival must precede the run that wrote its rows for them to answer: longer
/// than any insert takes, so a run cannot have read the day before an event that arrived ahead of it was
/// stored.
pub const DEFAULT_SETTLE_S: u32 = 60;

/// When a day's finalized rows may answer: the run that wrote them started at least `settle_s` after the
/// site's last arrival for that day (sql/019), so that they hold every event of the day that is stored,
/// even one that arrived after the day was closed. With `open_days` false only closed days answer (a
/// test's way to read every open day from the rollups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub settle_s: u32,
    pub open_days: bool,
}

impl Default for Freshness {
    fn default() -> Self {
        Self { settle_s: DEFAULT_SETTLE_S, open_days: true }
    }
}

impl Freshness {
    /// Only days a run closed answer from the daily rows.
    pub fn closed_only() -> Self {
        Self { open_days: false, ..Self::default() }
    }

    fn usable(self, run: &DayRun, arrived: Option<u32>) -> bool {
        (self.open_days || run.closed > 0) && current(run.version, arrived, self.settle_s)
    }
}

/// Whether rows written by a run of `version` (unix ms) hold every event of a day whose last arrival was
/// `arrived` (unix seconds; `None`: no arrival recorded, as for days stored before sql/019).
pub fn current(version: u64, arrived: Option<u32>, settle_s: u32) -> bool {
    arrived.is_none_or(|arrived| u64::from(arrived) + u64::from(settle_s) <= version / 1_000)
}

/// A row of `stats_daily_days.sql`.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
pub struct DayRun {
    pub day: String,
    pub version: u64,
    pub closed: u8,
    /// Whether the latest run wrote the day's paired event rows (sql/023): 0 for a day written by a rollup
    /// from before them.
    pub paired: u8,
}

/// A row of `stats_arrivals.sql`.
#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct Arrival {
    day: String,
    arrived: u32,
}

/// The days of `[from, to)` (unix seconds) as the daily rows know them, each by `YYYY-MM-DD`: the runs that
/// wrote them, and when their events last arrived (unix seconds), for `site`, or for every site when `site`
/// is empty. Both small reads go out together.
pub async fn days(
    client: &Client,
    site: &str,
    (from, to): (u32, u32),
) -> Result<(HashMap<String, DayRun>, HashMap<String, u32>), clickhouse::error::Error> {
    let (from, to) = (day_name(from), day_name(to));
    let runs = client.query(DAYS).bind(&from).bind(&to).fetch_all::<DayRun>();
    let arrivals = client.query(ARRIVALS).bind(site).bind(site).bind(&from).bind(&to).fetch_all::<Arrival>();
    let (runs, arrivals) = tokio::try_join!(runs, arrivals)?;
    Ok((
        runs.into_iter().map(|run| (run.day.clone(), run)).collect(),
        arrivals.into_iter().map(|row| (row.day, row.arrived)).collect(),
    ))
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

/// Which days of a range are read from the finalized rows (as `YYYY-MM-DD`), and which parts of the range,
/// `[start, end)` in unix seconds, from the states: runs of whole days, cut to the range where it starts or
/// ends inside a day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub days: Vec<String>,
    /// The version of the run that wrote each day's rows, for every day from the first of `days` to the last
    /// (0 for a day in between that is not read), as the visit rows (sql/022) are read.
    pub versions: Vec<u64>,
    pub states: Vec<(u32, u32)>,
}

/// The dimension and value of the daily rows that answer a question's counts and visits alike: `("", "")`
/// without filters, the filter's own name with one filter on a dimension that has daily rows of both events
/// and visits (one that visits take from their first event, not `page`); `None` when the range is not whole
/// UTC days or the filters are not one the daily rows key.
pub fn key(q: &Question) -> Option<(&'static str, String)> {
    if !whole_days(q) {
        return None;
    }
    let given: Vec<(&'static Dimension, &str)> = q.filters.given().collect();
    match given.as_slice() {
        [] => Some(("", String::new())),
        [(dimension, value)] if dimension.visit_alias().is_some() => Some((dimension.name, (*value).to_owned())),
        _ => None,
    }
}

/// The dimension and value of the daily event rows that count a question's events: `("", "")` without
/// filters, the filter's own with one filter, and with two filters of which one is
/// [`Dimension::paired`], that one's paired rows of the other (`("country=DE/browser", "Chrome")`); `None`
/// when the range is not whole UTC days or the filters are none of these.
pub fn counts_key(q: &Question) -> Option<(String, String)> {
    if !whole_days(q) {
        return None;
    }
    let given: Vec<(&'static Dimension, &str)> = q.filters.given().collect();
    match given.as_slice() {
        [] => Some((String::new(), String::new())),
        [(dimension, value)] => Some((dimension.name.to_owned(), (*value).to_owned())),
        [(first, first_value), (second, second_value)] => {
            let ((filter, value), (other, other_value)) = if first.paired() {
                ((first, first_value), (second, second_value))
            } else {
                ((second, second_value), (first, first_value))
            };
            filter
                .paired()
                .then(|| (analytics_model::paired_dimension(filter, value, other), (*other_value).to_owned()))
        }
        _ => None,
    }
}

/// The dimension of the daily event rows that break a question's events down by `breakdown` (an event
/// dimension): its own without filters, the paired rows of one [`Dimension::paired`] filter
/// (`country=DE/page`); `None` when the range is not whole UTC days or the filters are none of these.
pub fn breakdown_key(q: &Question, breakdown: &Dimension) -> Option<String> {
    if !whole_days(q) {
        return None;
    }
    let given: Vec<(&'static Dimension, &str)> = q.filters.given().collect();
    match given.as_slice() {
        [] => Some(breakdown.name.to_owned()),
        [(filter, value)] if filter.paired() => Some(analytics_model::paired_dimension(filter, value, breakdown)),
        _ => None,
    }
}

fn whole_days(q: &Question) -> bool {
    q.from.is_multiple_of(DAY_S) && q.to.is_multiple_of(DAY_S)
}

/// `YYYY-MM-DD` of the UTC day that `unix` falls in.
pub fn day_name(unix: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(unix), 0).map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

/// Unix seconds of the midnight that starts a `YYYY-MM-DD` day.
pub fn day_start(name: &str) -> Option<u32> {
    let date = chrono::NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()?;
    u32::try_from(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp()).ok()
}

/// Splits a question into the days whose finalized rows may answer and runs of the others. Under a filter
/// of few values (one the paired rows may be read for), a day answers only if its run wrote paired rows.
pub async fn plan(client: &Client, q: &Question, freshness: Freshness) -> Result<Plan, clickhouse::error::Error> {
    let (runs, arrived) = days(client, &q.site, (q.from / DAY_S * DAY_S, q.to.div_ceil(DAY_S) * DAY_S)).await?;
    let paired = q.filters.given().any(|(dimension, _)| dimension.paired());
    Ok(plan_days(q.from, q.to, &usable_days(runs, &arrived, freshness, paired)))
}

/// The days whose rows may answer (name -> version of their rows): written after their last arrival settled
/// (see [`Freshness`]) and, when the question may read paired rows (`paired`), by a run that wrote them.
fn usable_days(
    runs: HashMap<String, DayRun>,
    arrived: &HashMap<String, u32>,
    freshness: Freshness,
    paired: bool,
) -> HashMap<String, u64> {
    runs.into_values()
        .filter(|run| freshness.usable(run, arrived.get(&run.day).copied()) && (run.paired > 0 || !paired))
        .map(|run| (run.day, run.version))
        .collect()
}

/// The days touched by `[from, to)`: those in `usable` (name -> version of their rows) are read from the
/// rows, the others merged into runs cut to the range.
fn plan_days(from: u32, to: u32, usable: &HashMap<String, u64>) -> Plan {
    let mut plan = Plan::default();
    let mut previous_read: Option<u32> = None;
    for day in (from / DAY_S * DAY_S..to).step_by(DAY_S as usize) {
        let name = day_name(day);
        let (start, end) = (day.max(from), day.saturating_add(DAY_S).min(to));
        if let Some(&version) = usable.get(&name) {
            // A 0 for each day between this one and the previous day read.
            let between = previous_read.map_or(0, |previous| (day - previous) / DAY_S - 1);
            plan.versions.extend(std::iter::repeat_n(0, between as usize));
            plan.versions.push(version);
            plan.days.push(name);
            previous_read = Some(day);
        } else if let Some((_, last)) = plan.states.last_mut().filter(|(_, last)| *last == start) {
            *last = end;
        } else {
            plan.states.push((start, end));
        }
    }
    plan
}

/// Visits, bounces and duration per bucket of `step` seconds from `q.from`, under any filters: the days of
/// `plan` from the finalized visit rows (sql/022), its other parts from the visit states or, for a page
/// filter, the raw events ([`query::visits_in`]). The source is the slowest one read.
pub async fn visits(
    client: &Client,
    q: &Question,
    step: u32,
    plan: &Plan,
) -> Result<(Source, Vec<Visits>), clickhouse::error::Error> {
    let rows = async {
        if plan.days.is_empty() {
            return Ok(Vec::new());
        }
        let query = query::filtered(client, &VISIT_ROWS, &q.filters, |query| {
            bind_visit_rows(query::bind_buckets(query, q, step), q, plan)
        });
        query.fetch_all::<Visits>().await
    };
    // The other parts, read while the rows are.
    let parts = state_parts(plan, |range| query::visits_in(client, q, step, range));
    let (rows, (source, parts)) = tokio::try_join!(rows, parts)?;
    let mut by_bucket: BTreeMap<u32, Visits> = BTreeMap::new();
    add_visits(&mut by_bucket, rows);
    for rows in parts {
        add_visits(&mut by_bucket, rows);
    }
    Ok((source, by_bucket.into_values().collect()))
}

fn add_visits(by_bucket: &mut BTreeMap<u32, Visits>, rows: Vec<Visits>) {
    for row in rows {
        let total = by_bucket.entry(row.bucket).or_insert(Visits { bucket: row.bucket, ..Visits::default() });
        total.visits += row.visits;
        total.bounces += row.bounces;
        total.duration_ms += row.duration_ms;
    }
}

/// Binds what every query of the daily rows takes after its site and dimension (and value): the range's
/// first and end day, the plan's days, their runs' versions and the first of them.
fn bind_days(query: clickhouse::query::Query, q: &Question, plan: &Plan) -> clickhouse::query::Query {
    query.bind(day_name(q.from)).bind(day_name(q.to)).bind(&plan.days).bind(&plan.versions).bind(rows_bounds(plan).0)
}

/// Binds what a query of the visit rows takes after the site (the model's `visit_rows_of_site`, then the
/// range in ms): the first and last day of the plan's rows, their runs' versions, the first day again, and
/// `[from, to)` in unix ms.
fn bind_visit_rows(query: clickhouse::query::Query, q: &Question, plan: &Plan) -> clickhouse::query::Query {
    let (first, last) = rows_bounds(plan);
    query
        .bind(first)
        .bind(last)
        .bind(&plan.versions)
        .bind(first)
        .bind(u64::from(q.from) * 1_000)
        .bind(u64::from(q.to) * 1_000)
}

/// The first and last day of a plan's rows (`YYYY-MM-DD`), which bound the read by the table's key.
fn rows_bounds(plan: &Plan) -> (&str, &str) {
    let first = plan.days.first().map_or("", String::as_str);
    (first, plan.days.last().map_or(first, String::as_str))
}

fn part(q: &Question, (from, to): (u32, u32)) -> Question {
    Question { from, to, ..q.clone() }
}

/// Reads each part of `plan` that its rows cannot answer (usually one: today) with `read`, one after the
/// other, and tells the slowest source any of them was read from.
async fn state_parts<T, Read>(
    plan: &Plan,
    mut read: impl FnMut((u32, u32)) -> Read,
) -> Result<(Source, Vec<T>), clickhouse::error::Error>
where
    Read: std::future::Future<Output = Result<(Source, T), clickhouse::error::Error>>,
{
    let mut source = Source::Rollup;
    let mut parts = Vec::new();
    for &range in &plan.states {
        let (part_source, rows) = read(range).await?;
        if part_source == Source::Raw {
            source = Source::Raw;
        }
        parts.push(rows);
    }
    Ok((source, parts))
}

/// Counts and visit metrics per day (keyed by the day's start), for the days of `plan` from the daily rows
/// of `key` and for its other days from the states, both read at once.
pub async fn per_day(
    client: &Client,
    q: &Question,
    key: (&str, &str),
    plan: &Plan,
) -> Result<(HashMap<u32, Counts>, HashMap<u32, Visits>), clickhouse::error::Error> {
    let ((_, counts), visits) =
        tokio::try_join!(counts_per_day(client, q, key, plan), visits_per_day(client, q, key, plan))?;
    Ok((counts, visits))
}

/// Counts per day (keyed by the day's start): the days of `plan` from the daily event rows of `(dimension,
/// value)` ([`counts_key`]), its other days from the rollups or the raw events under the question's filters.
/// The source is the slowest one read.
pub async fn counts_per_day(
    client: &Client,
    q: &Question,
    (dimension, value): (&str, &str),
    plan: &Plan,
) -> Result<(Source, HashMap<u32, Counts>), clickhouse::error::Error> {
    let mut counts = HashMap::new();
    if !plan.days.is_empty() {
        let query = bind_days(client.query(COUNTS).bind(&q.site).bind(dimension).bind(value), q, plan);
        for row in query.fetch_all::<DayCounts>().await? {
            if let Some(bucket) = day_start(&row.day) {
                let (visitors, pageviews, custom_events) = (row.visitors, row.pageviews, row.custom_events);
                counts.insert(bucket, Counts { bucket, visitors, pageviews, custom_events });
            }
        }
    }
    let (source, parts) =
        state_parts(plan, |range| async move { query::counts(client, &part(q, range), DAY_S).await }).await?;
    counts.extend(parts.into_iter().flatten().map(|row| (row.bucket, row)));
    Ok((source, counts))
}

/// Visit metrics per day (keyed by the day's start): the days of `plan` from the daily visit rows of
/// `(dimension, value)` ([`key`]), its other days from the visit states.
async fn visits_per_day(
    client: &Client,
    q: &Question,
    (dimension, value): (&str, &str),
    plan: &Plan,
) -> Result<HashMap<u32, Visits>, clickhouse::error::Error> {
    let mut visits = HashMap::new();
    if !plan.days.is_empty() {
        let query = bind_days(client.query(VISITS).bind(&q.site).bind(dimension).bind(value), q, plan);
        for row in query.fetch_all::<DayVisits>().await? {
            if let Some(bucket) = day_start(&row.day) {
                visits.insert(
                    bucket,
                    Visits { bucket, visits: row.visits, bounces: row.bounces, duration_ms: row.duration_ms },
                );
            }
        }
    }
    let (_, parts) =
        state_parts(plan, |range| async move { query::visits(client, &part(q, range), DAY_S).await }).await?;
    visits.extend(parts.into_iter().flatten().map(|row| (row.bucket, row)));
    Ok(visits)
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

/// The top `limit` values of an event dimension: the daily rows of `rows_dimension` ([`breakdown_key`]),
/// plus the rollups or raw events under the question's filters for the days they cannot answer, merged by
/// value and ordered as `stats_breakdown.sql` orders. The source is the slowest one read.
pub async fn event_breakdown(
    client: &Client,
    q: &Question,
    plan: &Plan,
    (dimension, rows_dimension): (&Dimension, &str),
    limit: u32,
) -> Result<(Source, Vec<EventRow>), clickhouse::error::Error> {
    let only_events = u8::from(query::is_custom_event(dimension));
    // Merged with other parts, every value is needed before the top ones can be known.
    let whole = if plan.states.is_empty() { limit } else { u32::MAX };
    let rows = async {
        if plan.days.is_empty() {
            return Ok(Vec::new());
        }
        bind_days(client.query(BREAKDOWN).bind(&q.site).bind(rows_dimension), q, plan)
            .bind(only_events)
            .bind(only_events)
            .bind(whole)
            .fetch_all::<EventRow>()
            .await
    };
    // The other parts, read while the rows are.
    let parts =
        state_parts(
            plan,
            |range| async move { query::event_breakdown(client, &part(q, range), dimension, u32::MAX).await },
        );
    let (rows, (source, parts)) = tokio::try_join!(rows, parts)?;
    if plan.states.is_empty() {
        return Ok((source, rows));
    }
    let mut by_value: HashMap<String, EventRow> = rows.into_iter().map(|row| (row.value.clone(), row)).collect();
    for row in parts.into_iter().flatten() {
        let total =
            by_value.entry(row.value.clone()).or_insert_with(|| EventRow { value: row.value.clone(), ..zero() });
        total.visitors += row.visitors;
        total.pageviews += row.pageviews;
        total.custom_events += row.custom_events;
        total.converted_visitors += row.converted_visitors;
    }
    let mut rows: Vec<EventRow> = by_value.into_values().collect();
    // As the queries order: most visitors first, those who sent the event for custom event names.
    let shown = |row: &EventRow| if only_events == 1 { row.converted_visitors } else { row.visitors };
    rows.sort_by(|a, b| {
        shown(b).cmp(&shown(a)).then(b.custom_events.cmp(&a.custom_events)).then_with(|| a.value.cmp(&b.value))
    });
    rows.truncate(limit as usize);
    Ok((source, rows))
}

fn zero() -> EventRow {
    EventRow { value: String::new(), visitors: 0, pageviews: 0, custom_events: 0, converted_visitors: 0 }
}

/// The top `limit` entry or exit pages, as [`event_breakdown`] merges: the days of `plan` from the daily
/// rows for whole days without filters, else from the finalized visit rows under the filters.
pub async fn visit_breakdown(
    client: &Client,
    q: &Question,
    plan: &Plan,
    dimension: &Dimension,
    limit: u32,
) -> Result<Vec<VisitRow>, clickhouse::error::Error> {
    let whole = if plan.states.is_empty() { limit } else { u32::MAX };
    let rows = async {
        if plan.days.is_empty() {
            return Ok(Vec::new());
        }
        if key(q).is_some_and(|(dimension, _)| dimension.is_empty()) {
            return bind_days(client.query(BREAKDOWN_VISITS).bind(&q.site).bind(dimension.name), q, plan)
                .bind(whole)
                .fetch_all::<VisitRow>()
                .await;
        }
        let column = dimension.visit_alias().unwrap_or_default();
        query::filtered(client, &BREAKDOWN_VISIT_ROWS, &q.filters, |query| {
            bind_visit_rows(query.bind(clickhouse::sql::Identifier(&column)).bind(&q.site), q, plan)
        })
        .bind(whole)
        .fetch_all::<VisitRow>()
        .await
    };
    // The other parts, from the visit states (a page filter, which would need the raw events, is refused).
    let parts = state_parts(plan, |range| async move {
        Ok((Source::Rollup, query::visit_breakdown(client, &part(q, range), dimension, u32::MAX).await?))
    });
    let (rows, (_, parts)) = tokio::try_join!(rows, parts)?;
    if plan.states.is_empty() {
        return Ok(rows);
    }
    let mut by_value: HashMap<String, VisitRow> = rows.into_iter().map(|row| (row.value.clone(), row)).collect();
    for part_rows in parts {
        for row in part_rows {
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
    use crate::stats::query::{dimension, Filters};

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
    fn counts_of_two_filters_and_breakdowns_under_one_read_the_paired_rows_of_a_filter_of_few_values() {
        let day = |filters: &[(&str, &str)]| question(JAN_1, JAN_1 + DAY_S, filters);
        let owned = |dimension: &str, value: &str| Some((dimension.to_owned(), value.to_owned()));
        assert_eq!(counts_key(&day(&[])), owned("", ""));
        assert_eq!(counts_key(&day(&[("page", "/")])), owned("page", "/"), "events of a page have daily rows");
        assert_eq!(
            counts_key(&day(&[("country", "DE"), ("browser", "Chrome")])),
            owned("country=DE/browser", "Chrome")
        );
        assert_eq!(counts_key(&day(&[("page", "/a"), ("os", "iOS")])), owned("os=iOS/page", "/a"), "the paired one");
        assert_eq!(counts_key(&day(&[("page", "/a"), ("source", "a.b")])), None, "neither has few values");
        assert_eq!(counts_key(&day(&[("country", "DE"), ("os", "iOS"), ("device", "pc")])), None);
        assert_eq!(counts_key(&question(JAN_1, JAN_1 + 3_600, &[])), None);

        let page = dimension("page").expect("page");
        assert_eq!(breakdown_key(&day(&[]), page).as_deref(), Some("page"));
        assert_eq!(breakdown_key(&day(&[("country", "DE")]), page).as_deref(), Some("country=DE/page"));
        assert_eq!(breakdown_key(&day(&[("source", "a.b")]), page), None, "a filter of many values is not paired");
        assert_eq!(breakdown_key(&day(&[("country", "DE"), ("os", "iOS")]), page), None);
        assert_eq!(breakdown_key(&question(JAN_1, JAN_1 + 60, &[]), page), None);
    }

    #[test]
    fn days_without_usable_rows_are_grouped_into_runs_read_from_the_states() {
        let usable: HashMap<String, u64> =
            [("2026-01-02", 7), ("2026-01-03", 8), ("2026-01-05", 9)].map(|(day, v)| (day.to_owned(), v)).into();
        let plan = plan_days(JAN_1, JAN_1 + 7 * DAY_S, &usable);
        assert_eq!(plan.days, ["2026-01-02", "2026-01-03", "2026-01-05"]);
        assert_eq!(plan.versions, [7, 8, 0, 9], "from the first day read to the last, 0 for a day not read");
        assert_eq!(
            plan.states,
            [(JAN_1, JAN_1 + DAY_S), (JAN_1 + 3 * DAY_S, JAN_1 + 4 * DAY_S), (JAN_1 + 5 * DAY_S, JAN_1 + 7 * DAY_S)]
        );
        // A range that starts and ends inside days: the days' parts without rows are cut to it.
        let plan = plan_days(JAN_1 + 3_600, JAN_1 + 5 * DAY_S + 60, &usable);
        assert_eq!(plan.days, ["2026-01-02", "2026-01-03", "2026-01-05"]);
        assert_eq!(
            plan.states,
            [
                (JAN_1 + 3_600, JAN_1 + DAY_S),
                (JAN_1 + 3 * DAY_S, JAN_1 + 4 * DAY_S),
                (JAN_1 + 5 * DAY_S, JAN_1 + 5 * DAY_S + 60)
            ]
        );
        assert_eq!(day_start("2026-01-02"), Some(JAN_1 + DAY_S));
        assert_eq!(day_name(JAN_1 + DAY_S - 1), "2026-01-01");
    }

    #[test]
    fn a_day_written_before_the_paired_rows_answers_no_question_under_a_filter_of_few_values() {
        let run = |day: &str, paired: u8| DayRun { day: day.into(), version: 5_000, closed: 1, paired };
        let runs = || {
            [("2026-01-01", run("2026-01-01", 1)), ("2026-01-02", run("2026-01-02", 0))]
                .map(|(day, run)| (day.to_owned(), run))
                .into()
        };
        let days = |paired| {
            let mut days: Vec<String> =
                usable_days(runs(), &HashMap::new(), Freshness::default(), paired).into_keys().collect();
            days.sort();
            days
        };
        assert_eq!(days(false), ["2026-01-01", "2026-01-02"]);
        assert_eq!(days(true), ["2026-01-01"], "its paired rows are missing, not zero");
    }

    #[test]
    fn a_day_answers_when_closed_or_written_after_its_last_arrival_settled() {
        let run = |version_s: u64, closed: u8| DayRun {
            day: "2026-01-01".into(),
            version: version_s * 1_000,
            closed,
            paired: 1,
        };
        let freshness = Freshness { settle_s: 60, open_days: true };
        assert!(freshness.usable(&run(10_060, 0), Some(10_000)));
        assert!(!freshness.usable(&run(10_059, 0), Some(10_000)), "an insert may still have been under way");
        assert!(!freshness.usable(&run(9_000, 0), Some(10_000)), "an event arrived after the run");
        assert!(freshness.usable(&run(1, 0), None), "no arrival recorded since the rows were written");
        assert!(!freshness.usable(&run(1, 1), Some(10_000)), "a closed day's rows miss what arrived after them");
        assert!(freshness.usable(&run(10_060, 1), Some(10_000)));
        assert!(!Freshness::closed_only().usable(&run(10_060, 0), Some(10_000)));
        assert!(Freshness::closed_only().usable(&run(10_060, 1), Some(10_000)));
    }
}
