//! The rollup migrations (`sql/010`-`015`, `020`-`022`) against the analytics model: they were written before
//! the model and, being applied migrations, cannot be generated from it, so this holds them to it. For the
//! dimensions the files were written for (`analytics_model::FILE_DIMENSIONS`), each rollup view selects
//! exactly what the model derives (`rollup_views`: every dimension's expression, the model's order of events)
//! and each table has the columns it derives (`rollup_columns`); a dimension added later reaches the server
//! through `migrate` (`ingest-gateway/tests/warehouse.rs`).

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

#[test]
fn the_rollup_views_select_what_the_model_derives_and_the_tables_have_its_columns() {
    let views = [
        ("stats_hourly_mv", "011_"),
        ("stats_hourly_queue_mv", "012_"),
        ("stats_sessions_mv", "014_"),
        ("stats_sessions_queue_mv", "015_"),
    ];
    // The dimensions the files were written for; later ones reach the server through migrate, which
    // ingest-gateway/tests/warehouse.rs checks.
    let dimensions = analytics_model::file_dimensions();
    assert!(analytics_model::FILE_DIMENSIONS.iter().all(|name| dimensions.iter().any(|d| d.name == *name)));
    for view in analytics_model::rollup_views(&dimensions) {
        let (_, prefix) = views.iter().find(|(name, _)| *name == view.name).expect("a view of the files");
        let file = migration(prefix);
        assert!(
            file.contains(&format!("AS {};", normalized(&view.select))),
            "sql/{prefix}*.sql does not select what the model derives (migrate would create it again):\n{file}\n{}",
            normalized(&view.select)
        );
    }
    for column in analytics_model::rollup_columns(&dimensions) {
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
