//! The wire contract of every hop, written down once.
//!
//! - [`track`]: what the browser snippet posts to the edge worker, and its validation.
//! - [`record`]: what the session recorder posts to `POST /record`, and its validation.
//! - [`stored`]: the rows the worker forwards (page-view events, recording chunks); each is also a ClickHouse row.
//! - [`contract`]: the machine-readable form of these types (JSON Schema, ClickHouse columns), committed
//!   under `event-schema/contracts/` for the other languages and checked against the types by a test.
//! - [`produce`]: the Redpanda HTTP Proxy produce API (JSON v2), spoken by the worker and served by the gateway.
//!
//! Everything here is plain data and pure functions, so it compiles for WASM and natively alike.

pub mod contract;
pub mod produce;
pub mod record;
pub mod stored;
pub mod track;

pub use produce::{PartitionOffset, ProduceRecord, ProduceRequest, ProduceResponse, ProxyError};
pub use record::{parse_chunk, ChunkEncoding, RecordLimits, ValidChunk};
pub use stored::{EventKind, RecordingChunk, StoredEvent, SCHEMA_VERSION};
pub use track::{
    parse_batch, ErrorBody, Limits, PageUrl, TrackError, TrackErrorKind, TrackEvent, TrackRequest, Utm, ValidBatch,
    ValidEvent,
};
