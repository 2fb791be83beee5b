//! The hand-off between accepting events and producing them: what `/track` (and every later event endpoint)
//! passes on, and the queue consumer's decisions.
//!
//! In `queue` mode an accepted batch becomes one or more Cloudflare Queues messages before the visitor gets
//! a 202, so an outage of the produce proxy, or an evicted isolate, costs time and never events. The
//! consumer produces a whole queue batch in one request per topic, with an explicit partition per record
//! (Kafka's own key hash), so it can read each message's fate from its partition's `error_code` and
//! acknowledge exactly the delivered ones. A message that keeps failing is retried with a delay that grows
//! with its age (plus jitter, so a recovering proxy is not hit by every isolate at once), and once it is
//! older than the configured limit it moves to the dead-letter queue, counted and logged.
//!
//! In `direct` mode the same [`Handoff`] is produced inside `waitUntil` with bounded retries (see `forward`).

use event_schema::{ProduceRecord, ProduceRequest, ProduceResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Cloudflare Queues refuses messages over 128 KB; stay clear of it, JSON overhead of the message included.
pub const MAX_MESSAGE_BYTES: usize = 120_000;

/// Records for one topic and one key, ready to produce: the body of one queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub topic: String,
    /// Record key: the session id, so a session's records stay in order on one partition.
    pub key: String,
    /// For logs and counters only.
    pub site: String,
    /// Record values: one stored row each.
    pub values: Vec<Value>,
}

impl Handoff {
    /// The produce request for this hand-off alone (direct mode), keyed, partition left to the proxy.
    pub fn produce_request(&self) -> ProduceRequest {
        ProduceRequest { records: self.records(None) }
    }

    fn records(&self, partition: Option<i32>) -> Vec<ProduceRecord> {
        self.values
            .iter()
            .map(|value| ProduceRecord { key: Some(Value::from(self.key.as_str())), value: value.clone(), partition })
            .collect()
    }

    /// Cuts this hand-off into pieces whose JSON fits `max_bytes`, keeping record order. A single record
    /// larger than that stays alone in its piece (and the queue will refuse it, which the caller reports).
    pub fn split(self, max_bytes: usize) -> Vec<Handoff> {
        let size = |h: &Handoff| serde_json::to_vec(h).map_or(usize::MAX, |v| v.len());
        if self.values.len() <= 1 || size(&self) <= max_bytes {
            return vec![self];
        }
        let mut right = self.clone();
        let left_values = right.values.drain(..self.values.len() / 2).collect();
        let left = Handoff { values: left_values, ..self };
        let mut pieces = left.split(max_bytes);
        pieces.extend(right.split(max_bytes));
        pieces
    }
}

/// Kafka's default partitioner for a keyed record: murmur2 (Kafka's seed) of the key bytes, sign bit
/// masked, modulo the partition count. The key bytes are the key's JSON text, as the produce proxies write it.
pub fn partition_for(key: &str, partitions: u32) -> i32 {
    let bytes = Value::from(key).to_string();
    let hash = murmur2::murmur2(bytes.as_bytes(), murmur2::KAFKA_SEED) & 0x7fff_ffff;
    // Both operands fit in i32: the hash is masked to 31 bits and partitions is at most i32::MAX.
    i32::try_from(hash % partitions.max(1)).unwrap_or(0)
}

/// One produce request covering several queue messages of one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicBatch {
    pub topic: String,
    pub request: ProduceRequest,
    /// For each message of this batch: its index in the queue batch and the partition its records went to.
    pub members: Vec<(usize, i32)>,
}

/// Groups the messages of a queue batch by topic, one produce request each, every record with an
/// explicit partition so that the answer's per-partition `error_code` tells each message's fate.
pub fn plan(messages: &[Handoff], partitions: u32) -> Vec<TopicBatch> {
    let mut batches: Vec<TopicBatch> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let partition = partition_for(&message.key, partitions);
        let position = match batches.iter().position(|b| b.topic == message.topic) {
            Some(position) => position,
            None => {
                batches.push(TopicBatch {
                    topic: message.topic.clone(),
                    request: ProduceRequest { records: Vec::new() },
                    members: Vec::new(),
                });
                batches.len() - 1
            }
        };
        let batch = &mut batches[position];
        batch.request.records.extend(message.records(Some(partition)));
        batch.members.push((index, partition));
    }
    batches
}

/// How long the consumer keeps retrying, and how it spaces the retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// First retry delay; later ones grow with the message's age.
    pub base_delay_s: u32,
    /// Upper bound of one delay (Cloudflare Queues allows at most 12 hours).
    pub max_delay_s: u32,
    /// A message older than this when it fails again goes to the dead-letter queue.
    pub max_age_s: u64,
}

/// What to do with one queue message after its produce attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    Retry { delay_s: u32 },
    DeadLetter,
}

/// Whether the message whose records went to `partition` was delivered. `response` is `None` when the
/// produce request failed as a whole (no usable answer), which fails every message of it.
pub fn delivered(response: Option<&ProduceResponse>, partition: i32) -> bool {
    let Some(response) = response else { return false };
    let mut entries = response.offsets.iter().filter(|o| o.partition == partition).peekable();
    entries.peek().is_some() && entries.all(|o| !o.is_error())
}

