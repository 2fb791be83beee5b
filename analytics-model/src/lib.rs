//! The reporting model, defined once: every dimension a report can be broken down or filtered by
//! ([`DIMENSIONS`]) and every number a report shows ([`METRICS`]). Everything else is derived from these
//! two lists, or checked against them by a test:
//!
//! - the SQL of the stats queries: `sql/queries/stats_*.sql` are templates whose `{{...}}` markers
//!   [`Template`] fills from the model (the columns of a raw event row, the one visit subquery, each
//!   metric's expression, the filter clauses, whose values are always bound);
//! - `analytics-model/contracts/dimensions.json`, read by the dashboard's bundle, `grafana/generate.py` and
//!   the SQL tests in Python (the test at the bottom regenerates it and fails when it is stale; run
//!   `UPDATE_CONTRACTS=1 cargo test -p analytics-model` to rewrite it);
//! - the columns stored as LowCardinality on current ClickHouse ([`low_cardinality_columns`]);
//! - the rollup tables and views (`sql/010`-`015`, `022`): [`rollup_columns`] and [`rollup_views`] give their
//!   shape for the dimensions; the gateway's tests hold the files to it, and `migrate` brings a server to it.
//!
//! Adding a dimension: an entry in [`DIMENSIONS`] (if its value is not stored yet, first a field of the
//! stored event and its migration: sql/README.md, "Adding a stored field"). Then
//! `UPDATE_CONTRACTS=1 cargo test -p analytics-model` regenerates the contract and the reference page,
//! `node ingest-gateway/assets/build.mjs` the dashboard's bundle and `python3 grafana/generate.py` the
//! Grafana dashboards. The API (filter and breakdown), the CLI, the dashboard (its tab and filter chip),
//! Grafana (its filter variable), the daily rows and the visit rows follow, and the next `migrate` gives the
//! rollups the new column and views (`warehouse/src/rollups.rs`: a column of `stats_hourly`
//! added to its sorting key in the same `ALTER`, an `argMin` state of `stats_sessions`, a `visit_<column>`
//! of `stats_visit_rows`, and the four rollup views created again under a new name). Rows written before
//! hold '' for it.
//!
//! After Plausible's Stats API v2: a dimension has a scope, `event:page` is a property of each event and
//! `visit:entry_page` of a visit, and a filter is validated in one place ([`Filters::set`]).

mod contract;
mod rollups;
mod template;

pub use contract::{contract, reference_markdown, CONTRACT_PATH, REFERENCE_PATH};
pub use rollups::{hourly_key, rollup_columns, rollup_views, RollupColumn, RollupView};
pub use template::{Rendered, Template, TemplateError};

use serde::Serialize;

/// What a dimension describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Each event (`event:page`): counted in visitors and page views; a filter keeps the matching events.
    Event,
    /// A visit, from its first event (`visit:entry_page`): counted in visits.
    VisitFirst,
    /// A visit, from its last event (`visit:exit_page`): counted in visits.
    VisitLast,
}

impl Scope {
    /// `event` or `visit`, as in a dimension's key.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::VisitFirst | Self::VisitLast => "visit",
        }
    }
}

/// What an event dimension says of a visit, and so how a filter on it selects visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnVisits {
    /// The value of the visit's first event (where the visitor came from, on what): kept per visit in the
    /// visit rollup, so a filter on it is answered there.
    FirstEvent,
    /// Any page view of the visit: a filter keeps the visits with a page view of that value (read from the
    /// raw events, since the visit rollup keeps no list of pages).
    AnyPageview,
    /// Not a property of visits: no filter, and no visit numbers per value.
    Nothing,
}

/// What a breakdown by a dimension counts per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    /// Visitors and page views.
    Pageviews,
    /// Custom events, the visitors who sent them and the conversion rate; values of page views left out.
    CustomEvents,
    /// Visits, bounce rate and visit duration.
    Visits,
}

