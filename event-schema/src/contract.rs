//! The machine-readable contracts, generated from the Rust types and committed under `event-schema/contracts/`
//! so that code in other languages (the snippet's tests, the chDB tests, the docs) reads them instead of
//! restating them:
//!
//! - `*.schema.json`: JSON Schema (draft 2020-12, by `schemars`) of each wire body.
//! - `*.columns.json`: the ordered `[name, ClickHouse type]` list of each stored row, traced from the row's
//!   serde shape (by `serde-reflection`); the tests of `sql/` compare the real tables with it.
//!
//! The test at the bottom regenerates every file and fails when one is stale; run
//! `UPDATE_CONTRACTS=1 cargo test -p event-schema contract` to rewrite them after changing a type.

use schemars::{JsonSchema, Schema};

use crate::{ErrorBody, RecordingChunk, StoredEvent, TrackRequest};

/// Where the generated files live, relative to the repository root.
pub const CONTRACTS_DIR: &str = "event-schema/contracts";

/// Every JSON Schema file: file name and schema.
pub fn json_schemas() -> Vec<(&'static str, Schema)> {
    vec![
        ("track-request.schema.json", schema_for::<TrackRequest>()),
        ("error-body.schema.json", schema_for::<ErrorBody>()),
        ("stored-event.schema.json", schema_for::<StoredEvent>()),
        ("recording-chunk.schema.json", schema_for::<RecordingChunk>()),
    ]
}

fn schema_for<T: JsonSchema>() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>()
}

/// The ClickHouse type of a stored field from its Rust type, before [`crate::stored::CLICKHOUSE_TYPE_OVERRIDES`].
pub fn clickhouse_type(rust: &str) -> Option<&'static str> {
    Some(match rust {
        "String" => "String",
        "u8" => "UInt8",
        "u16" => "UInt16",
        "u32" => "UInt32",
        "u64" => "UInt64",
        "i32" => "Int32",
        "i64" => "Int64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_reflection::{ContainerFormat, Format, Named, Tracer, TracerConfig};

    use super::*;
    use crate::stored::CLICKHOUSE_TYPE_OVERRIDES;

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts")
    }

    /// `[name, ClickHouse type]` of every field of `T`, in declaration order.
    fn columns<T: serde::de::DeserializeOwned>(overrides: &[(&str, &str)]) -> Vec<[String; 2]> {
        let mut tracer = Tracer::new(TracerConfig::default());
        let (format, _) = tracer.trace_simple_type::<T>().expect("traceable");
        let Format::TypeName(name) = format else { panic!("a stored row must be a named struct") };
        let registry = tracer.registry().expect("complete");
        let Some(ContainerFormat::Struct(fields)) = registry.get(&name) else { panic!("{name} is not a struct") };
        fields
            .iter()
            .map(|Named { name, value }| {
                let rust = match value {
                    Format::Str => "String",
                    Format::U8 => "u8",
                    Format::U16 => "u16",
                    Format::U32 => "u32",
                    Format::U64 => "u64",
                    Format::I32 => "i32",
                    Format::I64 => "i64",
                    other => panic!("{name}: {other:?} has no ClickHouse column type; add one to clickhouse_type"),
                };
                let overridden = overrides.iter().find(|(field, _)| field == name).map(|(_, ty)| *ty);
                let column = overridden.or_else(|| clickhouse_type(rust)).expect("mapped");
                [name.clone(), column.to_owned()]
            })
            .collect()
    }

    fn generated() -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = json_schemas()
            .into_iter()
            .map(|(name, schema)| (name.to_owned(), serde_json::to_string_pretty(&schema).expect("serializes") + "\n"))
            .collect();
        let page_visits = columns::<StoredEvent>(CLICKHOUSE_TYPE_OVERRIDES);
        files.push((
            "page_visits.columns.json".to_owned(),
            serde_json::to_string_pretty(&page_visits).expect("serializes") + "\n",
        ));
        let recording_chunks = columns::<RecordingChunk>(CLICKHOUSE_TYPE_OVERRIDES);
        files.push((
            "recording_chunks.columns.json".to_owned(),
            serde_json::to_string_pretty(&recording_chunks).expect("serializes") + "\n",
        ));
        files
    }

    #[test]
    fn the_committed_contracts_are_generated_from_the_types() {
        let update = std::env::var_os("UPDATE_CONTRACTS").is_some();
        let mut stale = Vec::new();
        for (name, text) in generated() {
            let path = dir().join(&name);
            if update {
                std::fs::create_dir_all(dir()).expect("create contracts dir");
                std::fs::write(&path, &text).expect("write contract");
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "{stale:?} in {CONTRACTS_DIR} differ from the Rust types; run UPDATE_CONTRACTS=1 cargo test -p event-schema contract"
        );
    }

    #[test]
    fn stored_event_columns_follow_the_field_order_and_types() {
        let columns = columns::<StoredEvent>(CLICKHOUSE_TYPE_OVERRIDES);
        assert_eq!(columns[0], ["event_id".to_owned(), "String".to_owned()]);
        assert!(columns.contains(&["timestamp".to_owned(), "DateTime('UTC')".to_owned()]));
        assert!(columns.contains(&["screen_width".to_owned(), "UInt16".to_owned()]));
    }
}
