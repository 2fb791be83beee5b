//! `/api/v1/stats/...`: the parameters, the answers as JSON, and every way a request fails. Every parameter
//! is checked before anything is asked of ClickHouse; a bad one is a 400 naming it
//! (`{"error": "invalid_parameter", "parameter": "interval", "message": ...}`), never a 5xx.

use std::collections::HashMap;
use std::sync::Arc;

use analytics_model::{filterable, Ratios};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::daily::{self, Freshness};
use super::query::{self, Counts, Dimension, Filters, Question, Source, Visits, DAY_S};
use super::Stats;
use crate::read_api::{refusal, Area, CredentialsRefusal};
use crate::report::parse_instant;

/// Most rows one breakdown returns, and how many it returns unless asked.
pub const MAX_LIMIT: u32 = 1_000;
pub const DEFAULT_LIMIT: u32 = 100;
/// Most buckets one time series returns (a year of hours is 8 760).
pub const MAX_BUCKETS: u32 = 10_000;
/// Longest filter value.
pub const MAX_FILTER_BYTES: usize = 2_048;
pub use analytics_model::REALTIME_WINDOW_S;

/// Every way a stats request fails, with its status and label.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(name(StatsErrorKind), vis(pub))]
#[strum_discriminants(derive(Hash, strum::IntoStaticStr, strum::EnumIter))]
#[strum_discriminants(strum(serialize_all = "snake_case"))]
pub enum StatsError {
    #[error("the stats API is not enabled on this gateway: set STATS_TOKEN, or STATS_USERNAME and STATS_PASSWORD")]
    NotEnabled,
    #[error(transparent)]
    Credentials(#[from] CredentialsRefusal),
    #[error("no such stats route; known: aggregate, timeseries, breakdown, realtime")]
    UnknownRoute,
    #[error("parameter {parameter}: {reason}")]
    InvalidParameter { parameter: String, reason: String },
    #[error("the report needs more than a stats query may take ({0}); ask for a shorter range or fewer filters")]
    QueryOverBudget(String),
    #[error("the stats cannot be read now: {0}")]
    Unavailable(clickhouse::error::Error),
}

/// ClickHouse's codes for a query stopped by its budget: TIMEOUT_EXCEEDED, MEMORY_LIMIT_EXCEEDED.
const OVER_BUDGET_CODES: [(&str, &str); 2] = [("Code: 159,", "time limit"), ("Code: 241,", "memory limit")];

impl From<clickhouse::error::Error> for StatsError {
    fn from(error: clickhouse::error::Error) -> Self {
        let text = error.to_string();
        match OVER_BUDGET_CODES.iter().find(|(code, _)| text.contains(code)) {
            Some((_, limit)) => Self::QueryOverBudget((*limit).to_owned()),
            None => Self::Unavailable(error),
        }
    }
}

impl StatsError {
    fn invalid(parameter: &str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter { parameter: parameter.to_owned(), reason: reason.into() }
    }

    pub fn kind(&self) -> StatsErrorKind {
        self.into()
    }