/// One dimension of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dimension {
    /// The API's name: the breakdown `property` and the filter parameter.
    pub name: &'static str,
    /// How people read it (the dashboard's tabs and chips, Grafana's variables).
    pub label: &'static str,
    pub scope: Scope,
    /// Its column in the rollups (`stats_hourly`, `stats_sessions`, the daily rows), and the name its value
    /// takes in a query over raw events.
    pub column: &'static str,
    /// Its value over one `page_visits` row: a column, or an expression of columns computed only here. For a
    /// visit dimension, the value of the visit's first or last event.
    pub event_sql: &'static str,
    /// Whether the API, the dashboard and Grafana filter by it (equality).
    pub filterable: bool,
    /// Few distinct values: stored as `LowCardinality(String)` on current ClickHouse.
    pub low_cardinality: bool,
    /// For event dimensions, how a filter on it selects visits.
    pub on_visits: OnVisits,
    /// What a breakdown by it counts.
    pub counts: Counts,
    /// Where reports show it: the dashboard's panel (`pages`, `sources`, `locations`, `devices`, `events`),
    /// and the title of its tab there.
    pub panel: &'static str,
    pub tab: &'static str,
}

impl Dimension {
    /// `event:page`, `visit:entry_page`: the typed name.
    pub fn key(&self) -> String {
        format!("{}:{}", self.scope.prefix(), self.name)
    }

    pub fn is_visit_dimension(&self) -> bool {
        self.scope != Scope::Event
    }

    /// Its name in a row of the visit subquery ([`fragments`]`["visit_columns.*"]`), where it has one.
    pub fn visit_alias(&self) -> Option<String> {
        match (self.scope, self.on_visits) {
            (Scope::VisitFirst | Scope::VisitLast, _) | (Scope::Event, OnVisits::FirstEvent) => {
                Some(format!("visit_{}", self.column))
            }
            _ => None,
        }
    }

    /// The condition a filter on this dimension puts on an event row (of the hourly rollup, or of the raw
    /// columns of [`fragments`]`["event_columns"]`), with one `?` for the value.
    pub fn event_filter(&self) -> Option<String> {
        (self.filterable && self.scope == Scope::Event).then(|| format!("{} = ?", self.column))
    }

    /// The condition a filter on this dimension puts on a row of the visit subquery, with one `?` for the
    /// value; `None` when it cannot select visits.
    pub fn visit_filter(&self) -> Option<String> {
        if !self.filterable {
            return None;
        }
        match self.on_visits {
            OnVisits::FirstEvent => self.visit_alias().map(|alias| format!("{alias} = ?")),
            OnVisits::AnyPageview => Some(format!("has({}, ?)", self.pageview_values_alias())),
            OnVisits::Nothing => None,
        }
    }

    /// Whether the daily event rows hold this filter's events per value of every event dimension (a filtered
    /// breakdown, and two filters when one of them is this one, read from them): a filterable event
    /// dimension of few values, so that its combinations stay a few rows per day and value.
    pub fn paired(&self) -> bool {
        self.scope == Scope::Event && self.filterable && self.low_cardinality
    }

    /// The raw visit subquery's list of this dimension's values over the visit's page views.
    fn pageview_values_alias(&self) -> String {
        format!("visit_{}_values", self.column)
    }
}

/// Screen classes by the viewport width the snippet collected: mobile < 576 px <= tablet < 992 px <= laptop
/// < 1440 px <= desktop; empty when the width was not collected (Bootstrap's breakpoints).
pub const SCREEN_CLASS_SQL: &str = "multiIf(screen_width = 0, '', screen_width < 576, 'mobile', \
                                    screen_width < 992, 'tablet', screen_width < 1440, 'laptop', 'desktop')";

