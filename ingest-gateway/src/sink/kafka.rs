//! The real sink: an idempotent librdkafka producer, a short-lived cache of the cluster's topics, and
//! topic creation for `migrate`.
//!
//! The producer's local queue is bounded in records (`queue.buffering.max.messages`) and bytes
//! (`queue.buffering.max.kbytes`). A batch that would not fit is refused whole before any of it is
//! enqueued, so a full queue answers 503 instead of splitting a request into a delivered head and a
//! refused tail; the byte count for that check is kept here, because librdkafka does not expose its own.
//!
//! Topic existence comes from one all-topics metadata request per [`METADATA_TTL`], not one request per
//! topic name a client sends, so a flood of made-up topic names costs the broker nothing; the producer has
//! `allow.auto.create.topics=false` so looking a topic up never creates it. Produce requests read the cached
//! list without waiting on a lock; when it is stale, one request refreshes it while the others keep using
//! the previous list, so no request waits on a metadata round trip that another one already makes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use event_schema::produce::UNKNOWN_TOPIC_OR_PARTITION;
use event_schema::PartitionOffset;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, ClientContext, Statistics};
use tokio::sync::Mutex;

use super::{Sink, SinkError, SinkFuture, SinkRecord};
use crate::config::Config;

/// How long a topic list is trusted. Short, so a topic created by `migrate` is seen within a second.
pub const METADATA_TTL: Duration = Duration::from_secs(1);
/// Bound on one metadata request; past it the broker counts as unavailable.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Kafka's UNKNOWN_SERVER_ERROR, for local failures with no Kafka equivalent.
const UNKNOWN_SERVER_ERROR: i32 = -1;
/// Kafka's REQUEST_TIMED_OUT.
const REQUEST_TIMED_OUT: i32 = 7;

/// librdkafka's `message.max.bytes` bounds a whole produce request to the broker, framing included; this
/// much above the largest record leaves room for one record's framing.
const RECORD_FRAMING_BYTES: usize = 1024;

/// What a producer sent to the brokers, from librdkafka's statistics (`statistics.interval.ms`, the
/// KAFKA_STATISTICS_INTERVAL_MS setting): running totals of produce requests, records and request bytes,
/// logged at every interval and kept for readers. How a benchmark sees the batches a broker got from the
/// gateway beside those of a plain producer.
#[derive(Clone, Default)]
pub struct ProducerStatistics(Arc<Totals>);

#[derive(Default)]
struct Totals {
    produce_requests: AtomicI64,
    records: AtomicI64,
    request_bytes: AtomicU64,
}

impl ProducerStatistics {
    /// Produce requests, records and request bytes sent so far, as of the last interval.
    pub fn totals(&self) -> (i64, i64, u64) {
        let totals = &self.0;
        (
            totals.produce_requests.load(Ordering::Relaxed),
            totals.records.load(Ordering::Relaxed),
            totals.request_bytes.load(Ordering::Relaxed),
        )
    }
}

impl ClientContext for ProducerStatistics {
    fn stats(&self, statistics: Statistics) {
        let brokers = statistics.brokers.values();
        let produce_requests: i64 = brokers.clone().filter_map(|broker| broker.req.get("Produce")).sum();
        let request_bytes: u64 = brokers.map(|broker| broker.txbytes).sum();
        let totals = &self.0;
        totals.produce_requests.store(produce_requests, Ordering::Relaxed);
        totals.records.store(statistics.txmsgs, Ordering::Relaxed);
        totals.request_bytes.store(request_bytes, Ordering::Relaxed);
        tracing::info!(
            produce_requests_total = produce_requests,
            records_total = statistics.txmsgs,
            request_bytes_total = request_bytes,
            "producer statistics"
        );
    }
}

/// The producer settings the gateway and the benchmark's plain producer share (`broker_ceiling`).
pub fn producer_config(config: &Config) -> ClientConfig {
    let mut settings = ClientConfig::new();
    settings
        .set("bootstrap.servers", &config.kafka_brokers)
        .set("client.id", "ingest-gateway")
        .set("acks", "all")
        .set("enable.idempotence", config.kafka_enable_idempotence.to_string())
        // Java's and Redpanda's key hash, so a key lands on the same partition whoever produces it.
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", config.produce_timeout_ms.to_string())
        .set("queue.buffering.max.messages", config.queue_max_messages.to_string())
        .set("queue.buffering.max.kbytes", config.queue_max_kbytes.to_string())
        .set("message.max.bytes", (config.max_record_bytes + RECORD_FRAMING_BYTES).to_string())
        .set("linger.ms", config.linger_ms.to_string())
        .set("allow.auto.create.topics", "false");
    if config.kafka_statistics_interval_ms > 0 {
        settings.set("statistics.interval.ms", config.kafka_statistics_interval_ms.to_string());
    }
    settings
}

