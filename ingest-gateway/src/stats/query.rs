//! The stats queries: which table answers a question, and the question bound into `sql/queries/stats_*.sql`.
//!
//! Every value is bound with `?`; the only identifier, a breakdown's column, comes from [`Property`], a fixed
//! list, and is bound as an [`Identifier`]. The hourly rollup answers counts for ranges of whole hours, the
//! visit table answers visit metrics for any range without a page filter; anything else reads the raw events
//! (`FINAL`), which gives the same numbers more slowly (the chDB and 18.16 tests hold both to the same seeds).

use clickhouse::sql::Identifier;
use clickhouse::Client;
use serde::{Deserialize, Serialize};

const COUNTS: &str = include_str!("../../../sql/queries/stats_counts.sql");
const COUNTS_RAW: &str = include_str!("../../../sql/queries/stats_counts_raw.sql");
const VISITS: &str = include_str!("../../../sql/queries/stats_visits.sql");
const VISITS_RAW: &str = include_str!("../../../sql/queries/stats_visits_raw.sql");
const BREAKDOWN: &str = include_str!("../../../sql/queries/stats_breakdown.sql");
const BREAKDOWN_RAW: &str = include_str!("../../../sql/queries/stats_breakdown_raw.sql");
const BREAKDOWN_VISITS: &str = include_str!("../../../sql/queries/stats_breakdown_visits.sql");
const REALTIME: &str = include_str!("../../../sql/queries/stats_realtime.sql");
const INGESTED_PER_MINUTE: &str = include_str!("../../../sql/queries/ingested_per_minute.sql");

const HOUR_S: u32 = 3_600;
pub(crate) const DAY_S: u32 = 86_400;

/// A property a report can be broken down by. The names are the API's; each maps to one fixed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Property {
    Page,
    EntryPage,
    ExitPage,
    Source,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    Country,
    Region,
    City,
    Browser,
    Os,
    Device,
    ScreenClass,
    Event,
}

impl Property {
    /// The column of the table that answers a breakdown by this property.
    fn column(self) -> &'static str {
        match self {
            Self::Page => "pathname",
            Self::EntryPage => "visit_entry_page",
            Self::ExitPage => "visit_exit_page",
            Self::Source => "referrer_host",
            Self::UtmSource => "utm_source",
            Self::UtmMedium => "utm_medium",
            Self::UtmCampaign => "utm_campaign",
            Self::Country => "country",
            Self::Region => "region",
            Self::City => "city",
            Self::Browser => "browser",
            Self::Os => "os",
            Self::Device => "device",
            Self::ScreenClass => "screen_class",
            Self::Event => "event_name",
        }
    }

    /// Entry and exit pages are properties of a visit, counted in visits; the others of events.
    pub fn is_visit_property(self) -> bool {
        matches!(self, Self::EntryPage | Self::ExitPage)
    }

    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// The filterable properties, in the order the queries bind them (see `sql/queries/stats_counts.sql`).
pub const FILTERS: [&str; 12] = [
    "country",
    "region",
    "city",
    "browser",
    "os",
    "device",
    "screen_class",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "page",
];
const PAGE_FILTER: usize = 11;

/// Equality filters; an empty value is no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    values: [String; 12],
}

impl Filters {
    /// Sets the filter `name` (one of [`FILTERS`]); `false` for an unknown name.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        match FILTERS.iter().position(|known| *known == name) {
            Some(index) => {
                self.values[index] = value.to_owned();
                true
            }
            None => false,
        }
    }

    pub fn page(&self) -> &str {
        &self.values[PAGE_FILTER]
    }

    /// The filters that are set, as (API name, value), in [`FILTERS`] order.
    pub fn given(&self) -> Vec<(&'static str, &str)> {
        FILTERS.iter().zip(&self.values).filter(|(_, value)| !value.is_empty()).map(|(n, v)| (*n, v.as_str())).collect()
    }

    /// Binds each filter twice, as `(? = '' OR column = ?)`; the visit queries take all but the page.
    fn bind(&self, mut query: clickhouse::query::Query, with_page: bool) -> clickhouse::query::Query {
        let count = if with_page { FILTERS.len() } else { PAGE_FILTER };
        for value in &self.values[..count] {
            query = query.bind(value.as_str()).bind(value.as_str());
        }
        query
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
    /// `stats_hourly` or `stats_sessions`.
    Rollup,
    /// `page_visits FINAL`.
    Raw,
}

impl Question {
    /// Counts come from the hourly rollup when the range is whole hours.
    pub fn counts_source(&self) -> Source {
        if self.from.is_multiple_of(HOUR_S) && self.to.is_multiple_of(HOUR_S) {
            Source::Rollup
        } else {
            Source::Raw
        }
    }