const fn event(
    (name, label, column): (&'static str, &'static str, &'static str),
    (panel, tab): (&'static str, &'static str),
    low_cardinality: bool,
    on_visits: OnVisits,
) -> Dimension {
    Dimension {
        name,
        label,
        scope: Scope::Event,
        column,
        event_sql: column,
        filterable: !matches!(on_visits, OnVisits::Nothing),
        low_cardinality,
        on_visits,
        counts: Counts::Pageviews,
        panel,
        tab,
    }
}

const fn visit(name: &'static str, label: &'static str, tab: &'static str, scope: Scope) -> Dimension {
    Dimension {
        name,
        label,
        scope,
        column: name,
        event_sql: "pathname",
        filterable: false,
        low_cardinality: false,
        on_visits: OnVisits::Nothing,
        counts: Counts::Visits,
        panel: "pages",
        tab,
    }
}

/// Every dimension, in the order reports list them and filters are applied.
pub const DIMENSIONS: &[Dimension] = &[
    event(("page", "Page", "pathname"), ("pages", "Pages"), false, OnVisits::AnyPageview),
    visit("entry_page", "Entry page", "Entry pages", Scope::VisitFirst),
    visit("exit_page", "Exit page", "Exit pages", Scope::VisitLast),
    event(("source", "Referrer", "referrer_host"), ("sources", "Referrers"), false, OnVisits::FirstEvent),
    event(("utm_source", "UTM source", "utm_source"), ("sources", "UTM source"), false, OnVisits::FirstEvent),
    event(("utm_medium", "UTM medium", "utm_medium"), ("sources", "UTM medium"), true, OnVisits::FirstEvent),
    event(("utm_campaign", "UTM campaign", "utm_campaign"), ("sources", "UTM campaign"), false, OnVisits::FirstEvent),
    event(("country", "Country", "country"), ("locations", "Countries"), true, OnVisits::FirstEvent),
    event(("region", "Region", "region"), ("locations", "Regions"), false, OnVisits::FirstEvent),
    event(("city", "City", "city"), ("locations", "Cities"), false, OnVisits::FirstEvent),
    event(("language", "Language", "language"), ("locations", "Languages"), true, OnVisits::FirstEvent),
    event(("browser", "Browser", "browser"), ("devices", "Browsers"), true, OnVisits::FirstEvent),
    event(("os", "OS", "os"), ("devices", "Operating systems"), true, OnVisits::FirstEvent),
    event(("device", "Device", "device"), ("devices", "Devices"), true, OnVisits::FirstEvent),
    Dimension {
        event_sql: SCREEN_CLASS_SQL,
        ..event(("screen_class", "Screen class", "screen_class"), ("devices", "Screens"), true, OnVisits::FirstEvent)
    },
    Dimension {
        counts: Counts::CustomEvents,
        ..event(("event", "Custom event", "event_name"), ("events", "Custom events"), false, OnVisits::Nothing)
    },
];

/// The dimensions the migration files (`sql/010`-`015`, `022`) created the rollups for. Never edited: a
/// dimension added to [`DIMENSIONS`] later reaches the rollups through `migrate`, which compares the server
/// with [`rollup_columns`] and [`rollup_views`] of every dimension.
pub const FILE_DIMENSIONS: &[&str] = &[
    "page",
    "entry_page",
    "exit_page",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "country",
    "region",
    "city",
    "browser",
    "os",
    "device",
    "screen_class",
    "event",
];

/// The dimensions of [`FILE_DIMENSIONS`], in [`DIMENSIONS`] order.
pub fn file_dimensions() -> Vec<Dimension> {
    DIMENSIONS.iter().filter(|d| FILE_DIMENSIONS.contains(&d.name)).copied().collect()
}

/// The dimension of an API name.
pub fn dimension(name: &str) -> Option<&'static Dimension> {
    DIMENSIONS.iter().find(|dimension| dimension.name == name)
}

/// The filterable dimensions, in [`DIMENSIONS`] order.
pub fn filterable() -> impl Iterator<Item = &'static Dimension> {
    DIMENSIONS.iter().filter(|dimension| dimension.filterable)
}

/// Stored columns that are no dimension of the reports but hold few distinct values too.
pub const OTHER_LOW_CARDINALITY_COLUMNS: &[&str] =
    &["kind", "region_code", "continent", "timezone", "language", "vendor", "colo", "encoding"];

/// Every column stored as `LowCardinality(String)` on current ClickHouse wherever a table declares it as a
/// plain `String`: the low-cardinality dimensions' columns, their columns in the finalized visit rows
/// (`visit_country`), and [`OTHER_LOW_CARDINALITY_COLUMNS`].
pub fn low_cardinality_columns() -> Vec<String> {
    let dimensions = DIMENSIONS.iter().filter(|d| d.low_cardinality);
    let columns = dimensions.clone().map(|d| d.column.to_owned());
    let visit_columns = dimensions.filter_map(Dimension::visit_alias);
    let others = OTHER_LOW_CARDINALITY_COLUMNS.iter().map(|column| (*column).to_owned());
    columns.chain(visit_columns).chain(others).collect()
}

/// Where a metric is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `page_visits` rows: every count is of distinct event or visitor ids, so a redelivered event counts
    /// once without `FINAL` (which merges every part of the range before anything is counted).
    Raw,
    /// `stats_hourly` states.
    Hourly,
    /// Rows of the visit subquery, one per visit.
    Visits,
}