pub struct KafkaSink {
    producer: FutureProducer<ProducerStatistics>,
    /// The latest topic list; swapped whole, so readers hold the lock only to clone an `Arc`.
    topics: RwLock<Arc<TopicCache>>,
    /// Held by the one request refreshing `topics`.
    refreshing: Mutex<()>,
    queue_max_messages: usize,
    queue_max_bytes: usize,
    /// Key and value bytes of the records enqueued by this sink and not yet settled.
    queued_bytes: Arc<AtomicUsize>,
}

impl KafkaSink {
    /// Creates the producer; it connects lazily, so this succeeds without a reachable broker.
    pub fn new(config: &Config) -> Result<Self, KafkaError> {
        let producer = producer_config(config).create_with_context(ProducerStatistics::default())?;
        Ok(Self {
            producer,
            topics: RwLock::new(Arc::new(TopicCache::default())),
            refreshing: Mutex::new(()),
            queue_max_messages: usize::try_from(config.queue_max_messages).unwrap_or(usize::MAX),
            queue_max_bytes: usize::try_from(config.queue_max_kbytes).unwrap_or(usize::MAX).saturating_mul(1024),
            queued_bytes: Arc::default(),
        })
    }

    /// The cached topic list, refreshed first when older than [`METADATA_TTL`]. One caller refreshes; the
    /// others use the previous list meanwhile if it was a success, else wait for the refresh. A failed
    /// refresh is cached too, so while the broker is down requests fail fast instead of each waiting out
    /// [`METADATA_TIMEOUT`] in turn.
    async fn topics(&self) -> Result<Arc<TopicCache>, SinkError> {
        let cached = self.cached_topics();
        let cache = if cached.is_fresh(Instant::now()) {
            cached
        } else {
            let refreshing = match self.refreshing.try_lock() {
                Ok(refreshing) => refreshing,
                Err(_) if cached.fetched_at.is_some() && cached.names.is_ok() => return Ok(cached),
                Err(_) => self.refreshing.lock().await,
            };
            // Another request may have refreshed the list between the read above and taking the lock.
            let cached = self.cached_topics();
            let cache = if cached.is_fresh(Instant::now()) { cached } else { self.refresh_topics().await };
            drop(refreshing);
            cache
        };
        match &cache.names {
            Ok(_) => Ok(cache),
            Err(reason) => Err(SinkError::Unavailable(reason.clone())),
        }
    }