    /// The `error` of the JSON answer: the kind's name, or for refused credentials which refusal.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Credentials(refusal) => refusal.into(),
            other => other.kind().into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotEnabled | Self::UnknownRoute => StatusCode::NOT_FOUND,
            Self::Credentials(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Self::QueryOverBudget(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

const AREA: Area =
    Area { name: "stats", challenges: [r#"Basic realm="Pathlight stats""#, r#"Bearer realm="Pathlight stats""#] };

impl IntoResponse for StatsError {
    fn into_response(self) -> Response {
        let parameter = match &self {
            Self::InvalidParameter { parameter, .. } => Some(parameter.to_string()),
            _ => None,
        };
        refusal(&AREA, self.status(), self.label(), self.to_string(), parameter.as_deref())
    }
}

/// An answer as JSON, never stored by caches (it shows visitor data), tagged for conditional requests
/// ([`super::conditional`]).
fn json_response<T: Serialize>(body: &T) -> Response {
    // The answers are plain structs of numbers and strings; axum's own error answer covers the impossible.
    let Ok(bytes) = serde_json::to_vec(body) else {
        return axum::Json(body).into_response();
    };
    let tag = super::conditional::entity_tag(&bytes);
    let mut response = ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(ETAG, tag);
    response
}

pub async fn not_enabled() -> StatsError {
    StatsError::NotEnabled
}

pub async fn unknown_route() -> StatsError {
    StatsError::UnknownRoute
}

type Params = HashMap<String, String>;

/// The query string as name -> value, refusing names not in `known` or the model's filterable dimensions,
/// and names given twice.
fn params(query: Result<Query<Vec<(String, String)>>, QueryRejection>, known: &[&str]) -> Result<Params, StatsError> {
    let Query(pairs) = query.map_err(|rejection| StatsError::invalid("query", rejection.body_text()))?;
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if !known.contains(&name.as_str()) && !filterable().any(|d| d.name == name) {
            let all: Vec<&str> = known.iter().copied().chain(filterable().map(|d| d.name)).collect();
            return Err(StatsError::invalid(&name, format!("unknown parameter; known: {}", all.join(", "))));
        }
        if params.insert(name.clone(), value).is_some() {
            return Err(StatsError::invalid(&name, "is given more than once"));
        }
    }
    Ok(params)
}

fn given<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(|value| value.trim()).filter(|value| !value.is_empty())
}

/// A site as the snippet names it: 1 to 100 characters of `[A-Za-z0-9._-]`.
fn is_site(site: &str) -> bool {
    (1..=100).contains(&site.len()) && site.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// An instant from unix seconds, RFC 3339, or a UTC date (`2026-01-31`): its midnight, or for `to` the next
/// midnight, so that the day itself is included.
fn parse_bound(name: &str, text: &str, end_of_day: bool) -> Result<u32, StatsError> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end_of_day { date.succ_opt() } else { Some(date) };
        return day
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| u32::try_from(t.and_utc().timestamp()).ok())
            .ok_or_else(|| StatsError::invalid(name, "must be a date from 1970 to 2106"));
    }
    parse_instant(text).map_err(|reason| StatsError::invalid(name, reason))
}

/// site, from, to (both required) and the filters.
pub fn parse_question(params: &Params) -> Result<Question, StatsError> {
    let site = given(params, "site").ok_or_else(|| StatsError::invalid("site", "is required"))?;
    if !is_site(site) {
        return Err(StatsError::invalid("site", "must be 1 to 100 characters from [A-Za-z0-9._-]"));
    }
    let from = given(params, "from").ok_or_else(|| StatsError::invalid("from", "is required"))?;
    let from = parse_bound("from", from, false)?;
    let to = given(params, "to").ok_or_else(|| StatsError::invalid("to", "is required"))?;
    let to = parse_bound("to", to, true)?;
    if from >= to {
        return Err(StatsError::invalid("to", "must be after from"));
    }
    let mut filters = Filters::default();
    for dimension in filterable() {
        if let Some(value) = given(params, dimension.name) {
            if value.len() > MAX_FILTER_BYTES {
                return Err(StatsError::invalid(dimension.name, format!("must be at most {MAX_FILTER_BYTES} bytes")));
            }
            filters
                .set(dimension.name, value)
                .map_err(|error| StatsError::invalid(dimension.name, error.to_string()))?;
        }
    }
    Ok(Question { site: site.to_owned(), from, to, filters })
}

/// The headline numbers of a range (or of one bucket of a time series).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub visitors: u64,
    pub visits: u64,
    pub pageviews: u64,
    /// Page views per visit, two decimals.
    pub views_per_visit: f64,
    /// Percent of visits with one page view and no custom event, one decimal.
    pub bounce_rate: f64,
    /// Mean visit duration, whole seconds.
    pub visit_duration: u64,
    pub custom_events: u64,
}

impl Metrics {
    pub fn from_rows(counts: Counts, visits: Visits) -> Self {
        Self {
            visitors: counts.visitors,
            visits: visits.visits,
            pageviews: counts.pageviews,
            views_per_visit: Ratios::views_per_visit(counts.pageviews, visits.visits),
            bounce_rate: Ratios::bounce_rate(visits.bounces, visits.visits),
            visit_duration: Ratios::visit_duration_s(visits.duration_ms, visits.visits),
            custom_events: counts.custom_events,
        }
    }
}

/// Which tables answered.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sources {
    pub counts: Source,
    pub visits: Source,
}