/// One number of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metric {
    pub name: &'static str,
    pub label: &'static str,
    /// What it counts, in words (the README and the API docs say the same).
    pub definition: &'static str,
    /// Its SQL over raw event rows, where it is an event count.
    pub raw: Option<&'static str>,
    /// Its SQL over the hourly rollup, where it is an event count.
    pub hourly: Option<&'static str>,
    /// Its SQL over rows of the visit subquery, where it is a visit count.
    pub visits: Option<&'static str>,
}

impl Metric {
    pub fn sql(&self, source: Source) -> Option<&'static str> {
        match source {
            Source::Raw => self.raw,
            Source::Hourly => self.hourly,
            Source::Visits => self.visits,
        }
    }
}

const fn counted(name: &'static str, label: &'static str, definition: &'static str) -> Metric {
    Metric { name, label, definition, raw: None, hourly: None, visits: None }
}

/// Every counted metric. The ratios of the reports are derived from them by [`Ratios`].
pub const METRICS: &[Metric] = &[
    Metric {
        raw: Some("uniqExactIf(visitor_id, kind = 'pageview')"),
        hourly: Some("uniqExactMergeIf(visitors, kind = 'pageview')"),
        ..counted(
            "visitors",
            "Visitors",
            "distinct visitor ids among the page views (ids rotate at UTC midnight, so a visitor is counted \
             once per day of the range)",
        )
    },
    Metric {
        visits: Some("count()"),
        ..counted(
            "visits",
            "Visits",
            "the snippet's session ids with at least one page view, counted in the range their first event \
             falls in and described by that first event. A session id is per browser tab (sessionStorage): a \
             reload stays in it, a second tab is a second visit, a tab left open for hours is one visit. It is \
             used instead of a 30-minute gap rule because it is on every event, so rollups keep visits exactly \
             and incrementally, and a late or redelivered event cannot split or join visits already counted",
        )
    },
    Metric {
        raw: Some("uniqExactIf(event_id, kind = 'pageview')"),
        hourly: Some("uniqExactMergeIf(events, kind = 'pageview')"),
        ..counted("pageviews", "Page views", "page view events, each delivery of the same event counted once")
    },
    Metric {
        raw: Some("uniqExactIf(event_id, kind = 'event')"),
        hourly: Some("uniqExactMergeIf(events, kind = 'event')"),
        ..counted("custom_events", "Custom events", "custom events (`window.pathlight(name, props)`)")
    },
    Metric {
        raw: Some("uniqExactIf(visitor_id, kind = 'event')"),
        hourly: Some("uniqExactMergeIf(visitors, kind = 'event')"),
        ..counted("converted_visitors", "Converted visitors", "distinct visitors who sent a custom event")
    },
    Metric {
        visits: Some("countIf(visit_pageviews = 1 AND visit_custom_events = 0)"),
        ..counted("bounces", "Bounces", "visits of exactly one page view and no custom event")
    },
    Metric {
        visits: Some("sum(visit_ended_ms - visit_started_ms)"),
        ..counted(
            "duration_ms",
            "Visit time (ms)",
            "the sum over visits of the time from the first event to the last (an engagement event sent on \
             leaving a page counts), in milliseconds",
        )
    },
    Metric {
        raw: Some("uniqExact(visitor_id)"),
        ..counted(
            "current_visitors",
            "Current visitors",
            "distinct visitor ids with any event in the last five minutes",
        )
    },
];

/// The metric of a name.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|metric| metric.name == name)
}

/// "Current visitors" are those with an event in this many seconds before now.
pub const REALTIME_WINDOW_S: u32 = 300;

/// The event kinds the event metrics and breakdowns count: page views and custom events, not the engagement
/// events sent on leaving a page (they only extend a visit's duration).
pub const COUNTED_KINDS: &str = "kind IN ('pageview', 'event')";

/// The ratios the reports show, each derived from counted metrics in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratios;

impl Ratios {
    /// Page views per visit, two decimals.
    pub fn views_per_visit(pageviews: u64, visits: u64) -> f64 {
        rounded(ratio(pageviews, visits), 2)
    }