/// The fate of a message: delivered messages are acknowledged; the others are retried after a delay that
/// roughly doubles the message's age (so retries thin out during a long outage), scaled by `jitter` in
/// [0.5, 1.5), until the message is older than the policy allows.
pub fn settle(delivered: bool, age_ms: u64, policy: &RetryPolicy, jitter: f64) -> Settle {
    if delivered {
        return Settle::Ack;
    }
    let age_s = age_ms / 1000;
    if age_s >= policy.max_age_s {
        return Settle::DeadLetter;
    }
    let wanted = age_s.clamp(u64::from(policy.base_delay_s), u64::from(policy.max_delay_s)) as f64;
    let jittered = (wanted * jitter.clamp(0.5, 1.5)).round();
    let delay_s = (jittered as u64).clamp(1, u64::from(policy.max_delay_s.max(1)));
    Settle::Retry { delay_s: u32::try_from(delay_s).unwrap_or(u32::MAX) }
}

#[cfg(test)]
mod tests {
    use event_schema::PartitionOffset;
    use serde_json::json;

    use super::*;

    fn handoff(key: &str, topic: &str, values: usize) -> Handoff {
        Handoff {
            topic: topic.to_owned(),
            key: key.to_owned(),
            site: "demo".to_owned(),
            values: (0..values).map(|i| json!({"event_id": format!("{key}-{i}"), "pad": "x".repeat(100)})).collect(),
        }
    }

    #[test]
    fn partitions_follow_kafkas_murmur2_of_the_key_text() {
        // Kafka's own test vectors for murmur2 (UtilsTest), over the raw bytes.
        for (text, expected) in [("21", -973_932_308i32), ("foobar", -790_332_482), ("abc", 479_470_107)] {
            assert_eq!(murmur2::murmur2(text.as_bytes(), murmur2::KAFKA_SEED) as i32, expected, "{text}");
        }
        // The key is hashed as the proxy writes it: its JSON text, quotes included.
        let quoted = murmur2::murmur2(br#""Ab3dEf6hIj9kLm2n""#, murmur2::KAFKA_SEED) & 0x7fff_ffff;
        assert_eq!(partition_for("Ab3dEf6hIj9kLm2n", 4), (quoted % 4) as i32);
        for key in ["a", "session-1", "Ab3dEf6hIj9kLm2n"] {
            assert!((0..4).contains(&partition_for(key, 4)));
            assert_eq!(partition_for(key, 1), 0);
        }
    }

    #[test]
    fn a_queue_batch_becomes_one_request_per_topic_with_explicit_partitions() {
        let messages =
            [handoff("s1", "page_visits", 2), handoff("s2", "session_recordings", 1), handoff("s3", "page_visits", 1)];
        let batches = plan(&messages, 4);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].topic, "page_visits");
        assert_eq!(batches[0].request.records.len(), 3);
        assert_eq!(batches[0].members, vec![(0, partition_for("s1", 4)), (2, partition_for("s3", 4))]);
        assert_eq!(batches[1].members, vec![(1, partition_for("s2", 4))]);
        for record in &batches[0].request.records[..2] {
            assert_eq!((record.key.clone(), record.partition), (Some(json!("s1")), Some(partition_for("s1", 4))));
        }
    }

    #[test]
    fn a_message_is_delivered_only_when_its_partition_has_no_error() {
        let response = ProduceResponse { offsets: vec![PartitionOffset::ok(0, 10), PartitionOffset::failed(1, 7)] };
        assert!(delivered(Some(&response), 0));
        assert!(!delivered(Some(&response), 1), "error_code 7");
        assert!(!delivered(Some(&response), 2), "a partition the answer does not mention");
        assert!(!delivered(None, 0), "no answer at all");
    }

    #[test]
    fn failures_are_retried_with_growing_jittered_delays_then_dead_lettered() {
        let policy = RetryPolicy { base_delay_s: 2, max_delay_s: 3_600, max_age_s: 86_400 };
        assert_eq!(settle(true, 999_999_999, &policy, 1.0), Settle::Ack);
        assert_eq!(settle(false, 0, &policy, 1.0), Settle::Retry { delay_s: 2 });
        assert_eq!(settle(false, 60_000, &policy, 1.0), Settle::Retry { delay_s: 60 });
        assert_eq!(settle(false, 60_000, &policy, 0.5), Settle::Retry { delay_s: 30 });
        assert_eq!(settle(false, 60_000, &policy, 9.0), Settle::Retry { delay_s: 90 }, "jitter is clamped");
        assert_eq!(settle(false, 40_000_000, &policy, 1.4), Settle::Retry { delay_s: 3_600 }, "capped");
        assert_eq!(settle(false, 86_400_000, &policy, 1.0), Settle::DeadLetter);
    }

    #[test]
    fn a_direct_produce_request_keys_every_record_by_session_and_leaves_the_partition_to_the_proxy() {
        let request = handoff("sid12345", "page_visits", 2).produce_request();
        assert_eq!(request.records.len(), 2);
        for (i, record) in request.records.iter().enumerate() {
            assert_eq!((record.key.clone(), record.partition), (Some(json!("sid12345")), None));
            assert_eq!(record.value["event_id"], format!("sid12345-{i}"));
        }
    }

    #[test]
    fn a_large_handoff_is_split_into_queue_sized_pieces_in_order() {
        let big = handoff("s1", "page_visits", 40);
        let one = serde_json::to_vec(&handoff("s1", "page_visits", 1)).expect("json").len();
        let pieces = big.clone().split(one * 10);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| serde_json::to_vec(p).expect("json").len() <= one * 10));
        let rejoined: Vec<_> = pieces.into_iter().flat_map(|p| p.values).collect();
        assert_eq!(rejoined, big.values);
        assert_eq!(handoff("s1", "t", 3).split(MAX_MESSAGE_BYTES).len(), 1, "small hand-offs stay whole");
    }
}
