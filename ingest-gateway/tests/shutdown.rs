//! SIGTERM under load, against a real broker and the real program: clients keep producing while
//! `ingest-gateway serve` is told to stop. Every record the gateway acknowledged must be on the topic, and the
//! process must exit within its drain deadline (DRAIN_TIMEOUT_MS, then at most PRODUCE_TIMEOUT_MS of flush).
//! A request the gateway did not answer with 200 was not acknowledged: its client would retry it.
//!
//! Uses the tansu broker of `broker_support`; prints its counts.

mod broker_support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_support::{consume_all, free_address, wait_for, Broker, DEADLINE};
use event_schema::produce::CONTENT_TYPE_JSON_V2;
use event_schema::ProduceResponse;
use ingest_gateway::sink::kafka::create_topic;
use serde_json::{json, Value};

const CLIENTS: usize = 8;
const RECORDS_PER_REQUEST: usize = 20;
const DRAIN: Duration = Duration::from_secs(10);
const FLUSH: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Tally {
    sent_requests: AtomicUsize,
    sent_records: AtomicUsize,
    acknowledged: Mutex<Vec<String>>,
    not_acknowledged: AtomicUsize,
}

/// One client: produces batches of uniquely numbered records until the gateway stops answering.
async fn produce_until_refused(client: usize, url: String, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::new();
    for batch in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let ids: Vec<String> = (0..RECORDS_PER_REQUEST).map(|i| format!("c{client}-b{batch}-r{i}")).collect();
        let body = json!({"records": ids.iter().map(|id| json!({"value": {"id": id}})).collect::<Vec<_>>()});
        tally.sent_requests.fetch_add(1, Ordering::SeqCst);
        tally.sent_records.fetch_add(ids.len(), Ordering::SeqCst);
        let sent = http.post(&url).header("content-type", CONTENT_TYPE_JSON_V2).body(body.to_string()).send().await;
        let acknowledged = match sent {
            Ok(response) if response.status() == reqwest::StatusCode::OK => {
                let answer: ProduceResponse = response.json().await.expect("a produce response");
                let every_partition_written = answer.failures().next().is_none();
                every_partition_written
            }
            Ok(_) => false,
            // Connection refused or closed: the gateway is gone.
            Err(_) => {
                tally.not_acknowledged.fetch_add(ids.len(), Ordering::SeqCst);
                return;
            }
        };
        if acknowledged {
            tally.acknowledged.lock().expect("tally").extend(ids);
        } else {
            tally.not_acknowledged.fetch_add(ids.len(), Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_loses_no_acknowledged_record_and_exits_within_the_drain_deadline() {
    let broker = Broker::start();
    let topic = format!("test_{}", uuid::Uuid::new_v4().simple());
    create_topic(&broker.brokers(), &topic, 4, Duration::from_secs(10)).await.expect("create topic");
    let address = free_address();
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_ingest-gateway"))
        .arg("serve")
        .env_clear()
        .env("GATEWAY_LISTEN", address.to_string())
        .env("KAFKA_BROKERS", broker.brokers())
        .env("ALLOWED_TOPICS", &topic)
        .env("PRODUCE_TIMEOUT_MS", FLUSH.as_millis().to_string())
        .env("REQUEST_TIMEOUT_MS", "15000")
        .env("DRAIN_TIMEOUT_MS", DRAIN.as_millis().to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the gateway");
    let health = format!("http://{address}/healthz");
    wait_for("the gateway to listen", || std::net::TcpStream::connect(address).is_ok());
    assert!(reqwest::get(&health).await.is_ok_and(|r| r.status().is_success()), "the gateway is not alive");

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("http://{address}/topics/{topic}");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| tokio::spawn(produce_until_refused(client, url.clone(), tally.clone(), stop.clone())))
        .collect();
    let load_deadline = Instant::now() + DEADLINE;
    while tally.acknowledged.lock().expect("tally").len() < 2_000 {
        assert!(Instant::now() < load_deadline, "the gateway acknowledged too little before SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let acknowledged_before = tally.acknowledged.lock().expect("tally").len();
    let terminated = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &gateway.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let exit_deadline = terminated + DRAIN + FLUSH + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = gateway.try_wait().expect("wait for the gateway") {
            break status;
        }
        if Instant::now() > exit_deadline {
            let _ = gateway.kill();
            panic!("the gateway did not exit within {:?} of SIGTERM", exit_deadline - terminated);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exited_after = terminated.elapsed();
    // Clients stop on their own at their first refused connection; this is only a backstop.
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("client task");
    }
    assert!(status.success(), "the gateway exited with {status}");

    let acknowledged = std::mem::take(&mut *tally.acknowledged.lock().expect("tally"));
    let on_topic = consume_all(&broker.brokers(), &topic, 4).await;
    let mut copies: HashMap<String, usize> = HashMap::new();
    for (_, _, _, value) in &on_topic {
        let value: Value = serde_json::from_slice(value.as_deref().unwrap_or_default()).expect("a JSON record");
        *copies.entry(value["id"].as_str().expect("an id").to_owned()).or_default() += 1;
    }
    let found = acknowledged.iter().filter(|id| copies.contains_key(*id)).count();
    let duplicated = acknowledged.iter().filter(|id| copies.get(*id).is_some_and(|&n| n > 1)).count();
    println!(
        "sigterm under load: sent {} records in {} requests; acknowledged {} ({} before SIGTERM); not acknowledged {}; \
         on the topic {}; acknowledged and found {}; duplicated {}; exited {:?} after SIGTERM",
        tally.sent_records.load(Ordering::SeqCst),
        tally.sent_requests.load(Ordering::SeqCst),
        acknowledged.len(),
        acknowledged_before,
        tally.not_acknowledged.load(Ordering::SeqCst),
        on_topic.len(),
        found,
        duplicated,
        exited_after,
    );
    assert_eq!(found, acknowledged.len(), "acknowledged records missing from the topic");
    assert_eq!(duplicated, 0, "acknowledged records written twice");
}