#[derive(Serialize)]
struct AggregateAnswer<'a> {
    site: &'a str,
    from: u32,
    to: u32,
    source: Sources,
    results: Metrics,
}

pub const AGGREGATE_PARAMS: &[&str] = &["site", "from", "to"];

pub async fn aggregate(
    State(stats): State<Arc<Stats>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, StatsError> {
    let q = parse_question(&params(query, AGGREGATE_PARAMS)?)?;
    let (results, source) = aggregate_metrics(&stats.client, &q, stats.freshness).await?;
    Ok(json_response(&AggregateAnswer { site: &q.site, from: q.from, to: q.to, source, results }))
}

/// The question's headline numbers, and where they were read: whole days from the daily rows where a rollup
/// run wrote them (see [`daily`]), anything else from the hourly and visit rollups or the raw events.
pub async fn aggregate_metrics(
    client: &clickhouse::Client,
    q: &Question,
    freshness: Freshness,
) -> Result<(Metrics, Sources), StatsError> {
    let plan = daily::plan(client, q, freshness).await?;
    if let Some((counts, visits)) = daily_rows(client, q, &plan).await? {
        let (counts, visits) = daily::totals(&counts, &visits);
        return Ok((Metrics::from_rows(counts, visits), Sources { counts: Source::Rollup, visits: Source::Rollup }));
    }
    let step = q.to - q.from;
    let ((counts_source, counts), (visits_source, visits)) =
        tokio::try_join!(counts_by_bucket(client, q, step, &plan), daily::visits(client, q, step, &plan))?;
    let counts = counts.first().copied().unwrap_or_default();
    let visits = visits.first().copied().unwrap_or_default();
    Ok((Metrics::from_rows(counts, visits), Sources { counts: counts_source, visits: visits_source }))
}

/// Counts per bucket of `step` (a day, or the whole range): the days of `plan` from the daily event rows
/// where they count the question's filters ([`daily::counts_key`]: two filters, one of them paired), the
/// other days from the rollups or the raw events; anything else from those alone.
async fn counts_by_bucket(
    client: &clickhouse::Client,
    q: &Question,
    step: u32,
    plan: &daily::Plan,
) -> Result<(Source, Vec<Counts>), clickhouse::error::Error> {
    let key = daily::counts_key(q).filter(|_| !plan.days.is_empty() && (step == DAY_S || step == q.to - q.from));
    let Some((dimension, value)) = key else { return query::counts(client, q, step).await };
    let (source, per_day) = daily::counts_per_day(client, q, (&dimension, &value), plan).await?;
    if step == DAY_S {
        let mut rows: Vec<Counts> = per_day.into_values().collect();
        rows.sort_by_key(|row| row.bucket);
        return Ok((source, rows));
    }
    let total = daily::totals(&per_day, &HashMap::new()).0;
    Ok((source, vec![Counts { bucket: q.from, ..total }]))
}

type DayRows = (HashMap<u32, Counts>, HashMap<u32, Visits>);

/// Counts and visit metrics per day when the daily rows answer the question (whole days, their filter, at
/// least one day of `plan` written by a rollup run); `None` otherwise.
async fn daily_rows(
    client: &clickhouse::Client,
    q: &Question,
    plan: &daily::Plan,
) -> Result<Option<DayRows>, StatsError> {
    let Some((dimension, value)) = daily::key(q) else { return Ok(None) };
    if plan.days.is_empty() {
        return Ok(None);
    }
    Ok(Some(daily::per_day(client, q, (dimension, &value), plan).await?))
}

#[derive(Serialize)]
pub struct Bucket {
    /// Start of the bucket, unix seconds (UTC).
    pub time: u32,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Serialize)]
