//! `ingest-gateway stats ...`: the stats API's answers printed as aligned tables. The command line is turned
//! into the API's own parameters and checked by the same code, so the two cannot disagree on a number.

use std::collections::HashMap;

use clap::{Args, Subcommand};

use super::api::{self, BreakdownRow, Bucket, Metrics, StatsError, REALTIME_WINDOW_S};
use super::daily::Freshness;
use super::query;

/// What every report takes.
#[derive(Debug, Clone, Args)]
pub struct Range {
    /// The site as the snippet's `data-site` names it, e.g. example.com.
    #[arg(long)]
    pub site: String,
    /// Start, inclusive: unix seconds, RFC 3339 or a UTC date (2026-01-01).
    #[arg(long)]
    pub from: String,
    /// End, exclusive: unix seconds or RFC 3339; a date includes that day.
    #[arg(long)]
    pub to: String,
    /// A filter, NAME=VALUE, repeatable; NAME is a filter of the stats API (a filterable dimension of the
    /// analytics model: country, page, source, ...).
    #[arg(long = "filter", value_name = "NAME=VALUE")]
    pub filters: Vec<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum StatsCommand {
    /// Visitors, visits, page views, views per visit, bounce rate, visit duration, custom events.
    Aggregate(Range),
    /// The same per hour or day.
    Timeseries {
        #[command(flatten)]
        range: Range,
        /// hour or day.
        #[arg(long, default_value = "day")]
        interval: String,
    },
    /// The top values of a property: a dimension of the analytics model (page, entry_page, country, ...).
    Breakdown {
        #[command(flatten)]
        range: Range,
        #[arg(long, default_value = "country")]
        property: String,
        #[arg(long, default_value_t = api::DEFAULT_LIMIT)]
        limit: u32,
    },
    /// Visitors and page views of the last 5 minutes.
    Realtime {
        #[arg(long)]
        site: String,
    },
    /// Events received per minute over the last N minutes, empty minutes as 0 (pipeline health).
    Ingested {
        /// One site; every site when omitted.
        #[arg(long, default_value = "")]
        site: String,
        #[arg(long, default_value_t = 60)]
        minutes: u32,
    },
}

fn params(range: &Range, extra: &[(&str, String)]) -> Result<HashMap<String, String>, StatsError> {
    let mut params: HashMap<String, String> = [("site", &range.site), ("from", &range.from), ("to", &range.to)]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.clone()))
        .collect();
    for filter in &range.filters {
        let (name, value) = filter.split_once('=').ok_or_else(|| StatsError::InvalidParameter {
            parameter: "filter".to_owned(),
            reason: format!("{filter:?} is not NAME=VALUE"),
        })?;
        if let Err(error) = query::Filters::default().set(name, value) {
            return Err(StatsError::InvalidParameter { parameter: name.to_owned(), reason: error.to_string() });
        }
        params.insert(name.to_owned(), value.to_owned());
    }
    params.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
    Ok(params)
}

/// Runs one report and renders it; `now` is the current unix time, `freshness` says which daily rows answer.
pub async fn run(
    client: &clickhouse::Client,
    command: &StatsCommand,
    now: u32,
    freshness: Freshness,
) -> Result<String, StatsError> {
    match command {
        StatsCommand::Aggregate(range) => {
            let q = api::parse_question(&params(range, &[])?)?;
            let (metrics, _) = api::aggregate_metrics(client, &q, freshness).await?;
            Ok(render(&METRIC_HEADER, &[metric_cells(None, &metrics)]))
        }
        StatsCommand::Timeseries { range, interval } => {
            let q = api::parse_question(&params(range, &[])?)?;
            let step = query::interval_seconds(interval).ok_or_else(|| StatsError::InvalidParameter {
                parameter: "interval".to_owned(),
                reason: "must be minute, hour or day".to_owned(),
            })?;
            let (buckets, _) = api::timeseries_buckets(client, &q, step, freshness).await?;
            let rows: Vec<Vec<String>> = buckets.iter().map(bucket_cells).collect();
            let header: Vec<&str> = ["time"].into_iter().chain(METRIC_HEADER).collect();
            Ok(render(&header, &rows))
        }
        StatsCommand::Breakdown { range, property, limit } => {
            let (q, property, limit) =
                api::parse_breakdown(&params(range, &[("property", property.clone()), ("limit", limit.to_string())])?)?;
            let (_, rows) = api::breakdown_rows(client, &q, property, limit, freshness).await?;
            Ok(render_breakdown(property.name, &rows))
        }
        StatsCommand::Realtime { site } => {
            let now =
                query::realtime(client, site, now.saturating_sub(REALTIME_WINDOW_S), now.saturating_add(1)).await?;
            Ok(render(&["visitors", "pageviews"], &[vec![now.visitors.to_string(), now.pageviews.to_string()]]))
        }
        StatsCommand::Ingested { site, minutes } => {
            let minutes = (*minutes).clamp(1, 10_080);
            let from = (now / 60 + 1).saturating_sub(minutes) * 60;
            let rows = query::ingested_per_minute(client, site, from, minutes).await?;
            let rows: Vec<Vec<String>> = rows.iter().map(|row| vec![utc(row.minute), row.events.to_string()]).collect();
            Ok(render(&["minute", "events"], &rows))
        }
    }
}

