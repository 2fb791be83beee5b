//! `analytics-model/contracts/dimensions.json`: the model as data, for code that is not Rust. The
//! dashboard's bundle takes its filters, labels and breakdowns from it; `grafana/generate.py` its variables,
//! filter clauses, metric expressions and visit subquery; the Python SQL tests fill the query templates with
//! its fragments exactly as [`crate::Template`] does.

use serde_json::{json, Value};

use crate::{fragments, Ratios, DIMENSIONS, METRICS, REALTIME_WINDOW_S, SCREEN_CLASS_SQL};

/// Where the generated file lives, relative to the repository root.
pub const CONTRACT_PATH: &str = "analytics-model/contracts/dimensions.json";

/// The whole model as JSON.
pub fn contract() -> Value {
    let dimensions: Vec<Value> = DIMENSIONS
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "key": d.key(),
                "label": d.label,
                "scope": d.scope,
                "column": d.column,
                "event_sql": d.event_sql,
                "filterable": d.filterable,
                "low_cardinality": d.low_cardinality,
                "on_visits": d.on_visits,
                "counts": d.counts,
                "visit_alias": d.visit_alias(),
                "event_filter": d.event_filter(),
                "visit_filter": d.visit_filter(),
            })
        })
        .collect();
    let metrics: Vec<Value> = METRICS
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "label": m.label,
                "definition": m.definition,
                "raw": m.raw,
                "hourly": m.hourly,
                "visits": m.visits,
            })
        })
        .collect();
    let fragments: serde_json::Map<String, Value> =
        fragments().into_iter().map(|(name, sql)| (name, Value::String(sql))).collect();
    let ratios: serde_json::Map<String, Value> =
        Ratios::SQL.iter().map(|(name, sql)| ((*name).to_owned(), Value::String((*sql).to_owned()))).collect();
    json!({
        "comment": "Generated from analytics-model/src/lib.rs by its tests (UPDATE_CONTRACTS=1 cargo test -p analytics-model); do not edit.",
        "dimensions": dimensions,
        "metrics": metrics,
        "ratios": ratios,
        "fragments": fragments,
        "screen_class_sql": SCREEN_CLASS_SQL,
        "realtime_window_s": REALTIME_WINDOW_S,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_committed_contract_is_the_generated_one() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(CONTRACT_PATH);
        let generated = serde_json::to_string_pretty(&contract()).expect("serializable") + "\n";
        if std::env::var_os("UPDATE_CONTRACTS").is_some() {
            std::fs::create_dir_all(path.parent().expect("a directory")).expect("writable");
            std::fs::write(&path, &generated).expect("writable");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{CONTRACT_PATH} is stale: run UPDATE_CONTRACTS=1 cargo test -p analytics-model"
        );
    }
}
