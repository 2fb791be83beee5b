//! The stats queries: which table answers a question, and the question rendered into the templates of
//! `sql/queries/stats_*.sql`.
//!
//! The templates' metrics, visit subquery and filter clauses are written by the analytics model
//! (`analytics-model`): every filter names its column from the model and binds its value with `?`; the only
//! other identifier, a breakdown's column, is a [`Dimension`]'s and bound as an [`Identifier`]. The hourly
//! rollup answers counts for ranges of whole hours, the visit table answers visit metrics for any range
//! unless a filter selects visits by a page view; anything else reads the raw events (`FINAL`), which gives
//! the same numbers more slowly (the chDB and 18.16 tests hold both to the same seeds). Days the rollup step
//! finalized are read from its rows instead ([`super::daily`]).

use std::sync::LazyLock;

pub use analytics_model::{dimension, Dimension, Filters};
use analytics_model::{Scope, Template};
use clickhouse::query::Query;
use clickhouse::sql::Identifier;
use clickhouse::Client;
use serde::{Deserialize, Serialize};

static COUNTS: LazyLock<Template> = template!("stats_counts.sql");
static COUNTS_RAW: LazyLock<Template> = template!("stats_counts_raw.sql");
static VISITS: LazyLock<Template> = template!("stats_visits.sql");
static VISITS_RAW: LazyLock<Template> = template!("stats_visits_raw.sql");
static BREAKDOWN: LazyLock<Template> = template!("stats_breakdown.sql");
static BREAKDOWN_RAW: LazyLock<Template> = template!("stats_breakdown_raw.sql");
static BREAKDOWN_VISITS: LazyLock<Template> = template!("stats_breakdown_visits.sql");
static REALTIME: LazyLock<Template> = template!("stats_realtime.sql");
const INGESTED_PER_MINUTE: &str = include_str!("../../../sql/queries/ingested_per_minute.sql");

const HOUR_S: u32 = 3_600;
pub(crate) const DAY_S: u32 = 86_400;

/// `template` rendered for `filters`: `before` binds the template's own values ahead of the filter marker,
/// then the filters' values are bound; the caller binds what follows the marker.
pub(crate) fn filtered(
    client: &Client,
    template: &Template,
    filters: &Filters,
    before: impl FnOnce(Query) -> Query,
) -> Query {
    let rendered = template.render(filters);
    let mut query = before(client.query(&rendered.sql));
    for value in &rendered.values {
        query = query.bind(value.as_str());
    }
    query
}

/// The column a breakdown by `dimension` groups by: its rollup column for an event dimension, its visit
/// column for a visit dimension.
fn breakdown_column(dimension: &Dimension) -> String {
    if dimension.scope == Scope::Event {
        dimension.column.to_owned()
    } else {
        dimension.visit_alias().unwrap_or_default()
    }
}

/// What every report is asked for: a site, `[from, to)` in unix seconds, and filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub site: String,
    pub from: u32,
    pub to: u32,
    pub filters: Filters,
}

/// Which table answered (reported with every answer, so a slow report can be explained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `stats_hourly` or `stats_sessions`, or the rows the rollup step finalized from them and the raw
    /// events (the daily rows, the visit rows).
    Rollup,
    /// `page_visits FINAL`.
    Raw,
}

impl Question {
    /// Counts come from the hourly rollup when the range is whole hours and nothing is filtered. A filter
    /// reads the raw events' distinct ids instead: merging the rollup's sets of every matching row costs
    /// more than counting the matching events (BENCHMARKS.md, "Stats at 10M page views").
    pub fn counts_source(&self) -> Source {
        if self.from.is_multiple_of(HOUR_S) && self.to.is_multiple_of(HOUR_S) && self.filters.is_empty() {
            Source::Rollup
        } else {
            Source::Raw
        }
    }

    /// Visit metrics come from the visit table unless a filter selects visits by a page view (the table
    /// keeps no list of a visit's pages).
    pub fn visits_source(&self) -> Source {
        if self.filters.selecting_visits_by_any_pageview().is_none() {
            Source::Rollup
        } else {
            Source::Raw
        }
    }
}

/// Counts of one bucket: a row of `stats_counts*.sql`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct Counts {
    pub bucket: u32,
    pub visitors: u64,
    pub pageviews: u64,
    pub custom_events: u64,
}

