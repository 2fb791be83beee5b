//! Keeps the rollups in the shape the analytics model describes (`analytics_model::rollup_columns`,
//! `rollup_views`), after the migration files, on every `migrate`: a dimension added to the registry gets its
//! columns in `stats_hourly` (added to the end of the sorting key in the same `ALTER`), `stats_sessions` and
//! `stats_visit_rows`, and the four rollup views are created again with it. Adding a dimension is then its
//! registry entry, plus one migration if its value is not yet a column of `page_visits`.
//!
//! A view cannot be altered or renamed on 18.16, so the new one is created under the files' name with a
//! suffix of its SELECT's hash (`stats_hourly_mv_1a2b3c4d`) before the old one is dropped. Between the two,
//! an insert feeds both, which changes no number: every state of the rollups is one a second copy of an
//! event cannot move (sets of ids, min and max, `argMin` keyed per event; see sql/README.md). Rows written
//! before hold '' for the new dimension.
//!
//! Nothing is changed when the server already has every column and each view selects every column: a fresh
//! install, whose files create exactly this shape (a test holds them to the model), costs a few reads.

use std::collections::{BTreeMap, BTreeSet};

use analytics_model::{rollup_columns, rollup_views, Dimension};
use clickhouse::Client;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::variant::Rewriter;
use super::WarehouseError;

/// What the server has: each table's or view's column names, and each table's sorting key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Present {
    pub columns: BTreeMap<String, BTreeSet<String>>,
    pub sorting_keys: BTreeMap<String, String>,
}

/// The statements (as written for 18.16) that bring `present` to the shape of `dimensions`, in order.
pub fn statements(dimensions: &[Dimension], present: &Present, modern: bool) -> Vec<String> {
    let mut out = Vec::new();
    let wanted = rollup_columns(dimensions);
    let tables: BTreeSet<&str> = wanted.iter().map(|column| column.table).collect();
    for table in tables {
        let Some(have) = present.columns.get(table) else { continue };
        let missing: Vec<_> = wanted.iter().filter(|c| c.table == table && !have.contains(&c.name)).collect();
        if missing.is_empty() {
            continue;
        }
        let mut actions: Vec<String> = missing
            .iter()
            .map(|c| {
                let sql_type = if modern && c.low_cardinality && c.sql_type == "String" {
                    "LowCardinality(String)"
                } else {
                    c.sql_type.as_str()
                };
                // Current servers can make it idempotent; 18.16 cannot, so there it runs only when missing.
                let if_missing = if modern { "IF NOT EXISTS " } else { "" };
                format!("ADD COLUMN {if_missing}{} {sql_type}", c.name)
            })
            .collect();
        let new_keys: Vec<&str> = missing.iter().filter(|c| c.key).map(|c| c.name.as_str()).collect();
        if !new_keys.is_empty() {
            let key = present.sorting_keys.get(table).map_or("", String::as_str);
            actions.push(format!("MODIFY ORDER BY ({}, {})", key, new_keys.join(", ")));
        }
        out.push(format!("ALTER TABLE {table} {}", actions.join(", ")));
    }
    for view in rollup_views(dimensions) {
        let named = |name: &String| name == view.name || suffix_of(name, view.name).is_some();
        let existing: Vec<&String> = present.columns.keys().filter(|name| named(name)).collect();
        let current = existing.iter().any(|name| {
            let have = &present.columns[name.as_str()];
            view.columns.iter().all(|column| have.contains(column))
        });
        if current || !present.columns.contains_key(view.source) {
            continue;
        }
        let hash = hex::encode(Sha256::digest(view.select.as_bytes()));
        let name = format!("{}_{}", view.name, &hash[..8]);
        out.push(format!("CREATE MATERIALIZED VIEW IF NOT EXISTS {name} TO {} AS {}", view.table, view.select));
        out.extend(existing.iter().filter(|old| **old != &name).map(|old| format!("DROP TABLE IF EXISTS {old}")));
    }
    out
}

/// What a server in the shape of `dimensions` has: their rollup columns, the views under the files' names,
/// the views' sources, and the hourly rollup's sorting key.
pub fn shape_of(dimensions: &[Dimension]) -> Present {
    let mut present = Present::default();
    for column in rollup_columns(dimensions) {
        present.columns.entry(column.table.to_owned()).or_default().insert(column.name);
    }
    for view in rollup_views(dimensions) {
        present.columns.insert(view.name.to_owned(), view.columns.iter().cloned().collect());
        present.columns.entry(view.source.to_owned()).or_default().insert("site".to_owned());
    }
    present.sorting_keys.insert("stats_hourly".to_owned(), analytics_model::hourly_key(dimensions).join(", "));
    present
}