    /// Percent of visits that bounced, one decimal.
    pub fn bounce_rate(bounces: u64, visits: u64) -> f64 {
        rounded(100.0 * ratio(bounces, visits), 1)
    }

    /// Mean visit duration, whole seconds (half up).
    pub fn visit_duration_s(duration_ms: u64, visits: u64) -> u64 {
        (duration_ms + visits * 500).checked_div(visits * 1_000).unwrap_or(0)
    }

    /// Percent of the range's visitors who converted, one decimal.
    pub fn conversion_rate(converted_visitors: u64, visitors: u64) -> f64 {
        rounded(100.0 * ratio(converted_visitors, visitors), 1)
    }

    /// The same ratios in ClickHouse SQL over columns named as the counted metrics (Grafana computes them in
    /// its queries). They round half away from zero as [`Ratios`] does, with `floor(x + 0.5)`: ClickHouse's
    /// `round` rounds a Float64 half to even on current servers (`round(1.125, 2)` is 1.12) and away from
    /// zero on 18.16. `intDivOrZero`, not `intDiv` under an `if`: 18.16 evaluates both branches of an `if`.
    pub const SQL: [Ratio; 4] = [
        Ratio {
            name: "views_per_visit",
            label: "Views per visit",
            definition: "page views / visits, two decimals",
            unit: "none",
            sql: "if(visits = 0, 0, floor(pageviews / visits * 100 + 0.5) / 100)",
        },
        Ratio {
            name: "bounce_rate",
            label: "Bounce rate",
            definition: "percent of visits that bounced (bounces / visits), one decimal",
            unit: "percent",
            sql: "if(visits = 0, 0, floor(100 * (bounces / visits) * 10 + 0.5) / 10)",
        },
        Ratio {
            name: "visit_duration",
            label: "Visit duration",
            definition: "mean time from a visit's first event to its last, whole seconds (half up)",
            unit: "s",
            sql: "intDivOrZero(duration_ms + visits * 500, visits * 1000)",
        },
        Ratio {
            name: "conversion_rate",
            label: "Conversion rate",
            definition: "percent of the range's visitors (same filters) who sent the custom event, one decimal",
            unit: "percent",
            sql: "if(visitors = 0, 0, floor(100 * (converted_visitors / visitors) * 10 + 0.5) / 10)",
        },
    ];
}

/// A ratio of the reports, for surfaces that compute it in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub name: &'static str,
    pub label: &'static str,
    pub definition: &'static str,
    /// Grafana's unit id: `none`, `percent` (0 to 100), `s`.
    pub unit: &'static str,
    pub sql: &'static str,
}

fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Equality filters on filterable dimensions, kept in [`DIMENSIONS`] order so that the clauses a
/// [`Template`] writes and the values bound to them always come out together and in the same order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    given: Vec<(&'static Dimension, String)>,
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown dimension; filterable: {known}")]
    Unknown { known: String },
    #[error("cannot be filtered by; filterable: {known}")]
    NotFilterable { known: String },
}

impl Filters {
    /// Filters by `name` = `value`, replacing an earlier value of that dimension.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), FilterError> {
        let known = || filterable().map(|d| d.name).collect::<Vec<_>>().join(", ");
        let dimension = dimension(name).ok_or_else(|| FilterError::Unknown { known: known() })?;
        if !dimension.filterable {
            return Err(FilterError::NotFilterable { known: known() });
        }
        self.given.retain(|(given, _)| given.name != name);
        self.given.push((dimension, value.to_owned()));
        let order = |d: &Dimension| DIMENSIONS.iter().position(|known| known.name == d.name);
        self.given.sort_by_key(|(d, _)| order(d));
        Ok(())
    }

    /// The value of the filter on `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.given.iter().find(|(d, _)| d.name == name).map(|(_, value)| value.as_str())
    }

    /// The filters that are set, as (dimension, value), in [`DIMENSIONS`] order.
    pub fn given(&self) -> impl Iterator<Item = (&'static Dimension, &str)> {
        self.given.iter().map(|(d, value)| (*d, value.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.given.is_empty()
    }

    /// A filter that selects visits by any of their page views rather than by their first event, which the
    /// visit rollup cannot answer (it keeps no list of a visit's pages).
    pub fn selecting_visits_by_any_pageview(&self) -> Option<&'static Dimension> {
        self.given.iter().map(|(d, _)| *d).find(|d| d.on_visits == OnVisits::AnyPageview)
    }
}

