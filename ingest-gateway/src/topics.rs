//! Which topics may be produced to, and what their records must look like.
//!
//! A Redpanda proxy lets any client write to any topic its Kafka principal may write to; the gateway sits
//! in front of the product's own topics only, so it keeps an allowlist, and refuses any other topic with
//! 403 `40301`, the answer Redpanda gives when its Kafka ACLs deny the topic (`topic_authorization_failed`
//! maps to `kafka_authorization_error`). An allowed topic that does not exist on the broker is answered as
//! Redpanda does: a 200 whose partition entry carries error code 3.
//!
//! A topic that a ClickHouse Kafka-engine table reads must only ever carry rows that table can parse:
//! ClickHouse 18.16 stops consuming a topic for good at the first record it cannot parse. So such a topic
//! is registered with its row type ([`TopicPolicy::with_row_type`]), and every record written to it must
//! deserialize as that type, or the whole request is refused with 422 `42202` naming the record.
//!
//! `migrate` creates the product's topics here with their layout: partitions bound how many consumers
//! share a topic (ClickHouse replicas included, see docs/CLUSTER.md), the replication factor how many
//! brokers hold each partition.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;
use serde::de::DeserializeOwned;

use crate::refusal::Refusal;
use crate::sink::kafka::TopicCreation;
use crate::sink::SinkRecord;

/// How a topic `migrate` creates is laid out (TOPIC_PARTITIONS, TOPIC_REPLICATION_FACTOR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLayout {
    /// Kafka CreateTopics `num_partitions`: the most consumers of one group that can read at once.
    pub partitions: i32,
    /// Kafka CreateTopics `replication_factor`: brokers holding each partition, at most the brokers there are.
    pub replication_factor: i32,
}

/// Creates `name` with `layout`; an existing topic is success and keeps its own layout (partitions can only
/// be added by the broker's tools, and adding them moves keys between partitions).
pub async fn create_product_topic(
    brokers: &str,
    name: &str,
    layout: TopicLayout,
    timeout: Duration,
) -> Result<TopicCreation, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let topic = NewTopic::new(name, layout.partitions, TopicReplication::Fixed(layout.replication_factor));
    let options = AdminOptions::new().request_timeout(Some(timeout)).operation_timeout(Some(timeout));
    match admin.create_topics([&topic], &options).await?.into_iter().next() {
        Some(Ok(_)) => Ok(TopicCreation::Created),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(TopicCreation::AlreadyExisted),
        Some(Err((_, code))) => Err(KafkaError::AdminOp(code)),
        None => Err(KafkaError::AdminOpCreation(format!("the broker answered nothing about topic {name}"))),
    }
}

/// Checks one record value; the error says why it is not a row.
type RowCheck = fn(&[u8]) -> Result<(), String>;

#[derive(Debug, Clone, Default)]
pub struct TopicPolicy {
    /// `None`: every topic is allowed.
    allowed: Option<HashSet<String>>,
    rows: HashMap<String, RowCheck>,
}

impl TopicPolicy {
    /// Every topic may be produced to, with any records: what a plain Redpanda proxy does.
    pub fn any_topic() -> Self {
        Self::default()
    }

    /// Only these topics may be produced to.
    pub fn allow_only<T: Into<String>>(topics: impl IntoIterator<Item = T>) -> Self {
        Self { allowed: Some(topics.into_iter().map(Into::into).collect()), rows: HashMap::new() }
    }

    /// Every record value written to `topic` must deserialize as `Row` (JSON).
    pub fn with_row_type<Row: DeserializeOwned>(mut self, topic: &str) -> Self {
        self.rows.insert(topic.to_owned(), check_row::<Row>);
        self
    }

    pub fn is_allowed(&self, topic: &str) -> bool {
        self.allowed.as_ref().is_none_or(|allowed| allowed.contains(topic))
    }

    /// The allowed topics, sorted; `None` when every topic is allowed.
    pub fn allowed_topics(&self) -> Option<Vec<&str>> {
        let mut topics: Vec<_> = self.allowed.as_ref()?.iter().map(String::as_str).collect();
        topics.sort_unstable();
        Some(topics)
    }

    /// Refuses the batch at its first record that is not a row of `topic`'s registered type.
    pub fn check_records(&self, topic: &str, records: &[SinkRecord]) -> Result<(), Refusal> {
        let Some(check) = self.rows.get(topic) else { return Ok(()) };
        for (index, record) in records.iter().enumerate() {
            let value = record.value.as_deref().unwrap_or(b"null");
            if let Err(reason) = check(value) {
                return Err(Refusal::InvalidRow { index, topic: topic.to_owned(), reason });
            }
        }
        Ok(())
    }
}

fn check_row<Row: DeserializeOwned>(value: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<Row>(value).map(drop).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Row {
        id: u32,
    }

    fn value(json: &str) -> SinkRecord {
        SinkRecord { key: None, value: Some(json.as_bytes().to_vec()), partition: None }
    }

    #[test]
    fn only_allowed_topics_are_allowed() {
        let policy = TopicPolicy::allow_only(["page_visits", "session_recordings"]);
        assert!(policy.is_allowed("page_visits"));
        assert!(!policy.is_allowed("__consumer_offsets"));
        assert_eq!(policy.allowed_topics(), Some(vec!["page_visits", "session_recordings"]));
        assert!(TopicPolicy::any_topic().is_allowed("anything"));
    }

    #[test]
    fn records_of_a_registered_topic_must_be_its_rows() {
        let policy = TopicPolicy::any_topic().with_row_type::<Row>("rows");
        assert!(policy.check_records("rows", &[value(r#"{"id":1}"#), value(r#"{"id":2}"#)]).is_ok());
        let refused = policy.check_records("rows", &[value(r#"{"id":1}"#), value(r#"{"id":"x"}"#)]);
        let Err(Refusal::InvalidRow { index, topic, reason }) = refused else { panic!("refused: {refused:?}") };
        assert_eq!((index, topic.as_str()), (1, "rows"));
        assert!(reason.contains("invalid type"), "{reason}");
        let missing = SinkRecord { key: None, value: None, partition: None };
        assert!(policy.check_records("rows", &[missing]).is_err(), "a record without a value is no row");
        assert!(policy.check_records("other", &[value("not json")]).is_ok(), "other topics are not checked");
    }
}
