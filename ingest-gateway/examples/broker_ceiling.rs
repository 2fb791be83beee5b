//! The broker's ceiling, the reference for the gateway's figures in `scripts/bench.sh`: a plain librdkafka
//! producer, no HTTP in front, writing the records of a produce request body (the file the gateway
//! benchmark posts) to the broker for a fixed time. `--concurrency` writers each enqueue the whole batch and
//! wait for its acknowledgements before the next, which is what the gateway does per request, minus HTTP
//! and parsing (a producer enqueuing without pause overfills the queue until records time out, and fed
//! at a trickle tansu writes smaller batches and is slower). Prints
//! `records_per_s=... delivered=... failed=... elapsed_s=...`.
//!
//! The producer is configured by the gateway's own settings and code (`sink::kafka::producer_config`: acks=all,
//! `linger.ms`, queue bounds, `message.timeout.ms`), and the records are exactly the bytes the gateway would
//! write for that body (`produce::parse_records`), so the ratio gateway/ceiling is the cost of the HTTP hop
//! and of waiting for each request's acks. With KAFKA_STATISTICS_INTERVAL_MS set, it also prints what the
//! brokers got (`produce_requests`, `sent_records`, `request_bytes`), as the gateway logs it.
//!
//!   cargo run --release -p ingest-gateway --example broker_ceiling -- --kafka-brokers 127.0.0.1:27092 \
//!     --body produce-100.json --duration-s 10

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use ingest_gateway::config::Config;
use ingest_gateway::produce::parse_records;
use ingest_gateway::sink::kafka::{producer_config, ProducerStatistics};
use ingest_gateway::sink::SinkRecord;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

#[derive(Parser)]
struct Args {
    /// The gateway's own settings, of which the producer's are used (brokers, topic, acks, `linger.ms`, queue
    /// bounds, `message.timeout.ms`, idempotence, statistics): `ingest_gateway::sink::kafka::producer_config`.
    #[command(flatten)]
    config: Config,
    /// A JSON v2 produce request body (`{"records":[{"key":..,"value":..}]}`): one writer's batch.
    #[arg(long)]
    body: PathBuf,
    #[arg(long, default_value_t = 10)]
    duration_s: u64,
    /// Writers, each with one batch in flight (the gateway's counterpart: concurrent requests).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

#[derive(Default)]
struct Tally {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::OnceLock<String>,
}

/// One writer: the batch, enqueued whole, then every acknowledgement awaited, until the deadline.
async fn writer(
    producer: FutureProducer<ProducerStatistics>,
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

    args.config.validate()?;
    let statistics = ProducerStatistics::default();
    let producer: FutureProducer<ProducerStatistics> =
        producer_config(&args.config).set("client.id", "broker-ceiling").create_with_context(statistics.clone())?;
    // The first metadata round trip is not part of the figure.
    let probe = producer.clone();
    let topic = args.config.page_visits_topic.clone();
    tokio::task::spawn_blocking(move || probe.client().fetch_metadata(Some(&topic), Duration::from_secs(10))).await??;

    let tally = Arc::new(Tally::default());
    let (topic, batch): (Arc<str>, _) = (args.config.page_visits_topic.as_str().into(), Arc::new(records));
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
    // What the brokers got, once librdkafka's next statistics cover the whole run.
    let interval = args.config.kafka_statistics_interval_ms;
    if interval > 0 {
        tokio::time::sleep(Duration::from_millis(interval * 2)).await;
    }
    let (produce_requests, sent_records, request_bytes) = statistics.totals();
    println!(
        "records_per_s={:.0} delivered={delivered} failed={failed} elapsed_s={elapsed:.2} idempotence={} \
         concurrency={} batch={} produce_requests={produce_requests} sent_records={sent_records} \
         request_bytes={request_bytes}",
        delivered as f64 / elapsed,
        args.config.kafka_enable_idempotence,
        args.concurrency,
        batch.len()
    );
    if let Some(error) = tally.first_error.get() {
        eprintln!("first failure: {error}");
    }
    Ok(())
}