/// The SQL the model writes into templates, by marker name (`{{name}}` in a template); the filter markers
/// `event_filters` and `visit_filters` are written per question by [`Template::render`].
pub fn fragments() -> Vec<(String, String)> {
    let mut out = vec![
        ("event_columns".to_owned(), event_columns()),
        ("visit_columns.rollup".to_owned(), visit_columns(Source::Hourly)),
        ("visit_columns.raw".to_owned(), visit_columns(Source::Raw)),
        ("visits_of_site.rollup".to_owned(), visits_of_site(Source::Hourly)),
        ("visits_of_site.raw".to_owned(), visits_of_site(Source::Raw)),
        ("visit_row_columns".to_owned(), visit_row_columns().join(", ")),
        ("visit_rows_of_site".to_owned(), VISIT_ROWS_OF_SITE.to_owned()),
        ("is_visit".to_owned(), "visit_pageviews > 0".to_owned()),
        ("counted_kinds".to_owned(), COUNTED_KINDS.to_owned()),
        ("visit_metrics".to_owned(), select_metrics(&["visits", "bounces", "duration_ms"], Source::Visits)),
        ("daily_pairs.events".to_owned(), daily_pairs(false)),
        ("daily_pairs.visits".to_owned(), daily_pairs(true)),
        ("daily_pairs.breakdowns".to_owned(), breakdown_pairs()),
    ];
    for source in [Source::Raw, Source::Hourly] {
        let name = if source == Source::Raw { "raw" } else { "hourly" };
        out.push((
            format!("event_metrics.{name}"),
            select_metrics(&["visitors", "pageviews", "custom_events"], source),
        ));
        for metric in METRICS {
            if let Some(sql) = metric.sql(source) {
                out.push((format!("metric.{}.{name}", metric.name), sql.to_owned()));
            }
        }
    }
    out
}

/// The one read of the finalized visit rows (`sql/022`): a site's rows of the days to read, each day only
/// with the version of the run its mark names (earlier runs' rows stay stored). Binds five values: the site,
/// the first and last day (`YYYY-MM-DD`), and the version of each day from the first to the last (an array,
/// 0 for a day not to read), then the first day again. A template continues its `WHERE` with `AND`.
const VISIT_ROWS_OF_SITE: &str =
    "stats_visit_rows\nWHERE site = ?\n      AND day >= toDate(?)\n      AND day <= toDate(?)\n      \
     AND version = arrayElement(?, toRelativeDayNum(day) - toRelativeDayNum(toDate(?)) + 1)";

/// The alias a metric takes in a query's SELECT: its name, except visitors, whose name is a state column of
/// `stats_hourly` (an alias may not shadow the column it aggregates).
pub fn metric_alias(name: &str) -> &str {
    if name == "visitors" {
        "unique_visitors"
    } else {
        name
    }
}

fn select_metrics(names: &[&str], source: Source) -> String {
    names
        .iter()
        .map(|name| {
            let sql = metric(name).and_then(|m| m.sql(source)).unwrap_or("NULL");
            format!("toUInt64({sql}) AS {}", metric_alias(name))
        })
        .collect::<Vec<_>>()
        .join(",\n    ")
}