const METRIC_HEADER: [&str; 7] =
    ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration_s", "custom_events"];

fn metric_cells(time: Option<u32>, m: &Metrics) -> Vec<String> {
    time.map(utc)
        .into_iter()
        .chain([
            m.visitors.to_string(),
            m.visits.to_string(),
            m.pageviews.to_string(),
            format!("{:.2}", m.views_per_visit),
            format!("{:.1}%", m.bounce_rate),
            m.visit_duration.to_string(),
            m.custom_events.to_string(),
        ])
        .collect()
}

fn bucket_cells(bucket: &Bucket) -> Vec<String> {
    metric_cells(Some(bucket.time), &bucket.metrics)
}

fn utc(unix: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(unix), 0)
        .map_or_else(|| unix.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// A breakdown column: its header and its cell of a row, `None` where the property's rows have none.
type Column = (&'static str, fn(&BreakdownRow) -> Option<String>);

fn render_breakdown(property: &str, rows: &[BreakdownRow]) -> String {
    let columns: [Column; 7] = [
        ("visitors", |r| r.visitors.map(|v| v.to_string())),
        ("pageviews", |r| r.pageviews.map(|v| v.to_string())),
        ("events", |r| r.events.map(|v| v.to_string())),
        ("conversion_rate", |r| r.conversion_rate.map(|v| format!("{v:.1}%"))),
        ("visits", |r| r.visits.map(|v| v.to_string())),
        ("bounce_rate", |r| r.bounce_rate.map(|v| format!("{v:.1}%"))),
        ("visit_duration_s", |r| r.visit_duration.map(|v| v.to_string())),
    ];
    // The columns this property's rows carry (the API leaves the others out of its JSON).
    let shown: Vec<_> =
        columns.iter().filter(|(_, cell)| rows.first().is_some_and(|row| cell(row).is_some())).collect();
    let header: Vec<&str> = [property].into_iter().chain(shown.iter().map(|(name, _)| *name)).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let value = if row.value.is_empty() { "(none)".to_owned() } else { row.value.clone() };
            [value].into_iter().chain(shown.iter().map(|(_, cell)| cell(row).unwrap_or_default())).collect()
        })
        .collect();
    render(&header, &cells)
}

/// An aligned table: the first column (a name or a time) left, the numbers right.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(
                |(column, (cell, &width))| {
                    if column == 0 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                },
            )
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_the_first_column_left_and_numbers_right() {
        let rows = vec![vec!["DE".to_owned(), "1200".to_owned()], vec!["XX".to_owned(), "7".to_owned()]];
        assert_eq!(
            render(&["country", "visitors"], &rows),
            "country  visitors\nDE           1200\nXX              7\n"
        );
    }

    #[test]
    fn a_filter_must_be_a_known_name_and_a_value() {
        let range = |filter: &str| Range {
            site: "s".into(),
            from: "0".into(),
            to: "60".into(),
            filters: vec![filter.to_owned()],
        };
        assert_eq!(params(&range("country=DE"), &[]).expect("valid")["country"], "DE");
        assert!(
            matches!(params(&range("country"), &[]), Err(StatsError::InvalidParameter { parameter, .. }) if parameter == "filter")
        );
        assert!(
            matches!(params(&range("colour=red"), &[]), Err(StatsError::InvalidParameter { parameter, .. }) if parameter == "colour")
        );
    }
}
