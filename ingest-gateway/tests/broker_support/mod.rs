//! A real Kafka-API broker for one test: tansu with in-memory storage on a free port, killed when the test
//! ends, and a plain librdkafka reader of what landed on a topic.
//!
//! The broker binary is `$TANSU_BIN`, else `~/.cargo/bin/tansu` (installed by `scripts/install.sh`); a test
//! using it fails, saying so, when it is missing.

#![allow(dead_code)] // each test file uses its own part of this module

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub const DEADLINE: Duration = Duration::from_secs(30);

/// A tansu broker for one test, killed when dropped.
pub struct Broker {
    process: Child,
    address: SocketAddr,
}

impl Broker {
    pub fn start() -> Self {
        let binary = std::env::var_os("TANSU_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cargo/bin/tansu"));
        assert!(
            binary.is_file(),
            "the tansu broker is missing at {}: run scripts/install.sh or set TANSU_BIN",
            binary.display()
        );
        let address = free_address();
        let url = format!("tcp://{address}");
        let process = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let broker = Broker { process, address };
        wait_for("the broker to listen", || TcpStream::connect(address).is_ok());
        broker
    }

    pub fn brokers(&self) -> String {
        self.address.to_string()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

pub fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (partition, offset, key, value) as stored on the broker.
pub type Consumed = (i32, i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Reads `count` records from every partition of `topic`, from the beginning, sorted by partition and offset.
pub async fn consume(brokers: &str, topic: &str, partitions: i32, count: usize) -> Vec<Consumed> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("reader_{topic}"))
            .set("session.timeout.ms", "6000")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment.add_partition_offset(&topic, partition, Offset::Beginning).expect("partition");
        }
        // An explicit assignment needs no group join, so reading starts at once.
        consumer.assign(&assignment).expect("assign");
        let mut consumed = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        while consumed.len() < count {
            assert!(Instant::now() < deadline, "read {} of {count} records: {consumed:?}", consumed.len());
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.expect("consume");
                consumed.push((
                    message.partition(),
                    message.offset(),
                    message.key().map(<[u8]>::to_vec),
                    message.payload().map(<[u8]>::to_vec),
                ));
            }
        }
        consumed.sort_by_key(|(partition, offset, ..)| (*partition, *offset));
        consumed
    })
    .await
    .expect("consumer thread")
}

/// Everything on `topic` now: each partition read from the beginning until the broker reports its end
/// (librdkafka's partition EOF), so the count is exact without waiting for "no more" to arrive. (tansu's
/// ListOffsets answer can lag behind what a fetch returns, so watermarks would undercount.)
pub async fn consume_all(brokers: &str, topic: &str, partitions: i32) -> Vec<Consumed> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("reader_all_{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment.add_partition_offset(&topic, partition, Offset::Beginning).expect("partition");
        }
        consumer.assign(&assignment).expect("assign");
        let mut consumed = Vec::new();
        let mut at_end = vec![false; usize::try_from(partitions).expect("partitions")];
        let deadline = Instant::now() + DEADLINE;
        while !at_end.iter().all(|&end| end) {
            assert!(Instant::now() < deadline, "read {} records, partitions at their end: {at_end:?}", consumed.len());
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    at_end[usize::try_from(message.partition()).expect("partition")] = false;
                    consumed.push((
                        message.partition(),
                        message.offset(),
                        message.key().map(<[u8]>::to_vec),
                        message.payload().map(<[u8]>::to_vec),
                    ));
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    at_end[usize::try_from(partition).expect("partition")] = true;
                }
                Some(Err(error)) => panic!("consume: {error}"),
                None => {}
            }
        }
        consumed.sort_by_key(|(partition, offset, ..)| (*partition, *offset));
        consumed
    })
    .await
    .expect("consumer thread")
}
