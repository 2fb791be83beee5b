//! The rollups' shape, derived from the dimensions: the columns each rollup table needs, and the SELECT of
//! each view that keeps a rollup from the events. `sql/010`-`015` and `sql/022` created them as files (applied
//! migrations, which stay as they were written); `migrate` compares what the server has with these and adds
//! what a new dimension needs (`warehouse/src/rollups.rs`). The gateway's tests hold the files
//! to this module, so the two cannot describe different rollups.

use crate::{visit_row_columns_of, Dimension, Scope};

/// A column a rollup table needs for the dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupColumn {
    pub table: &'static str,
    pub name: String,
    /// Its type as written on 18.16 (`String`, `Array(String)`, an `AggregateFunction` state).
    pub sql_type: String,
    /// Part of the table's sorting key: a dimension of an `AggregatingMergeTree` groups rows by it, so a new
    /// one is added to the end of the key in the same `ALTER`.
    pub key: bool,
    /// Few distinct values: `LowCardinality(String)` on current servers.
    pub low_cardinality: bool,
}

/// A materialized view that keeps a rollup table from a source of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupView {
    /// Its name as the migration files created it; a view created again for a new dimension is named with a
    /// suffix, since 18.16 can neither alter nor rename a view.
    pub name: &'static str,
    pub table: &'static str,
    pub source: &'static str,
    /// `SELECT ...`, without `CREATE ... AS`.
    pub select: String,
    /// The names of the columns it selects.
    pub columns: Vec<String>,
}

/// The hourly rollup's sorting key before its dimensions.
const HOURLY_KEY: [&str; 3] = ["site", "hour", "kind"];

/// The sorting key of `stats_hourly` for `dimensions`: site, hour, kind, then every event dimension's column.
pub fn hourly_key(dimensions: &[Dimension]) -> Vec<&'static str> {
    HOURLY_KEY.into_iter().chain(event_dimensions(dimensions).map(|d| d.column)).collect()
}

fn event_dimensions(dimensions: &[Dimension]) -> impl Iterator<Item = &Dimension> {
    dimensions.iter().filter(|d| d.scope == Scope::Event)
}

fn visit_value_dimensions(dimensions: &[Dimension]) -> impl Iterator<Item = &Dimension> {
    dimensions.iter().filter(|d| d.visit_alias().is_some())
}

fn first_or_last(d: &Dimension) -> &'static str {
    if d.scope == Scope::VisitLast {
        "argMax"
    } else {
        "argMin"
    }
}

/// Every column of `stats_hourly`, `stats_sessions` and `stats_visit_rows` that comes from a dimension.
pub fn rollup_columns(dimensions: &[Dimension]) -> Vec<RollupColumn> {
    let column = |table, name: String, sql_type: &str, key, low_cardinality| RollupColumn {
        table,
        name,
        sql_type: sql_type.to_owned(),
        key,
        low_cardinality,
    };
    let mut columns: Vec<RollupColumn> = event_dimensions(dimensions)
        .map(|d| column("stats_hourly", d.column.to_owned(), "String", true, d.low_cardinality))
        .collect();
    columns.extend(visit_value_dimensions(dimensions).map(|d| {
        let state = format!("AggregateFunction({}, String, Tuple(UInt64, String))", first_or_last(d));
        column("stats_sessions", d.column.to_owned(), &state, false, false)
    }));
    let low = |alias: &str| {
        visit_value_dimensions(dimensions).any(|d| d.low_cardinality && d.visit_alias().as_deref() == Some(alias))
    };
    columns.extend(visit_row_columns_of(dimensions).into_iter().skip(4).map(|alias| {
        let sql_type = if alias.ends_with("_values") { "Array(String)" } else { "String" };
        let low_cardinality = low(&alias);
        column("stats_visit_rows", alias, sql_type, false, low_cardinality)
    }));
    columns
}