struct TimeseriesAnswer<'a> {
    site: &'a str,
    from: u32,
    to: u32,
    interval: &'a str,
    source: Sources,
    results: Vec<Bucket>,
}

pub const TIMESERIES_PARAMS: &[&str] = &["site", "from", "to", "interval"];

pub async fn timeseries(
    State(stats): State<Arc<Stats>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, StatsError> {
    let params = params(query, TIMESERIES_PARAMS)?;
    let q = parse_question(&params)?;
    let interval = given(&params, "interval").unwrap_or("day");
    let step = query::interval_seconds(interval)
        .ok_or_else(|| StatsError::invalid("interval", "must be minute, hour or day"))?;
    if (q.to - q.from).div_ceil(step) > MAX_BUCKETS {
        return Err(StatsError::invalid(
            "interval",
            format!("gives more than {MAX_BUCKETS} buckets; shorten the range"),
        ));
    }
    let (results, source) = timeseries_buckets(&stats.client, &q, step, stats.freshness).await?;
    Ok(json_response(&TimeseriesAnswer { site: &q.site, from: q.from, to: q.to, interval, source, results }))
}

/// Every bucket of `[from, to)`, the empty ones as zeros.
pub async fn timeseries_buckets(
    client: &clickhouse::Client,
    q: &Question,
    step: u32,
    freshness: Freshness,
) -> Result<(Vec<Bucket>, Sources), StatsError> {
    let plan = daily::plan(client, q, freshness).await?;
    let daily = if step == DAY_S { daily_rows(client, q, &plan).await? } else { None };
    let (counts, visits, sources) = match daily {
        Some((counts, visits)) => (counts, visits, Sources { counts: Source::Rollup, visits: Source::Rollup }),
        None => {
            let ((counts_source, counts), (visits_source, visits)) =
                tokio::try_join!(counts_by_bucket(client, q, step, &plan), daily::visits(client, q, step, &plan))?;
            let counts: HashMap<u32, Counts> = counts.into_iter().map(|row| (row.bucket, row)).collect();
            let visits: HashMap<u32, Visits> = visits.into_iter().map(|row| (row.bucket, row)).collect();
            (counts, visits, Sources { counts: counts_source, visits: visits_source })
        }
    };
    let buckets = query::buckets(q.from, q.to, step)
        .into_iter()
        .map(|time| Bucket {
            time,
            metrics: Metrics::from_rows(
                counts.get(&time).copied().unwrap_or_default(),
                visits.get(&time).copied().unwrap_or_default(),
            ),
        })
        .collect();
    Ok((buckets, sources))
}

/// One row of a breakdown. Event properties carry visitors, page views, custom events and (for custom
/// events) the conversion rate; entry and exit pages carry visits, bounce rate and duration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakdownRow {
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pageviews: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// Percent of the range's visitors who sent this custom event, one decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit_duration: Option<u64>,
}

#[derive(Serialize)]
struct BreakdownAnswer<'a> {
    site: &'a str,
    from: u32,
    to: u32,
    property: &'a str,
    source: Source,
    results: Vec<BreakdownRow>,
}

pub const BREAKDOWN_PARAMS: &[&str] = &["site", "from", "to", "property", "limit"];

pub fn parse_breakdown(params: &Params) -> Result<(Question, &'static Dimension, u32), StatsError> {
    let q = parse_question(params)?;
    let property = given(params, "property").ok_or_else(|| StatsError::invalid("property", "is required"))?;
    let property = query::dimension(property).ok_or_else(|| {
        let known: Vec<&str> = analytics_model::DIMENSIONS.iter().map(|d| d.name).collect();
        StatsError::invalid("property", format!("must be one of {}", known.join(", ")))
    })?;
    if property.is_visit_dimension() {
        if let Some(dimension) = q.filters.selecting_visits_by_any_pageview() {
            return Err(StatsError::invalid(
                dimension.name,
                format!("cannot be combined with a breakdown by {}", property.name),
            ));
        }
    }
    let limit = match given(params, "limit") {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| StatsError::invalid("limit", format!("must be a whole number from 1 to {MAX_LIMIT}")))?,
    };
    Ok((q, property, limit))
}

