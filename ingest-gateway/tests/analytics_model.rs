//! The rollup migrations (`sql/010`-`015`, `020`-`022`) against the analytics model: they were written before the model
//! and, being applied migrations, cannot be generated from it, so this holds them to it. Every event
//! dimension is a key column of the hourly rollup, computed by both of its views with the model's
//! expression; every value a visit takes from its first or last event is a state of the visit rollup,
//! computed by both of its views with the model's expression and the model's order of events. A new
//! dimension that needs a new column fails here until a migration adds it.

use analytics_model::{Scope, DIMENSIONS};

fn migration(prefix: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("sql/ is readable").flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    let file = entries
        .iter()
        .find(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no sql/{prefix}*.sql"));
    normalized(&std::fs::read_to_string(file.path()).expect("readable"))
}

/// The SQL without comments, with whitespace collapsed and none inside parentheses' edges, so that
/// expressions compare whatever their line breaks.
fn normalized(sql: &str) -> String {
    let code: Vec<&str> = sql.lines().map(|line| line.split("--").next().unwrap_or("")).collect();
    let collapsed = code.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.replace("( ", "(").replace(" )", ")")
}

fn selected(column: &str, expression: &str) -> String {
    if column == expression {
        format!(" {column},")
    } else {
        format!(" {} AS {column},", normalized(expression))
    }
}

#[test]
fn every_event_dimension_is_a_key_of_the_hourly_rollup_computed_as_the_model_says() {
    let table = migration("010_");
    for view in ["011_", "012_"] {
        let view_sql = migration(view);
        for dimension in DIMENSIONS.iter().filter(|d| d.scope == Scope::Event) {
            assert!(table.contains(&format!(" {} String,", dimension.column)), "010 lacks {}", dimension.column);
            assert!(
                view_sql.contains(&selected(dimension.column, dimension.event_sql)),
                "sql/{view}*.sql does not compute {} as the model does: {}",
                dimension.column,
                dimension.event_sql
            );
        }
    }
}

#[test]
fn every_value_a_visit_takes_from_an_event_is_a_state_of_the_visit_rollup_computed_as_the_model_says() {
    let table = migration("013_");
    for view in ["014_", "015_"] {
        let view_sql = migration(view);
        for dimension in DIMENSIONS.iter().filter(|d| d.visit_alias().is_some()) {
            let function = if dimension.scope == Scope::VisitLast { "argMax" } else { "argMin" };
            let state = format!(" {} AggregateFunction({function}, String, Tuple(UInt64, String))", dimension.column);
            assert!(table.contains(&state), "013 lacks {state}");
            let computed = format!(
                "{function}State({}, (timestamp_ms, event_id)) AS {}",
                normalized(dimension.event_sql),
                dimension.column
            );
            assert!(view_sql.contains(&computed), "sql/{view}*.sql does not compute {computed}");
        }
    }
}

#[test]
fn the_finalized_visit_rows_have_a_column_for_every_value_of_the_visit_subquery() {
    let table = migration("022_");
    let columns = analytics_model::visit_row_columns();
    assert!(columns.contains(&"visit_pathname_values".to_owned()), "{columns:?}");
    for column in columns {
        let kind = match column.as_str() {
            "visit_started_ms" | "visit_ended_ms" | "visit_pageviews" | "visit_custom_events" => "UInt64",
            name if name.ends_with("_values") => "Array(String)",
            _ => "String",
        };
        assert!(
            table.contains(&format!(" {column} {kind},")) || table.contains(&format!(" {column} {kind})")),
            "022 lacks {column} {kind}"
        );
    }
}

#[test]
fn the_rollup_views_select_what_the_model_derives_and_the_tables_have_its_columns() {
    let views = [
        ("stats_hourly_mv", "011_"),
        ("stats_hourly_queue_mv", "012_"),
        ("stats_sessions_mv", "014_"),
        ("stats_sessions_queue_mv", "015_"),
    ];
    for view in analytics_model::rollup_views(DIMENSIONS) {
        let (_, prefix) = views.iter().find(|(name, _)| *name == view.name).expect("a view of the files");
        let file = migration(prefix);
        assert!(
            file.contains(&format!("AS {};", normalized(&view.select))),
            "sql/{prefix}*.sql does not select what the model derives (migrate would create it again):\n{file}\n{}",
            normalized(&view.select)
        );
    }
    for column in analytics_model::rollup_columns(DIMENSIONS) {
        let prefix = match column.table {
            "stats_hourly" => "010_",
            "stats_sessions" => "013_",
            _ => "022_",
        };
        let table = migration(prefix);
        let declared = format!(" {} {}", column.name, normalized(&column.sql_type));
        assert!(
            table.contains(&format!("{declared},")) || table.contains(&format!("{declared})")),
            "{prefix} lacks{declared}"
        );
    }
}

#[test]
fn each_rollups_two_feeds_select_the_same_from_the_table_and_from_the_kafka_queue() {
    for (table_feed, queue_feed) in [("011_", "012_"), ("014_", "015_"), ("020_", "021_")] {
        let select = |prefix: &str| {
            let sql = migration(prefix);
            let start = sql.find(" AS SELECT ").unwrap_or_else(|| panic!("sql/{prefix}*.sql is a view"));
            sql[start..].replace("FROM page_visits_queue ", "FROM page_visits ")
        };
        assert_eq!(select(table_feed), select(queue_feed), "sql/{table_feed}*.sql and sql/{queue_feed}*.sql");
    }
}