/// Every event dimension's value over a `page_visits` row, named by its column: what a raw query selects
/// before filtering and grouping like the rollups do.
fn event_columns() -> String {
    DIMENSIONS
        .iter()
        .filter(|d| d.scope == Scope::Event)
        .map(|d| if d.event_sql == d.column { d.column.to_owned() } else { format!("{} AS {}", d.event_sql, d.column) })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one visit subquery's columns after `session_id` (merged from `stats_sessions` for `Hourly`, computed
/// from the raw events for `Raw`): its start, end, page views, custom events, and every visit dimension and
/// first-event value. A visit's first and last events are ordered by (receive time, event id), unique per
/// event, so a redelivered event changes neither.
fn visit_columns(source: Source) -> String {
    visit_column_list(source, DIMENSIONS).join(",\n        ")
}

/// The names of the visit subquery's columns over raw events (those of `visit_columns`), which are also
/// the columns of the finalized visit rows (`sql/022`): what a filter or breakdown of visits names.
pub fn visit_row_columns() -> Vec<String> {
    visit_row_columns_of(DIMENSIONS)
}

/// [`visit_row_columns`] for a list of dimensions.
pub(crate) fn visit_row_columns_of(dimensions: &[Dimension]) -> Vec<String> {
    visit_column_list(Source::Raw, dimensions)
        .iter()
        .filter_map(|column| column.rsplit_once(" AS ").map(|(_, alias)| alias.to_owned()))
        .collect()
}

fn visit_column_list(source: Source, dimensions: &[Dimension]) -> Vec<String> {
    let rollup = source != Source::Raw;
    let mut columns: Vec<String> = if rollup {
        vec![
            "minMerge(started_ms) AS visit_started_ms".into(),
            "maxMerge(ended_ms) AS visit_ended_ms".into(),
            "uniqExactIfMerge(pageviews) AS visit_pageviews".into(),
            "uniqExactIfMerge(custom_events) AS visit_custom_events".into(),
        ]
    } else {
        vec![
            "min(timestamp_ms) AS visit_started_ms".into(),
            "max(timestamp_ms) AS visit_ended_ms".into(),
            "countIf(kind = 'pageview') AS visit_pageviews".into(),
            "countIf(kind = 'event') AS visit_custom_events".into(),
        ]
    };
    for d in dimensions {
        let Some(alias) = d.visit_alias() else {
            if !rollup && d.on_visits == OnVisits::AnyPageview {
                columns.push(format!(
                    "groupUniqArrayIf({}, kind = 'pageview') AS {}",
                    d.event_sql,
                    d.pageview_values_alias()
                ));
            }
            continue;
        };
        let function = if d.scope == Scope::VisitLast { "argMax" } else { "argMin" };
        columns.push(if rollup {
            format!("{function}Merge({}) AS {alias}", d.column)
        } else {
            format!("{function}({}, (timestamp_ms, event_id)) AS {alias}", d.event_sql)
        });
    }
    columns
}

/// The one visit subquery: a site's visits, one row each, with [`visit_columns`], from the range's first day
/// on, without the visits that had an event the day before (those began before the range). Leaving them out
/// by their ids costs one column of that day; merging their states, as reading that day did, cost as much
/// as the range's first day again (sql/README.md, "Where the time goes now").
/// Binds four values: the site and the range's start (unix seconds), twice. The day before a start on
/// 1970-01-01 (a report "since the beginning") wraps to 2149 (`Date` counts days from it unsigned), where no
/// visit is, so nothing is left out.
fn visits_of_site(source: Source) -> String {
    // The visits' table, and the same table for the ids of the day before (one column: no FINAL).
    let (table, ids, day) = match source {
        Source::Raw => ("page_visits FINAL", "page_visits", "toDate(timestamp)"),
        Source::Hourly | Source::Visits => ("stats_sessions", "stats_sessions", "day"),
    };
    format!(
        "(\n    SELECT\n        session_id,\n        {}\n    FROM {table}\n    WHERE site = ?\n      AND {day} >= \
         toDate(toDateTime(?))\n      AND session_id NOT IN\n      (\n          SELECT session_id\n          \
         FROM {ids}\n          WHERE site = ?\n            AND {day} = toDate(toDateTime(?)) - 1\n      )\n    \
         GROUP BY session_id\n)",
        visit_columns(source)
    )
}

/// The `(dimension, value)` pairs a daily rollup row is written for: the totals `('', '')` and each
/// dimension's value, for events (event dimensions, over event rows) or for visits (visit dimensions and
/// first-event values, over rows of the visit subquery).
fn daily_pairs(visits: bool) -> String {
    let pairs = DIMENSIONS.iter().filter_map(|d| {
        let value = if visits { d.visit_alias()? } else { (d.scope == Scope::Event).then(|| d.column.to_owned())? };
        Some(format!("('{}', {value})", d.name))
    });
    let all: Vec<String> = std::iter::once("('', '')".to_owned()).chain(pairs).collect();
    format!("[{}]", all.join(", "))
}

/// The `(dimension, value)` pairs of every event dimension over event rows, which the paired daily rows of a
/// [`Dimension::paired`] filter are written for (`sql/queries/stats_rollup_event_pairs.sql`).
fn breakdown_pairs() -> String {
    let pairs: Vec<String> = DIMENSIONS
        .iter()
        .filter(|d| d.scope == Scope::Event)
        .map(|d| format!("('{}', {})", d.name, d.column))
        .collect();
    format!("[{}]", pairs.join(", "))
}

/// The `dimension` of the daily event rows that hold the events with `filter` = `value`, one row per value
/// of `breakdown` (written for a [`Dimension::paired`] filter only): `country=DE/page`. Unambiguous, since no
/// API name holds `=` or `/`: the filter's name ends at the first `=`, the breakdown's starts after the last
/// `/`.
pub fn paired_dimension(filter: &Dimension, value: &str, breakdown: &Dimension) -> String {
    format!("{}={value}/{}", filter.name, breakdown.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_and_columns_are_unique_plain_identifiers() {
        let mut names: Vec<&str> = DIMENSIONS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DIMENSIONS.len());
        for d in DIMENSIONS {
            for identifier in [d.name, d.column] {
                assert!(identifier.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{identifier}");
            }
        }
        assert_eq!(dimension("page").map(Dimension::key).as_deref(), Some("event:page"));
        assert_eq!(dimension("entry_page").map(Dimension::key).as_deref(), Some("visit:entry_page"));
    }

    #[test]
    fn the_daily_event_rows_pair_each_filter_of_few_values_with_every_event_dimension() {
        let paired: Vec<&str> = DIMENSIONS.iter().filter(|d| d.paired()).map(|d| d.name).collect();
        assert_eq!(paired, ["utm_medium", "country", "language", "browser", "os", "device", "screen_class"]);
        let (country, page) = (dimension("country").expect("country"), dimension("page").expect("page"));
        assert_eq!(paired_dimension(country, "DE", page), "country=DE/page");
        let pairs = breakdown_pairs();
        assert!(pairs.starts_with("[('page', pathname), ('source', referrer_host), "), "{pairs}");
        assert!(pairs.ends_with(", ('screen_class', screen_class), ('event', event_name)]"), "{pairs}");
        assert!(!pairs.contains("entry_page"), "visit dimensions are not event rows: {pairs}");
    }

    #[test]
    fn a_filter_is_refused_by_name_unless_its_dimension_is_filterable() {
        let mut filters = Filters::default();
        assert!(matches!(filters.set("pathname", "/"), Err(FilterError::Unknown { .. })), "filters go by API names");
        assert!(matches!(filters.set("entry_page", "/"), Err(FilterError::NotFilterable { .. })));
        filters.set("os", "iOS").expect("filterable");
        filters.set("country", "DE").expect("filterable");
        filters.set("country", "FR").expect("replaces");
        let given: Vec<(&str, &str)> = filters.given().map(|(d, v)| (d.name, v)).collect();
        assert_eq!(given, [("country", "FR"), ("os", "iOS")], "in registry order, once each");
        assert_eq!(filters.selecting_visits_by_any_pageview(), None);
        filters.set("page", "/x").expect("filterable");
        assert_eq!(filters.selecting_visits_by_any_pageview().map(|d| d.name), Some("page"));
    }

    #[test]
    fn screen_class_is_computed_once_from_the_width() {
        let screen = dimension("screen_class").expect("known");
        assert_eq!(screen.event_sql, SCREEN_CLASS_SQL);
        assert!(event_columns().contains(&format!("{SCREEN_CLASS_SQL} AS screen_class")));
        assert!(visit_columns(Source::Raw).contains(&format!("argMin({SCREEN_CLASS_SQL}, (timestamp_ms, event_id))")));
    }

    #[test]
    fn ratios_round_as_documented() {
        assert_eq!(Ratios::views_per_visit(4, 3), 1.33);
        assert_eq!(Ratios::bounce_rate(2, 3), 66.7);
        assert_eq!(Ratios::visit_duration_s(130_000, 3), 43);
        assert_eq!((Ratios::bounce_rate(0, 0), Ratios::visit_duration_s(5, 0)), (0.0, 0));
    }

    #[test]
    fn the_low_cardinality_columns_include_the_dimensions_flagged_so() {
        let columns = low_cardinality_columns();
        for expected in ["country", "browser", "screen_class", "kind", "colo", "visit_country"] {
            assert!(columns.iter().any(|column| column == expected), "{expected}");
        }
        assert!(!columns.iter().any(|column| column == "pathname" || column == "visit_entry_page"));
    }
}