/// Visit metrics of one bucket: a row of `stats_visits*.sql`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct Visits {
    pub bucket: u32,
    pub visits: u64,
    pub bounces: u64,
    pub duration_ms: u64,
}

/// One value of an event property: a row of `stats_breakdown*.sql`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct EventRow {
    pub value: String,
    pub visitors: u64,
    pub pageviews: u64,
    pub custom_events: u64,
    pub converted_visitors: u64,
}

/// One entry or exit page: a row of `stats_breakdown_visits.sql`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct VisitRow {
    pub value: String,
    pub visits: u64,
    pub bounces: u64,
    pub duration_ms: u64,
}

/// Current visitors: a row of `stats_realtime.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct Realtime {
    pub visitors: u64,
    pub pageviews: u64,
}

/// Events received in one minute: a row of `ingested_per_minute.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct MinuteCount {
    /// Start of the minute, unix seconds.
    pub minute: u32,
    pub events: u64,
}

/// Binds what every per-bucket query takes first: buckets of `step` seconds from the question's start, and
/// its site.
pub(crate) fn bind_buckets(query: Query, q: &Question, step: u32) -> Query {
    query.bind(q.from).bind(step).bind(step).bind(q.from).bind(&q.site)
}

/// Counts per bucket of `step` seconds from `from`; a step of `to - from` is the aggregate.
pub async fn counts(
    client: &Client,
    q: &Question,
    step: u32,
) -> Result<(Source, Vec<Counts>), clickhouse::error::Error> {
    // The rollup's buckets are hours: a finer step reads the raw events.
    let source = if step.is_multiple_of(HOUR_S) { q.counts_source() } else { Source::Raw };
    let template = if source == Source::Rollup { &COUNTS } else { &COUNTS_RAW };
    let query = filtered(client, template, &q.filters, |query| bind_buckets(query, q, step).bind(q.from).bind(q.to));
    Ok((source, query.fetch_all().await?))
}

/// Visits, bounces and duration per bucket of visit start.
pub async fn visits(
    client: &Client,
    q: &Question,
    step: u32,
) -> Result<(Source, Vec<Visits>), clickhouse::error::Error> {
    visits_in(client, q, step, (q.from, q.to)).await
}

/// Visits, bounces and duration of the visits that started in `[from, to)`, a part of the question's range,
/// per bucket of `step` seconds from the question's start.
pub async fn visits_in(
    client: &Client,
    q: &Question,
    step: u32,
    (from, to): (u32, u32),
) -> Result<(Source, Vec<Visits>), clickhouse::error::Error> {
    let source = q.visits_source();
    let template = if source == Source::Rollup { &VISITS } else { &VISITS_RAW };
    let query = filtered(client, template, &q.filters, |query| {
        bind_buckets(query, q, step)
            .bind(from)
            .bind(&q.site)
            .bind(from)
            .bind(u64::from(from) * 1_000)
            .bind(u64::from(to) * 1_000)
    });
    Ok((source, query.fetch_all().await?))
}

/// The top values of an event dimension.
pub async fn event_breakdown(
    client: &Client,
    q: &Question,
    dimension: &Dimension,
    limit: u32,
) -> Result<(Source, Vec<EventRow>), clickhouse::error::Error> {
    let source = q.counts_source();
    let template = if source == Source::Rollup { &BREAKDOWN } else { &BREAKDOWN_RAW };
    let column = breakdown_column(dimension);
    let query = filtered(client, template, &q.filters, |query| {
        query.bind(Identifier(&column)).bind(&q.site).bind(q.from).bind(q.to)
    });
    let only_events = u8::from(is_custom_event(dimension));
    Ok((source, query.bind(only_events).bind(only_events).bind(limit).fetch_all().await?))
}

/// Whether a breakdown lists custom event names (rows without a custom event are left out).
pub fn is_custom_event(dimension: &Dimension) -> bool {
    dimension.counts == analytics_model::Counts::CustomEvents
}

/// The top values of a visit dimension (entry or exit page), in visits. A filter selecting visits by a page
/// view cannot be answered here (the caller refuses it).
pub async fn visit_breakdown(
    client: &Client,
    q: &Question,
    dimension: &Dimension,
    limit: u32,
) -> Result<Vec<VisitRow>, clickhouse::error::Error> {
    let column = breakdown_column(dimension);
    let query = filtered(client, &BREAKDOWN_VISITS, &q.filters, |query| {
        query
            .bind(Identifier(&column))
            .bind(&q.site)
            .bind(q.from)
            .bind(&q.site)
            .bind(q.from)
            .bind(u64::from(q.from) * 1_000)
            .bind(u64::from(q.to) * 1_000)
    });
    query.bind(limit).fetch_all().await
}