    /// Visit metrics come from the visit table unless a page filter asks which pages a visit viewed.
    pub fn visits_source(&self) -> Source {
        if self.filters.page().is_empty() {
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

/// Counts per bucket of `step` seconds from `from`; a step of `to - from` is the aggregate.
pub async fn counts(
    client: &Client,
    q: &Question,
    step: u32,
) -> Result<(Source, Vec<Counts>), clickhouse::error::Error> {
    let source = q.counts_source();
    let sql = if source == Source::Rollup { COUNTS } else { COUNTS_RAW };
    let query = client.query(sql).bind(q.from).bind(step).bind(step).bind(q.from).bind(&q.site).bind(q.from).bind(q.to);
    Ok((source, q.filters.bind(query, true).fetch_all().await?))
}

/// Visits, bounces and duration per bucket of visit start.
pub async fn visits(
    client: &Client,
    q: &Question,
    step: u32,
) -> Result<(Source, Vec<Visits>), clickhouse::error::Error> {
    let source = q.visits_source();
    let sql = if source == Source::Rollup { VISITS } else { VISITS_RAW };
    let query = client
        .query(sql)
        .bind(q.from)
        .bind(step)
        .bind(step)
        .bind(q.from)
        .bind(&q.site)
        .bind(q.from)
        .bind(u64::from(q.from) * 1_000)
        .bind(u64::from(q.to) * 1_000);
    let mut query = q.filters.bind(query, false);
    if source == Source::Raw {
        query = query.bind(q.filters.page()).bind(q.filters.page());
    }
    Ok((source, query.fetch_all().await?))
}

/// The top values of an event property.
pub async fn event_breakdown(
    client: &Client,
    q: &Question,
    property: Property,
    limit: u32,
) -> Result<(Source, Vec<EventRow>), clickhouse::error::Error> {
    let source = q.counts_source();
    let sql = if source == Source::Rollup { BREAKDOWN } else { BREAKDOWN_RAW };
    let query = client.query(sql).bind(Identifier(property.column())).bind(&q.site).bind(q.from).bind(q.to);
    let only_events = u8::from(property == Property::Event);
    Ok((source, q.filters.bind(query, true).bind(only_events).bind(limit).fetch_all().await?))
}

/// The top entry or exit pages, in visits. A page filter cannot be answered here (the caller refuses it).
pub async fn visit_breakdown(
    client: &Client,
    q: &Question,
    property: Property,
    limit: u32,
) -> Result<Vec<VisitRow>, clickhouse::error::Error> {
    let query = client
        .query(BREAKDOWN_VISITS)
        .bind(Identifier(property.column()))
        .bind(&q.site)
        .bind(q.from)
        .bind(u64::from(q.from) * 1_000)
        .bind(u64::from(q.to) * 1_000);
    q.filters.bind(query, false).bind(limit).fetch_all().await
}

/// Distinct visitors and page views of `site` in `[since, until)`.
pub async fn realtime(
    client: &Client,
    site: &str,
    since: u32,
    until: u32,
) -> Result<Realtime, clickhouse::error::Error> {
    client.query(REALTIME).bind(site).bind(since).bind(until).fetch_one().await
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
        "hour" => Some(HOUR_S),
        "day" => Some(DAY_S),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    fn question(from: u32, to: u32) -> Question {
        Question { site: "s".into(), from, to, filters: Filters::default() }
    }

    #[test]
    fn whole_hours_are_read_from_the_rollup_and_other_ranges_from_the_raw_events() {
        assert_eq!(question(3_600, 7_200).counts_source(), Source::Rollup);
        assert_eq!(question(3_600, 7_260).counts_source(), Source::Raw);
        assert_eq!(question(60, 7_200).counts_source(), Source::Raw);
    }

    #[test]
    fn only_a_page_filter_sends_visit_metrics_to_the_raw_events() {
        let mut q = question(0, 60);
        q.filters.set("country", "DE");
        assert_eq!(q.visits_source(), Source::Rollup);
        assert!(q.filters.set("page", "/pricing"));
        assert_eq!(q.visits_source(), Source::Raw);
        assert!(!q.filters.set("pathname", "/"), "filters go by their API names");
    }

    #[test]
    fn every_property_maps_to_a_plain_column_name() {
        for property in Property::iter() {
            let column = property.column();
            assert!(column.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{column}");
            assert_eq!(property.name().parse::<Property>().ok(), Some(property));
        }
    }

    #[test]
    fn buckets_cover_the_range_from_its_start() {
        assert_eq!(buckets(0, 10_800, 3_600), [0, 3_600, 7_200]);
        assert_eq!(buckets(100, 200, 100), [100]);
        assert_eq!(bucket_of(100, 3_600, 3_750), 100 + 3_600);
    }
}
