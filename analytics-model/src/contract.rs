//! `analytics-model/contracts/dimensions.json`: the model as data, for code that is not Rust. The
//! dashboard's bundle takes its filters, labels and breakdowns from it; `grafana/generate.py` its variables,
//! filter clauses, metric expressions and visit subquery; the Python SQL tests fill the query templates with
//! its fragments exactly as [`crate::Template`] does.

use serde_json::{json, Value};

use crate::{
    fragments, Counts, OnVisits, Ratios, COUNTED_KINDS, DIMENSIONS, METRICS, REALTIME_WINDOW_S, SCREEN_CLASS_SQL,
};

/// Where the generated file lives, relative to the repository root.
pub const CONTRACT_PATH: &str = "analytics-model/contracts/dimensions.json";

/// The same model for people: every dimension and metric with its definition, generated like the contract.
pub const REFERENCE_PATH: &str = "analytics-model/contracts/reference.md";

/// The reference page (Markdown): the tables README.md points to instead of restating them.
pub fn reference_markdown() -> String {
    let yes = |flag: bool| if flag { "yes" } else { "" };
    let mut out = String::from(
        "# The reporting model\n\nGenerated from `analytics-model/src/lib.rs` by its tests \
         (`UPDATE_CONTRACTS=1 cargo test -p analytics-model`); do not edit. The stats API, `ingest-gateway \
         stats`, `ingest-gateway query visits-by-country`, the dashboard and Grafana all count by these \
         definitions.\n\n## Dimensions\n\nA dimension is a breakdown `property` of the API and, where filterable, an \
         equality filter parameter of the same name (an empty value is no filter).\n\n\
         | name | key | label | value | filter | a filter selects visits by | a breakdown counts |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for d in DIMENSIONS {
        let by = match (d.filterable, d.on_visits) {
            (false, _) => "",
            (true, OnVisits::FirstEvent) => "their first event",
            (true, OnVisits::AnyPageview) => "any of their page views",
            (true, OnVisits::Nothing) => "(no visits)",
        };
        let counts = match d.counts {
            Counts::Pageviews => "visitors, page views",
            Counts::CustomEvents => "custom events, their visitors, conversion rate",
            Counts::Visits => "visits, bounce rate, visit duration",
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | `{}` | {} | {by} | {counts} |\n",
            d.name,
            d.key(),
            d.label,
            d.event_sql,
            yes(d.filterable)
        ));
    }
    out.push_str("\n## Metrics\n\n| name | label | definition |\n|---|---|---|\n");
    for m in METRICS {
        out.push_str(&format!("| `{}` | {} | {}. |\n", m.name, m.label, m.definition));
    }
    for r in &Ratios::SQL {
        out.push_str(&format!("| `{}` | {} | {}. |\n", r.name, r.label, r.definition));
    }
    out.push_str(&format!(
        "\nEvent metrics count the kinds `{COUNTED_KINDS}`; a redelivered event is counted once everywhere. \
         Current visitors are those of the last {REALTIME_WINDOW_S} seconds.\n"
    ));
    out
}

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
                "panel": d.panel,
                "tab": d.tab,
                "visit_alias": d.visit_alias(),
                "event_filter": d.event_filter(),
                "visit_filter": d.visit_filter(),
                "paired": d.paired(),
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
    fn the_committed_contract_and_reference_are_the_generated_ones() {
        let json = serde_json::to_string_pretty(&contract()).expect("serializable") + "\n";
        for (file, generated) in [(CONTRACT_PATH, json), (REFERENCE_PATH, reference_markdown())] {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
            if std::env::var_os("UPDATE_CONTRACTS").is_some() {
                std::fs::create_dir_all(path.parent().expect("a directory")).expect("writable");
                std::fs::write(&path, &generated).expect("writable");
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(committed == generated, "{file} is stale: run UPDATE_CONTRACTS=1 cargo test -p analytics-model");
        }
    }
}

#[cfg(test)]
mod docs {
    use crate::DIMENSIONS;

    #[test]
    fn the_readme_points_to_the_reference_instead_of_restating_the_model() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
        assert!(readme.contains(super::REFERENCE_PATH), "README.md links the generated reference");
        // A list of the dimensions in the README would go stale with the next one added.
        let listed = DIMENSIONS.iter().filter(|d| readme.contains(&format!("`{}`", d.name))).count();
        assert!(listed < DIMENSIONS.len() / 2, "README.md names {listed} dimensions: point to the reference instead");
    }
}