/// Distinct visitors and page views of `site` in `[since, until)`.
pub async fn realtime(
    client: &Client,
    site: &str,
    since: u32,
    until: u32,
) -> Result<Realtime, clickhouse::error::Error> {
    client.query(&REALTIME.sql()).bind(site).bind(since).bind(until).fetch_one().await
}

/// Events received per minute over `minutes` minutes from `from` (a whole minute), every minute listed.
/// An empty `site` means every site.
pub async fn ingested_per_minute(
    client: &Client,
    site: &str,
    from: u32,
    minutes: u32,
) -> Result<Vec<MinuteCount>, clickhouse::error::Error> {
    let to = from.saturating_add(minutes.saturating_mul(60));
    client
        .query(INGESTED_PER_MINUTE)
        .bind(from)
        .bind(minutes)
        .bind(site)
        .bind(site)
        .bind(from)
        .bind(to)
        .fetch_all()
        .await
}

/// Start of the bucket `instant` falls in, for buckets of `step` seconds from `from`.
pub fn bucket_of(from: u32, step: u32, instant: u32) -> u32 {
    from + (instant - from) / step * step
}

/// The bucket starts of `[from, to)` in steps of `step`: what a time series lists, empty buckets included.
pub fn buckets(from: u32, to: u32, step: u32) -> Vec<u32> {
    (from..to).step_by(step.max(1) as usize).collect()
}

/// Seconds of an interval name, for time series.
pub fn interval_seconds(name: &str) -> Option<u32> {
    match name {
        "minute" => Some(60),
        "hour" => Some(HOUR_S),
        "day" => Some(DAY_S),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(from: u32, to: u32) -> Question {
        Question { site: "s".into(), from, to, filters: Filters::default() }
    }

    #[test]
    fn whole_hours_without_filters_are_read_from_the_rollup_and_the_rest_from_the_raw_events() {
        assert_eq!(question(3_600, 7_200).counts_source(), Source::Rollup);
        assert_eq!(question(3_600, 7_260).counts_source(), Source::Raw);
        assert_eq!(question(60, 7_200).counts_source(), Source::Raw);
        let mut filtered = question(3_600, 7_200);
        filtered.filters.set("country", "DE").expect("filterable");
        assert_eq!(filtered.counts_source(), Source::Raw, "a filter counts the matching events");
    }

    #[test]
    fn only_a_filter_on_any_page_view_sends_visit_metrics_to_the_raw_events() {
        let mut q = question(0, 60);
        q.filters.set("country", "DE").expect("filterable");
        assert_eq!(q.visits_source(), Source::Rollup);
        q.filters.set("page", "/pricing").expect("filterable");
        assert_eq!(q.visits_source(), Source::Raw);
    }

    #[test]
    fn every_template_parses_and_binds_as_many_values_before_its_filters_as_its_caller() {
        // The callers above bind these many values ahead of the filter marker.
        for (template, before) in [
            (&COUNTS, 7),
            (&COUNTS_RAW, 7),
            (&VISITS, 10),
            (&VISITS_RAW, 10),
            (&BREAKDOWN, 4),
            (&BREAKDOWN_RAW, 4),
            (&BREAKDOWN_VISITS, 7),
        ] {
            let mut filters = Filters::default();
            filters.set("country", "DE").expect("filterable");
            let rendered = template.render(&filters);
            assert_eq!(rendered.binds_before_filters, before, "{}", rendered.sql);
            assert_eq!(rendered.values, ["DE"]);
            assert!(!rendered.sql.contains("{{"), "{}", rendered.sql);
        }
        assert!(!REALTIME.sql().contains("{{"));
    }

    #[test]
    fn every_dimension_breaks_down_by_a_plain_column_name() {
        for dimension in analytics_model::DIMENSIONS {
            let column = breakdown_column(dimension);
            assert!(!column.is_empty() && column.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{column}");
        }
    }

    #[test]
    fn buckets_cover_the_range_from_its_start() {
        assert_eq!(buckets(0, 10_800, 3_600), [0, 3_600, 7_200]);
        assert_eq!(buckets(100, 200, 100), [100]);
        assert_eq!(bucket_of(100, 3_600, 3_750), 100 + 3_600);
    }
}