    fn cached_topics(&self) -> Arc<TopicCache> {
        // A poisoned lock still holds a whole list: it is only ever replaced, never edited in place.
        self.topics.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Fetches the topic list and publishes it; the caller holds `refreshing`.
    async fn refresh_topics(&self) -> Arc<TopicCache> {
        let producer = self.producer.clone();
        let names = tokio::task::spawn_blocking(move || {
            let metadata = producer.client().fetch_metadata(None, METADATA_TIMEOUT);
            metadata.map(|metadata| {
                let known = metadata.topics().iter().filter(|topic| topic.error().is_none());
                known.map(|topic| topic.name().to_owned()).collect::<HashSet<_>>()
            })
        })
        .await
        .map_err(|join| format!("metadata request did not finish: {join}"))
        .and_then(|fetched| fetched.map_err(|error| format!("metadata request failed: {error}")));
        let mut cache = TopicCache::default();
        cache.replace(names, Instant::now());
        let cache = Arc::new(cache);
        *self.topics.write().unwrap_or_else(std::sync::PoisonError::into_inner) = cache.clone();
        cache
    }

    async fn deliver(&self, topic: &str, records: &[SinkRecord]) -> Result<Vec<PartitionOffset>, SinkError> {
        // Refusing a batch that cannot fit keeps a full queue from splitting it into a delivered head and a
        // refused tail; a concurrent request can still fill the queue midway, handled below.
        let queued = usize::try_from(self.producer.in_flight_count()).unwrap_or(0);
        let batch_bytes: usize = records.iter().map(SinkRecord::size).sum();
        let queued_bytes = self.queued_bytes.load(Ordering::Relaxed);
        if queued.saturating_add(records.len()) > self.queue_max_messages
            || queued_bytes.saturating_add(batch_bytes) > self.queue_max_bytes
        {
            return Err(SinkError::QueueFull { enqueued: 0 });
        }

        let mut pending = Vec::with_capacity(records.len());
        let mut queue_full = false;
        for record in records {
            let mut out = FutureRecord::<[u8], [u8]>::to(topic);
            if let Some(key) = &record.key {
                out = out.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                out = out.payload(value.as_slice());
            }
            if let Some(partition) = record.partition {
                out = out.partition(partition);
            }
            match self.producer.send_result(out) {
                Ok(delivery) => {
                    let queued = QueuedBytes::add(&self.queued_bytes, record.size());
                    pending.push(Pending::Enqueued(delivery, record.partition, queued));
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    queue_full = true;
                    break;
                }
                Err((error, _)) => {
                    tracing::debug!(%topic, %error, "record refused by the local producer");
                    pending.push(Pending::Refused(PartitionOffset::failed(
                        record.partition.unwrap_or(0),
                        kafka_error_code(&error),
                    )));
                }
            }
        }

        let enqueued = pending.iter().filter(|p| matches!(p, Pending::Enqueued(..))).count();
        let mut offsets = Vec::with_capacity(pending.len());
        for outcome in pending {
            offsets.push(match outcome {
                Pending::Refused(failed) => failed,
                Pending::Enqueued(delivery, requested, _queued) => settle(topic, delivery, requested).await,
            });
        }
        if queue_full {
            return Err(SinkError::QueueFull { enqueued });
        }
        Ok(offsets)
    }
}

enum Pending {
    /// The record is in librdkafka's queue until its delivery settles (or the request is abandoned).
    Enqueued(DeliveryFuture, Option<i32>, QueuedBytes),
    Refused(PartitionOffset),
}

/// A record's bytes in [`KafkaSink::queued_bytes`], taken out again when dropped, however the request ends.
struct QueuedBytes {
    counter: Arc<AtomicUsize>,
    bytes: usize,
}

impl QueuedBytes {
    fn add(counter: &Arc<AtomicUsize>, bytes: usize) -> Self {
        counter.fetch_add(bytes, Ordering::Relaxed);
        Self { counter: counter.clone(), bytes }
    }
}

impl Drop for QueuedBytes {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

async fn settle(topic: &str, delivery: DeliveryFuture, requested: Option<i32>) -> PartitionOffset {
    match delivery.await {
        Ok(Ok(delivered)) => PartitionOffset::ok(delivered.partition, delivered.offset),
        Ok(Err((error, message))) => {
            tracing::debug!(%topic, partition = message.partition(), %error, "record delivery failed");
            // librdkafka reports partition -1 when it failed before choosing one; the proxy reports such
            // records on the partition they were meant for, or 0.
            let partition = if message.partition() >= 0 { message.partition() } else { requested.unwrap_or(0) };
            PartitionOffset::failed(partition, kafka_error_code(&error))
        }
        Err(_canceled) => {
            tracing::debug!(%topic, "producer dropped a record before reporting its delivery");
            PartitionOffset::failed(requested.unwrap_or(0), UNKNOWN_SERVER_ERROR)
        }
    }
}

/// The Kafka protocol error code to report for a produce failure. librdkafka's local errors (negative
/// codes) are not part of the proxy contract, so they map to their nearest Kafka code.
pub fn kafka_error_code(error: &KafkaError) -> i32 {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownPartition | RDKafkaErrorCode::UnknownTopic) => UNKNOWN_TOPIC_OR_PARTITION,
        Some(
            RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::TimedOutQueue,
        ) => REQUEST_TIMED_OUT,
        Some(code) if code as i32 > 0 => code as i32,
        _ => UNKNOWN_SERVER_ERROR,
    }
}

impl Sink for KafkaSink {
    fn topic_exists<'a>(&'a self, topic: &'a str) -> SinkFuture<'a, bool> {
        Box::pin(async move { Ok(self.topics().await?.contains(topic)) })
    }

    fn send_batch<'a>(&'a self, topic: &'a str, records: Vec<SinkRecord>) -> SinkFuture<'a, Vec<PartitionOffset>> {
        Box::pin(async move { self.deliver(topic, &records).await })
    }

