//! Where produced records go: the mechanism behind `POST /topics/{topic}`, with no HTTP in it.
//!
//! The handler owns the policy (auth, limits, parsing, the unknown-topic answer, grouping offsets by
//! partition); a [`Sink`] only knows topics and how to write records. [`kafka::KafkaSink`] is the real one;
//! `memory::MemorySink` stands in for it in tests and can simulate the broker's failures. The memory sink
//! is compiled only for tests (the `test-support` feature, which this crate's dev-dependency on itself
//! turns on), never into the release binary.

pub mod kafka;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use event_schema::PartitionOffset;

/// The boxed future every sink method returns, so that the router can hold an `Arc<dyn Sink>`.
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SinkError>> + Send + 'a>>;

/// One record as it will be written: key and value are the exact bytes, `None` is a Kafka null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Explicit partition; `None` lets the sink's partitioner decide from the key.
    pub partition: Option<i32>,
}

impl SinkRecord {
    /// Key plus value bytes: what the record weighs in the producer's queue and on the topic.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len)
    }
}

/// A failure of the whole batch. A failure of single records is not an error here: it is a
/// [`PartitionOffset::failed`] in the result, because the proxy contract reports it inside a 200.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The local producer queue cannot take the batch. Records enqueued before it filled up were still
    /// delivered (and awaited), so a client retry may duplicate them: delivery is at least once.
    #[error("the local produce queue is full ({enqueued} of the batch's records were enqueued before it filled up)")]
    QueueFull { enqueued: usize },
    /// The broker could not be reached (metadata request failed or flush did not finish in time).
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
}

pub trait Sink: Send + Sync {
    /// Whether the broker knows `topic`. Never creates it.
    fn topic_exists<'a>(&'a self, topic: &'a str) -> SinkFuture<'a, bool>;

    /// Writes `records` and resolves once the broker acknowledged (or definitively rejected) every one of
    /// them. The result has one entry per record, in input order: the partition and offset it was written
    /// at, or the partition it was meant for with a Kafka error code and offset -1.
    fn send_batch<'a>(&'a self, topic: &'a str, records: Vec<SinkRecord>) -> SinkFuture<'a, Vec<PartitionOffset>>;

    /// Succeeds when the broker's metadata can be read: the gateway's readiness.
    fn check(&self) -> SinkFuture<'_, ()>;

    /// Waits until every enqueued record was delivered or failed, for at most `timeout`.
    fn flush(&self, timeout: Duration) -> SinkFuture<'_, ()>;
}
