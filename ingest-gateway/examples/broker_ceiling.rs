//! The broker's ceiling, the reference for the gateway's figures in `scripts/bench.sh`: a plain librdkafka
//! producer, no HTTP in front, writing the records of a produce request body (the file the gateway
//! benchmark posts) to the broker for a fixed time. `--concurrency` writers each enqueue the whole batch and
//! wait for its acknowledgements before the next, which is what the gateway does per request, minus HTTP
//! and parsing (a producer enqueuing without pause overfills the queue until records time out, and fed
//! at a trickle tansu writes smaller batches and is slower). Prints
//! `records_per_s=... delivered=... failed=... elapsed_s=...`.
//!
//! The producer has the gateway's settings (acks=all, `linger.ms`, queue bounds, `message.timeout.ms`), and
//! the records are exactly the bytes the gateway would write for that body (`produce::parse_records`), so
//! the ratio gateway/ceiling is the cost of the HTTP hop and of waiting for each request's acks.
//!
//!   cargo run --release -p ingest-gateway --example broker_ceiling -- --brokers 127.0.0.1:27092 \
//!     --topic page_visits --body produce-100.json --duration-s 10

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use ingest_gateway::produce::parse_records;
use ingest_gateway::sink::SinkRecord;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;

#[derive(Parser)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: String,
    #[arg(long, default_value = "page_visits")]
    topic: String,
    /// A JSON v2 produce request body (`{"records":[{"key":..,"value":..}]}`): one writer's batch.
    #[arg(long)]
    body: PathBuf,
    #[arg(long, default_value_t = 10)]
    duration_s: u64,
    /// Writers, each with one batch in flight (the gateway's counterpart: concurrent requests).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// librdkafka `enable.idempotence`. Same meaning as the gateway's KAFKA_ENABLE_IDEMPOTENCE; the local
    /// stack turns it off for tansu 0.6.0 (see ingest-gateway/README.md).
    #[arg(long, env = "KAFKA_ENABLE_IDEMPOTENCE", default_value_t = true, action = clap::ArgAction::Set)]
    idempotence: bool,
    /// The gateway's defaults from here on (ingest-gateway/src/config.rs).
    #[arg(long, env = "LINGER_MS", default_value_t = 5)]
    linger_ms: u64,
    #[arg(long, env = "QUEUE_MAX_MESSAGES", default_value_t = 100_000)]
    queue_max_messages: u32,
    #[arg(long, env = "QUEUE_MAX_KBYTES", default_value_t = 65_536)]
    queue_max_kbytes: u32,
    #[arg(long, env = "PRODUCE_TIMEOUT_MS", default_value_t = 10_000)]
    produce_timeout_ms: u64,
}

#[derive(Default)]
struct Tally {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::OnceLock<String>,
}

/// One writer: the batch, enqueued whole, then every acknowledgement awaited, until the deadline.
async fn writer(
    producer: FutureProducer,
    topic: Arc<str>,
    batch: Arc<Vec<SinkRecord>>,
    deadline: Instant,
    tally: Arc<Tally>,
) {
    while Instant::now() < deadline {
        let mut pending = Vec::with_capacity(batch.len());
        for record in batch.iter() {
            let mut out = FutureRecord::<[u8], [u8]>::to(&topic);
            if let Some(key) = &record.key {
                out = out.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                out = out.payload(value.as_slice());
            }
            match producer.send_result(out) {
                Ok(delivery) => pending.push(delivery),
                Err((error, _)) => {
                    tally.first_error.get_or_init(|| format!("enqueue: {error}"));
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => tally.delivered.fetch_add(1, Ordering::Relaxed),
                Ok(Err((error, _))) => {
                    tally.first_error.get_or_init(|| error.to_string());
                    tally.failed.fetch_add(1, Ordering::Relaxed)
                }
                Err(_canceled) => tally.failed.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body = std::fs::read(&args.body).with_context(|| format!("reading {}", args.body.display()))?;
    let records = parse_records(&body).map_err(|refusal| anyhow::anyhow!("{}: {refusal}", args.body.display()))?;
    if records.is_empty() {
        bail!("{} holds no records", args.body.display());
    }

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("client.id", "broker-ceiling")
        .set("acks", "all")
        .set("enable.idempotence", args.idempotence.to_string())
        .set("partitioner", "murmur2_random")
        .set("linger.ms", args.linger_ms.to_string())
        .set("queue.buffering.max.messages", args.queue_max_messages.to_string())
        .set("queue.buffering.max.kbytes", args.queue_max_kbytes.to_string())
        .set("message.timeout.ms", args.produce_timeout_ms.to_string())
        .create()?;
    // The first metadata round trip is not part of the figure.
    let probe = producer.clone();
    let topic = args.topic.clone();
    tokio::task::spawn_blocking(move || probe.client().fetch_metadata(Some(&topic), Duration::from_secs(10))).await??;

    let tally = Arc::new(Tally::default());
    let (topic, batch): (Arc<str>, _) = (args.topic.as_str().into(), Arc::new(records));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration_s);
    let writers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| tokio::spawn(writer(producer.clone(), topic.clone(), batch.clone(), deadline, tally.clone())))
        .collect();
    for writer in writers {
        writer.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (delivered, failed) = (tally.delivered.load(Ordering::Relaxed), tally.failed.load(Ordering::Relaxed));
    println!(
        "records_per_s={:.0} delivered={delivered} failed={failed} elapsed_s={elapsed:.2} idempotence={} \
         concurrency={} batch={}",
        delivered as f64 / elapsed,
        args.idempotence,
        args.concurrency,
        batch.len()
    );
    if let Some(error) = tally.first_error.get() {
        eprintln!("first failure: {error}");
    }
    Ok(())
}
