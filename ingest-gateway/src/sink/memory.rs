//! An in-memory broker for router tests: topics with partitions and offsets, plus switches that simulate
//! what a real broker does to a producer (unknown topics, a full local queue, a failing partition, an
//! unreachable cluster, a broker slow to acknowledge), so every answer of the produce endpoint can be
//! driven without Kafka.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use event_schema::produce::UNKNOWN_TOPIC_OR_PARTITION;
use event_schema::PartitionOffset;

use super::{Sink, SinkError, SinkFuture, SinkRecord};

/// A record as stored on a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

pub struct MemorySink {
    state: Mutex<State>,
    /// While `true`, batches wait before being written, as if the broker had not acknowledged them yet.
    held: watch::Sender<bool>,
    waiting: AtomicUsize,
}

impl Default for MemorySink {
    fn default() -> Self {
        Self { state: Mutex::default(), held: watch::Sender::new(false), waiting: AtomicUsize::new(0) }
    }
}

#[derive(Default)]
struct State {
    /// Topic name -> partitions -> records; a record's offset is its index.
    topics: BTreeMap<String, Vec<Vec<StoredRecord>>>,
    failing_partitions: HashMap<(String, i32), i32>,
    queue_full: bool,
    unavailable: bool,
    flushes: usize,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_topic(self, name: &str, partitions: usize) -> Self {
        self.lock().topics.insert(name.to_owned(), vec![Vec::new(); partitions]);
        self
    }

    /// Every record written to `partition` of `topic` from now on fails with `error_code`.
    pub fn fail_partition(&self, topic: &str, partition: i32, error_code: i32) {
        self.lock().failing_partitions.insert((topic.to_owned(), partition), error_code);
    }

    /// While set, every batch is refused as if librdkafka's queue were full.
    pub fn set_queue_full(&self, full: bool) {
        self.lock().queue_full = full;
    }

    /// While set, metadata requests fail as if no broker could be reached.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// While set, every batch waits (unwritten) until it is cleared.
    pub fn set_held(&self, held: bool) {
        self.held.send_replace(held);
    }

    /// Batches waiting because the sink is held.
    pub fn waiting_batches(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Every record written to `topic`, over all partitions.
    pub fn record_count(&self, topic: &str) -> usize {
        self.lock().topics.get(topic).map_or(0, |partitions| partitions.iter().map(Vec::len).sum())
    }

    /// Every record written to any topic.
    pub fn total_records(&self) -> usize {
        self.lock().topics.values().flatten().map(Vec::len).sum()
    }

    pub fn records(&self, topic: &str, partition: usize) -> Vec<StoredRecord> {
        self.lock().topics.get(topic).and_then(|p| p.get(partition)).cloned().unwrap_or_default()
    }

    pub fn flushes(&self) -> usize {
        self.lock().flushes
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the assertions of the next one.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn reachable(&self) -> Result<(), SinkError> {
        if self.unavailable {
            return Err(SinkError::Unavailable("simulated: no broker reachable".to_owned()));
        }
        Ok(())
    }

    fn write(&mut self, topic: &str, record: SinkRecord) -> PartitionOffset {
        let failing = &self.failing_partitions;
        let Some(partitions) = self.topics.get_mut(topic) else {
            return PartitionOffset::failed(record.partition.unwrap_or(0), UNKNOWN_TOPIC_OR_PARTITION);
        };
        let partition = record.partition.unwrap_or_else(|| partition_for(record.key.as_deref(), partitions.len()));
        if let Some(&code) = failing.get(&(topic.to_owned(), partition)) {
            return PartitionOffset::failed(partition, code);
        }
        let Some(log) = usize::try_from(partition).ok().and_then(|p| partitions.get_mut(p)) else {
            return PartitionOffset::failed(partition, UNKNOWN_TOPIC_OR_PARTITION);
        };
        log.push(StoredRecord { key: record.key, value: record.value });
        PartitionOffset::ok(partition, offset_of_last(log))
    }
}

/// One batch counted as waiting until it stops waiting, released or abandoned.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A stable stand-in for murmur2: tests that care about placement name the partition explicitly.
fn partition_for(key: Option<&[u8]>, partitions: usize) -> i32 {
    let Some(key) = key else { return 0 };
    let hash = key.iter().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193));
    i32::try_from(hash as usize % partitions.max(1)).unwrap_or(0)
}

fn offset_of_last(log: &[StoredRecord]) -> i64 {
    i64::try_from(log.len()).map_or(i64::MAX, |len| len - 1)
}

impl Sink for MemorySink {
    fn topic_exists<'a>(&'a self, topic: &'a str) -> SinkFuture<'a, bool> {
        Box::pin(async move {
            let state = self.lock();
            state.reachable()?;
            Ok(state.topics.contains_key(topic))
        })
    }

    fn send_batch<'a>(&'a self, topic: &'a str, records: Vec<SinkRecord>) -> SinkFuture<'a, Vec<PartitionOffset>> {
        Box::pin(async move {
            let waiting = Waiting::count(&self.waiting);
            let mut held = self.held.subscribe();
            let released = held.wait_for(|held| !held).await.map(drop);
            drop(waiting);
            released.map_err(|_| SinkError::Unavailable("the memory sink was dropped".to_owned()))?;
            let mut state = self.lock();
            state.reachable()?;
            if state.queue_full {
                return Err(SinkError::QueueFull { enqueued: 0 });
            }
            Ok(records.into_iter().map(|record| state.write(topic, record)).collect())
        })
    }

    fn check(&self) -> SinkFuture<'_, ()> {
        Box::pin(async move { self.lock().reachable() })
    }

    fn flush(&self, _timeout: Duration) -> SinkFuture<'_, ()> {
        Box::pin(async move {
            self.lock().flushes += 1;
            Ok(())
        })
    }
}