/// The statements that bring a new database, once the files ran (the shape of the dimensions they were
/// written for, [`analytics_model::file_dimensions`]), to the model's shape.
pub fn statements_after_files(modern: bool) -> Vec<String> {
    statements(analytics_model::DIMENSIONS, &shape_of(&analytics_model::file_dimensions()), modern)
}

/// What the bookkeeping of errors calls these statements (they come from no file).
const SOURCE: &str = "the analytics model's rollups";

/// `statements` in the form `rewriter` writes for its server (which has read every migration file), each with
/// the statements generated before and after it, in order.
pub fn in_form(rewriter: &mut Rewriter, statements: &[String]) -> Result<Vec<String>, WarehouseError> {
    let mut out = Vec::new();
    for statement in statements {
        let variant = rewriter
            .rewrite(statement)
            .map_err(|source| WarehouseError::Variant { file: SOURCE.to_owned(), source })?;
        out.extend(variant.before.into_iter().chain([variant.statement]).chain(variant.after));
    }
    Ok(out)
}

/// `name` is `base` followed by `_` and eight hex digits.
fn suffix_of<'a>(name: &'a str, base: &str) -> Option<&'a str> {
    let suffix = name.strip_prefix(base)?.strip_prefix('_')?;
    (suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit())).then_some(suffix)
}

