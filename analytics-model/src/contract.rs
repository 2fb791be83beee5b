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
        Ratios::SQL.iter().map(|ratio| (ratio.name.to_owned(), json!(ratio))).collect();
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

#[cfg(test)]
mod docs {
    use crate::{filterable, DIMENSIONS, SCREEN_CLASS_SQL};

    /// The paragraph of README.md that starts with `start`, up to the next blank line.
    fn paragraph(start: &str) -> String {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
        let from = readme.find(start).unwrap_or_else(|| panic!("README.md has no paragraph starting {start:?}"));
        readme[from..].split("\n\n").next().unwrap_or_default().to_owned()
    }

    /// The `code` spans of a text.
    fn names(text: &str) -> Vec<&str> {
        text.split('`').skip(1).step_by(2).collect()
    }

    #[test]
    fn the_readme_lists_every_filter_and_breakdown_of_the_model() {
        let parameters = paragraph("Parameters: ");
        let filters = &parameters[parameters.find("equality filters").expect("the filters sentence")..];
        let mut listed: Vec<&str> = names(filters.split('.').next().unwrap_or_default());
        let mut model: Vec<&str> = filterable().map(|d| d.name).collect();
        listed.sort_unstable();
        model.sort_unstable();
        assert_eq!(listed, model, "README.md's equality filters");
        let breakdowns = paragraph("Breakdown properties: ");
        let list = breakdowns.split(". Filters").next().unwrap_or_default();
        let listed: Vec<&str> = names(list).into_iter().filter(|n| crate::dimension(n).is_some()).collect();
        let model: Vec<&str> = DIMENSIONS.iter().map(|d| d.name).collect();
        assert_eq!(listed, model, "README.md's breakdown properties, in the model's order");
        for breakpoint in ["576", "992", "1440"] {
            assert!(breakdowns.contains(breakpoint) && SCREEN_CLASS_SQL.contains(breakpoint), "{breakpoint}");
        }
    }
}