    fn check(&self) -> SinkFuture<'_, ()> {
        Box::pin(async move { self.topics().await.map(drop) })
    }

    fn flush(&self, timeout: Duration) -> SinkFuture<'_, ()> {
        Box::pin(async move {
            let producer = self.producer.clone();
            tokio::task::spawn_blocking(move || producer.flush(timeout))
                .await
                .map_err(|join| SinkError::Unavailable(format!("flush did not finish: {join}")))?
                .map_err(|error| SinkError::Unavailable(format!("flush incomplete: {error}")))
        })
    }
}

/// The cluster's topic names, or why they could not be read, as of `fetched_at`.
#[derive(Debug)]
struct TopicCache {
    names: Result<HashSet<String>, String>,
    fetched_at: Option<Instant>,
}

impl Default for TopicCache {
    fn default() -> Self {
        Self { names: Ok(HashSet::new()), fetched_at: None }
    }
}

impl TopicCache {
    fn is_fresh(&self, now: Instant) -> bool {
        self.fetched_at.is_some_and(|at| now.saturating_duration_since(at) < METADATA_TTL)
    }

    fn replace(&mut self, names: Result<HashSet<String>, String>, now: Instant) {
        self.names = names;
        self.fetched_at = Some(now);
    }

    fn contains(&self, topic: &str) -> bool {
        self.names.as_ref().is_ok_and(|names| names.contains(topic))
    }
}

/// Whether [`create_topic`] made the topic or found it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCreation {
    Created,
    AlreadyExisted,
}

/// Creates `name` with replication factor 1 (a single-broker cluster); an existing topic is success and
/// keeps its partition count. [`crate::topics::create_product_topic`] with that layout.
pub async fn create_topic(
    brokers: &str,
    name: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<TopicCreation, KafkaError> {
    let layout = crate::topics::TopicLayout { partitions, replication_factor: 1 };
    crate::topics::create_product_topic(brokers, name, layout, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_list_is_trusted_only_within_its_ttl() {
        let start = Instant::now();
        let mut cache = TopicCache::default();
        assert!(!cache.is_fresh(start), "an empty cache must be fetched");
        cache.replace(Ok(HashSet::from(["page_visits".to_owned()])), start);
        assert!(cache.is_fresh(start + METADATA_TTL / 2));
        assert!(!cache.is_fresh(start + METADATA_TTL));
        assert!(cache.contains("page_visits"));
        assert!(!cache.contains("nope"));

        cache.replace(Err("metadata request failed".to_owned()), start + METADATA_TTL);
        assert!(cache.is_fresh(start + METADATA_TTL), "a failure is remembered as long as a success");
        assert!(!cache.contains("page_visits"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_lookups_without_a_broker_share_one_metadata_request_and_later_ones_fail_fast() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            config: Config,
        }
        // Port 1 refuses connections: every metadata request fails, after METADATA_TIMEOUT at the latest.
        let config = <Flags as clap::Parser>::parse_from(["test", "--kafka-brokers", "127.0.0.1:1"]).config;
        let sink = Arc::new(KafkaSink::new(&config).expect("producer"));
        let started = Instant::now();
        let lookups: Vec<_> = (0..16)
            .map(|_| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.topic_exists("page_visits").await.is_err() })
            })
            .collect();
        for lookup in lookups {
            assert!(lookup.await.expect("lookup task"), "a lookup without a broker must fail");
        }
        let shared = started.elapsed();
        assert!(shared < METADATA_TIMEOUT * 2, "16 lookups took {shared:?}: they did not share one request");

        let again = Instant::now();
        assert!(sink.topic_exists("page_visits").await.is_err());
        assert!(again.elapsed() < METADATA_TTL / 2, "the failure was not remembered: {:?}", again.elapsed());
    }

    #[test]
    fn local_librdkafka_errors_map_to_kafka_codes() {
        let code = |c| kafka_error_code(&KafkaError::MessageProduction(c));
        assert_eq!(code(RDKafkaErrorCode::UnknownPartition), 3);
        assert_eq!(code(RDKafkaErrorCode::MessageTimedOut), 7);
        assert_eq!(code(RDKafkaErrorCode::NotEnoughReplicas), 19);
        assert_eq!(code(RDKafkaErrorCode::AllBrokersDown), -1);
    }
}