#[derive(clickhouse::Row, Deserialize)]
struct ColumnRow {
    table: String,
    name: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct KeyRow {
    name: String,
    sorting_key: String,
}

/// Reads what the server has of the rollups and their sources, and runs [`statements`] in the form
/// `rewriter` writes for the server (which has read every migration file). Returns what it ran.
pub async fn keep(
    client: &Client,
    rewriter: &mut Rewriter,
    dimensions: &[Dimension],
) -> Result<Vec<String>, WarehouseError> {
    let mut present = Present::default();
    // The plain names: the tables themselves on one server, the Distributed tables on a cluster (which
    // carry the same columns); the sorting key is the local table's there.
    let rows: Vec<ColumnRow> = client
        .query(
            "SELECT table, name FROM system.columns WHERE database = currentDatabase() \
             AND (table IN ('stats_hourly', 'stats_sessions', 'stats_visit_rows', 'page_visits', 'page_visits_queue') \
             OR match(table, '^stats_[a-z_]+_mv(_[0-9a-f]{8}){0,1}$'))",
        )
        .fetch_all()
        .await?;
    for row in rows {
        present.columns.entry(row.table).or_default().insert(row.name);
    }
    let keys: Vec<KeyRow> = client
        .query(
            "SELECT name, sorting_key FROM system.tables WHERE database = currentDatabase() \
             AND name IN ('stats_hourly', 'stats_hourly_local') AND sorting_key != ''",
        )
        .fetch_all()
        .await?;
    for row in keys {
        present.sorting_keys.insert(row.name.trim_end_matches("_local").to_owned(), row.sorting_key);
    }
    let modern = rewriter.target().modern;
    let ran = in_form(rewriter, &statements(dimensions, &present, modern))?;
    for sql in &ran {
        client
            .query_raw(sql)
            .execute()
            .await
            .map_err(|source| WarehouseError::Statement { file: SOURCE.to_owned(), source })?;
        tracing::info!(statement = %sql, "rollup brought to the analytics model");
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytics_model::DIMENSIONS;

    /// A dimension no registry entry reads yet: the visitor's time zone (a stored column).
    fn timezone() -> Dimension {
        assert!(analytics_model::dimension("timezone").is_none(), "pick a column no dimension reads");
        Dimension {
            name: "timezone",
            label: "Time zone",
            column: "timezone",
            event_sql: "timezone",
            low_cardinality: true,
            panel: "locations",
            tab: "Time zones",
            ..*analytics_model::dimension("country").expect("known")
        }
    }

    #[test]
    fn a_server_in_the_shape_of_the_model_needs_nothing() {
        assert_eq!(statements(DIMENSIONS, &shape_of(DIMENSIONS), false), Vec::<String>::new());
    }

    #[test]
    fn a_new_dimension_adds_its_columns_and_creates_the_views_again() {
        let with_timezone: Vec<Dimension> = DIMENSIONS.iter().copied().chain([timezone()]).collect();
        let ran = statements(&with_timezone, &shape_of(DIMENSIONS), false);
        assert!(
            ran[0].starts_with(
                "ALTER TABLE stats_hourly ADD COLUMN timezone String, MODIFY ORDER BY (site, hour, kind, pathname,"
            ),
            "{}",
            ran[0]
        );
        assert!(ran[0].ends_with(", event_name, timezone)"), "{}", ran[0]);
        assert_eq!(
            ran[1],
            "ALTER TABLE stats_sessions ADD COLUMN timezone AggregateFunction(argMin, String, Tuple(UInt64, String))"
        );
        assert_eq!(ran[2], "ALTER TABLE stats_visit_rows ADD COLUMN visit_timezone String");
        let creates: Vec<&String> = ran.iter().filter(|s| s.starts_with("CREATE MATERIALIZED VIEW")).collect();
        let drops: Vec<&String> = ran.iter().filter(|s| s.starts_with("DROP TABLE")).collect();
        assert_eq!((creates.len(), drops.len()), (4, 4));
        assert!(creates[0].starts_with("CREATE MATERIALIZED VIEW IF NOT EXISTS stats_hourly_mv_"), "{}", creates[0]);
        assert!(creates[0].contains(", timezone, uniqExactState(event_id)"), "{}", creates[0]);
        assert!(creates[2].contains("argMinState(timezone, (timestamp_ms, event_id)) AS timezone"), "{}", creates[2]);
        assert_eq!(drops[0], "DROP TABLE IF EXISTS stats_hourly_mv");
        let modern = statements(&with_timezone, &shape_of(DIMENSIONS), true);
        assert!(
            modern[0].starts_with("ALTER TABLE stats_hourly ADD COLUMN IF NOT EXISTS timezone LowCardinality(String)")
        );
        assert_eq!(
            modern[2],
            "ALTER TABLE stats_visit_rows ADD COLUMN IF NOT EXISTS visit_timezone LowCardinality(String)"
        );
        // Once done, nothing more: the suffixed views are the current ones.
        let mut after = shape_of(&with_timezone);
        for view in rollup_views(&with_timezone) {
            let columns = after.columns.remove(view.name).expect("listed");
            let created = creates.iter().find(|c| c.contains(&format!(" {}_", view.name))).expect("created");
            let name = created.split_whitespace().nth(6).expect("a name").to_owned();
            after.columns.insert(name, columns);
        }
        assert_eq!(statements(&with_timezone, &after, false), Vec::<String>::new());
    }

    #[test]
    fn on_a_cluster_the_local_table_gets_the_key_and_the_distributed_one_only_the_column() {
        let target = crate::Target {
            modern: true,
            cluster: Some("pathlight".into()),
            database: "pathlight".into(),
            events_retention_days: 0,
        };
        let vars = crate::SqlVars {
            kafka_brokers: "127.0.0.1:19092".into(),
            page_visits_topic: "page_visits".into(),
            session_recordings_topic: "session_recordings".into(),
            consumer_group: "clickhouse-page-visits".into(),
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
        let (_, mut rewriter) = crate::migrate::read_with_rewriter(&dir, &vars, &target).expect("sql/ reads");
        let with_timezone: Vec<Dimension> = DIMENSIONS.iter().copied().chain([timezone()]).collect();
        let planned = statements(&with_timezone, &shape_of(DIMENSIONS), true);
        let hourly = rewriter.rewrite(&planned[0]).expect("a cluster form");
        assert!(hourly.statement.starts_with(
            "ALTER TABLE stats_hourly_local ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS timezone LowCardinality(String), \
             MODIFY ORDER BY"
        ), "{}", hourly.statement);
        assert_eq!(
            hourly.after,
            ["ALTER TABLE stats_hourly ON CLUSTER pathlight ADD COLUMN IF NOT EXISTS timezone LowCardinality(String)"]
        );
        let view = planned.iter().find(|s| s.starts_with("CREATE MATERIALIZED VIEW")).expect("a view");
        let view = rewriter.rewrite(view).expect("a cluster form").statement;
        assert!(view.contains(" ON CLUSTER pathlight TO stats_hourly_local AS SELECT"), "{view}");
        assert!(view.contains(" FROM page_visits_local WHERE"), "{view}");
    }

    #[test]
    fn only_names_with_a_hash_suffix_are_taken_for_a_views_later_forms() {
        assert_eq!(suffix_of("stats_hourly_mv_0123abcd", "stats_hourly_mv"), Some("0123abcd"));
        assert_eq!(suffix_of("stats_hourly_mv", "stats_hourly_mv"), None);
        assert_eq!(suffix_of("stats_hourly_mv_extra", "stats_hourly_mv"), None);
    }
}