pub async fn breakdown(
    State(stats): State<Arc<Stats>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, StatsError> {
    let (q, property, limit) = parse_breakdown(&params(query, BREAKDOWN_PARAMS)?)?;
    let (source, results) = breakdown_rows(&stats.client, &q, property, limit, stats.freshness).await?;
    Ok(json_response(&BreakdownAnswer {
        site: &q.site,
        from: q.from,
        to: q.to,
        property: property.name,
        source,
        results,
    }))
}

/// The top `limit` values of `property`, and where they were read. Without filters, whole days come from
/// the daily rows where a rollup run wrote them (the daily rows hold one dimension at a time).
pub async fn breakdown_rows(
    client: &clickhouse::Client,
    q: &Question,
    property: &Dimension,
    limit: u32,
    freshness: Freshness,
) -> Result<(Source, Vec<BreakdownRow>), StatsError> {
    let empty = BreakdownRow {
        value: String::new(),
        visitors: None,
        pageviews: None,
        events: None,
        conversion_rate: None,
        visits: None,
        bounce_rate: None,
        visit_duration: None,
    };
    if property.is_visit_dimension() {
        let plan = daily::plan(client, q, freshness).await?;
        let rows = daily::visit_breakdown(client, q, &plan, property, limit)
            .await?
            .into_iter()
            .map(|row| BreakdownRow {
                visits: Some(row.visits),
                bounce_rate: Some(Ratios::bounce_rate(row.bounces, row.visits)),
                visit_duration: (row.visits > 0).then(|| Ratios::visit_duration_s(row.duration_ms, row.visits)),
                value: row.value,
                ..empty.clone()
            })
            .collect();
        return Ok((Source::Rollup, rows));
    }
    let rows_dimension = daily::breakdown_key(q, property);
    let plan = match rows_dimension {
        Some(_) => Some(daily::plan(client, q, freshness).await?),
        None => None,
    };
    let daily = plan.filter(|plan| !plan.days.is_empty()).zip(rows_dimension);
    let rows = async {
        Ok::<_, clickhouse::error::Error>(match &daily {
            Some((plan, rows_dimension)) => {
                daily::event_breakdown(client, q, plan, (property, rows_dimension), limit).await?
            }
            None => query::event_breakdown(client, q, property, limit).await?,
        })
    };
    if query::is_custom_event(property) {
        // The conversion rate's denominator, the visitors under the same filters, is read beside the rows.
        let visitors = async {
            let step = q.to - q.from;
            let counts = match &daily {
                Some((plan, _)) => counts_by_bucket(client, q, step, plan).await?.1,
                None => query::counts(client, q, step).await?.1,
            };
            Ok::<_, clickhouse::error::Error>(counts.first().map_or(0, |row| row.visitors))
        };
        let ((source, rows), visitors) = tokio::try_join!(rows, visitors)?;
        let rows = rows
            .into_iter()
            .map(|row| BreakdownRow {
                visitors: Some(row.converted_visitors),
                events: Some(row.custom_events),
                conversion_rate: Some(Ratios::conversion_rate(row.converted_visitors, visitors)),
                value: row.value,
                ..empty.clone()
            })
            .collect();
        return Ok((source, rows));
    }
    let (source, rows) = rows.await?;
    let rows = rows
        .into_iter()
        .map(|row| BreakdownRow {
            visitors: Some(row.visitors),
            pageviews: Some(row.pageviews),
            value: row.value,
            ..empty.clone()
        })
        .collect();
    Ok((source, rows))
}

#[derive(Serialize)]
struct RealtimeAnswer<'a> {
    site: &'a str,
    /// The window: `[since, until)`, unix seconds.
    since: u32,
    until: u32,
    visitors: u64,
    pageviews: u64,
}