/// The four views of the hourly and visit rollups: each fed from `page_visits` (direct inserts, and the
/// Kafka path on current servers) and from `page_visits_queue` (the Kafka path on 18.16, which does not
/// cascade views).
pub fn rollup_views(dimensions: &[Dimension]) -> Vec<RollupView> {
    let mut views = Vec::new();
    for (name, source) in [("stats_hourly_mv", "page_visits"), ("stats_hourly_queue_mv", "page_visits_queue")] {
        let selected = event_dimensions(dimensions).map(|d| {
            if d.event_sql == d.column {
                d.column.to_owned()
            } else {
                format!("{} AS {}", d.event_sql, d.column)
            }
        });
        let keys: Vec<String> = ["site".to_owned(), "toStartOfHour(timestamp) AS hour".to_owned(), "kind".to_owned()]
            .into_iter()
            .chain(selected)
            .collect();
        let select = format!(
            "SELECT {}, uniqExactState(event_id) AS events, uniqExactState(visitor_id) AS visitors, \
             uniqExactState(session_id) AS sessions FROM {source} WHERE kind IN ('pageview', 'event') GROUP BY {}",
            keys.join(", "),
            hourly_key(dimensions).join(", ")
        );
        let columns =
            hourly_key(dimensions).into_iter().chain(["events", "visitors", "sessions"]).map(str::to_owned).collect();
        views.push(RollupView { name, table: "stats_hourly", source, select, columns });
    }
    for (name, source) in [("stats_sessions_mv", "page_visits"), ("stats_sessions_queue_mv", "page_visits_queue")] {
        let mut selected = vec![
            "site".to_owned(),
            "toDate(timestamp) AS day".to_owned(),
            "session_id".to_owned(),
            "minState(timestamp_ms) AS started_ms".to_owned(),
            "maxState(timestamp_ms) AS ended_ms".to_owned(),
            "uniqExactIfState(event_id, kind = 'pageview') AS pageviews".to_owned(),
            "uniqExactIfState(event_id, kind = 'event') AS custom_events".to_owned(),
            "argMinState(visitor_id, (timestamp_ms, event_id)) AS visitor_id".to_owned(),
        ];
        selected.extend(
            visit_value_dimensions(dimensions).map(|d| {
                format!("{}State({}, (timestamp_ms, event_id)) AS {}", first_or_last(d), d.event_sql, d.column)
            }),
        );
        let columns =
            selected.iter().map(|s| s.rsplit_once(" AS ").map_or(s.as_str(), |(_, alias)| alias).to_owned()).collect();
        let select = format!("SELECT {} FROM {source} GROUP BY site, day, session_id", selected.join(", "));
        views.push(RollupView { name, table: "stats_sessions", source, select, columns });
    }
    views
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DIMENSIONS;

    #[test]
    fn every_dimension_has_its_columns_in_the_rollups() {
        let columns = rollup_columns(DIMENSIONS);
        let has = |table: &str, name: &str| columns.iter().any(|c| c.table == table && c.name == name);
        assert!(has("stats_hourly", "pathname") && has("stats_hourly", "event_name"));
        assert!(has("stats_sessions", "entry_page") && has("stats_sessions", "country"));
        assert!(!has("stats_sessions", "pathname"), "a page is not a value of the visit");
        assert!(has("stats_visit_rows", "visit_pathname_values") && has("stats_visit_rows", "visit_country"));
        assert!(columns.iter().filter(|c| c.key).all(|c| c.table == "stats_hourly"));
    }

    #[test]
    fn each_rollup_has_a_view_from_the_table_and_from_the_queue_with_the_same_select() {
        let views = rollup_views(DIMENSIONS);
        assert_eq!(views.len(), 4);
        assert_eq!(views[0].select.replace("page_visits ", "page_visits_queue "), views[1].select);
        assert_eq!(views[2].select.replace("page_visits ", "page_visits_queue "), views[3].select);
        assert!(views[0].columns.contains(&"screen_class".to_owned()));
        assert!(views[2].columns.contains(&"exit_page".to_owned()));
    }
}