pub async fn realtime(
    State(stats): State<Arc<Stats>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, StatsError> {
    let Query(pairs) = query.map_err(|rejection| StatsError::invalid("query", rejection.body_text()))?;
    let mut site = None;
    for (name, value) in pairs {
        if name != "site" {
            return Err(StatsError::invalid(&name, "unknown parameter; known: site"));
        }
        if site.replace(value).is_some() {
            return Err(StatsError::invalid("site", "is given more than once"));
        }
    }
    let site = site.map(|site| site.trim().to_owned()).unwrap_or_default();
    if !is_site(&site) {
        return Err(StatsError::invalid("site", "is required: 1 to 100 characters from [A-Za-z0-9._-]"));
    }
    let until = (stats.now)().saturating_add(1);
    let since = until.saturating_sub(REALTIME_WINDOW_S + 1);
    let now = query::realtime(&stats.client, &site, since, until).await?;
    Ok(json_response(&RealtimeAnswer { site: &site, since, until, visitors: now.visitors, pageviews: now.pageviews }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        match parse_breakdown(&params(pairs)) {
            Err(StatsError::InvalidParameter { parameter, .. }) => parameter,
            other => panic!("expected a refusal for {pairs:?}, got {other:?}"),
        }
    }

    const GOOD: [(&str, &str); 4] =
        [("site", "s.example"), ("from", "2026-01-01"), ("to", "2026-01-01"), ("property", "country")];

    #[test]
    fn a_breakdown_reads_its_range_property_filters_and_limit() {
        let mut pairs = GOOD.to_vec();
        pairs.extend([("limit", "5"), ("country", "DE"), ("page", "/x")]);
        let (q, property, limit) = parse_breakdown(&params(&pairs)).expect("valid");
        assert_eq!((q.from, q.to, property.name, limit), (1_767_225_600, 1_767_312_000, "country", 5));
        assert_eq!(q.filters.get("page"), Some("/x"));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (name, value) in [
            ("site", "a b"),
            ("from", "yesterday"),
            ("to", "2026-02-30"),
            ("property", "pathname"),
            ("limit", "0"),
            ("limit", "1001"),
        ] {
            let pairs: Vec<(&str, &str)> =
                GOOD.iter().copied().filter(|(k, _)| *k != name).chain([(name, value)]).collect();
            assert_eq!(refused(&pairs), name, "{name}={value}");
        }
        let missing: Vec<(&str, &str)> = GOOD.iter().copied().filter(|(k, _)| *k != "site").collect();
        assert_eq!(refused(&missing), "site");
        let backwards = [("site", "s"), ("from", "1767312000"), ("to", "1767225600"), ("property", "os")];
        assert_eq!(refused(&backwards), "to");
        let page_and_entry = [("site", "s"), ("from", "0"), ("to", "60"), ("property", "entry_page"), ("page", "/")];
        assert_eq!(refused(&page_and_entry), "page");
    }

    #[test]
    fn a_query_stopped_by_its_budget_is_named_so_and_other_failures_are_unavailable() {
        let stopped = |text: &str| StatsError::from(clickhouse::error::Error::BadResponse(text.to_owned()));
        let memory = stopped("Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded");
        assert_eq!(memory.kind(), StatsErrorKind::QueryOverBudget);
        assert!(memory.to_string().contains("memory limit"), "{memory}");
        let time = stopped("Code: 159, e.displayText() = DB::Exception: Timeout exceeded: elapsed 10.2 seconds");
        assert_eq!((time.kind(), time.status()), (StatsErrorKind::QueryOverBudget, StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(stopped("Code: 81, Database x doesn't exist").kind(), StatsErrorKind::Unavailable);
    }

    #[test]
    fn metrics_round_as_documented() {
        let counts = Counts { bucket: 0, visitors: 2, pageviews: 4, custom_events: 1 };
        let visits = Visits { bucket: 0, visits: 3, bounces: 2, duration_ms: 130_000 };
        let metrics = Metrics::from_rows(counts, visits);
        assert_eq!((metrics.views_per_visit, metrics.bounce_rate, metrics.visit_duration), (1.33, 66.7, 43));
        assert_eq!(Metrics::from_rows(Counts::default(), Visits::default()), Metrics::default());
    }
}
