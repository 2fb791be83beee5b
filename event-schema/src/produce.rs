//! The Redpanda HTTP Proxy produce API, JSON embedded format v2.
//!
//! `POST /topics/{topic}` with `Content-Type: application/vnd.kafka.json.v2+json` and a body of
//! `{"records":[{"key":..,"value":..,"partition":..}]}`. The proxy answers HTTP 200 even when a partition
//! failed: the failure is an `error_code` inside `offsets`, so a client must read the body, never the status
//! alone. The edge worker speaks this to Redpanda's proxy or to `ingest-gateway`, which serves the same contract.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Media type of a JSON v2 produce request.
pub const CONTENT_TYPE_JSON_V2: &str = "application/vnd.kafka.json.v2+json";

/// Media type of the proxy's successful answers; also the only specific `Accept` value the proxy honours.
pub const CONTENT_TYPE_V2: &str = "application/vnd.kafka.v2+json";

/// Kafka error code for an unknown topic or partition, as the proxy reports it per partition.
pub const UNKNOWN_TOPIC_OR_PARTITION: i32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProduceRequest {
    pub records: Vec<ProduceRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProduceRecord {
    /// Serialized as JSON bytes on the topic; records with equal keys land on one partition, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    pub value: Value,
    /// Explicit partition; absent means the key (or round robin) decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProduceResponse {
    pub offsets: Vec<PartitionOffset>,
}

/// One entry per partition batch: the base offset the batch was written at, or an error code and offset -1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionOffset {
    pub partition: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i32>,
    pub offset: i64,
}

impl PartitionOffset {
    pub fn ok(partition: i32, offset: i64) -> Self {
        Self { partition, error_code: None, offset }
    }

    pub fn failed(partition: i32, error_code: i32) -> Self {
        Self { partition, error_code: Some(error_code), offset: -1 }
    }

    pub fn is_error(&self) -> bool {
        self.error_code.is_some_and(|code| code != 0)
    }
}

impl ProduceResponse {
    /// The partition entries that carry a non-zero error code. An HTTP 200 with any of these is a failure.
    pub fn failures(&self) -> impl Iterator<Item = &PartitionOffset> {
        self.offsets.iter().filter(|o| o.is_error())
    }
}

/// The proxy's error body for a rejected request (4xx/5xx): `{"error_code": 40801, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyError {
    pub error_code: i32,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_partition_error_inside_a_200_is_a_failure() {
        let body = r#"{"offsets":[{"partition":0,"error_code":3,"offset":-1},{"partition":1,"offset":7}]}"#;
        let response: ProduceResponse = serde_json::from_str(body).expect("valid response");
        let failed: Vec<_> = response.failures().collect();
        assert_eq!(failed, vec![&PartitionOffset::failed(0, UNKNOWN_TOPIC_OR_PARTITION)]);
    }

    #[test]
    fn error_code_zero_counts_as_success() {
        let response: ProduceResponse =
            serde_json::from_str(r#"{"offsets":[{"partition":2,"error_code":0,"offset":11}]}"#).expect("valid");
        assert_eq!(response.failures().count(), 0);
    }

    #[test]
    fn a_request_serializes_exactly_as_the_proxy_expects() {
        let request = ProduceRequest {
            records: vec![ProduceRecord { key: Some(json!("sid-1")), value: json!({"a": 1}), partition: None }],
        };
        assert_eq!(
            serde_json::to_string(&request).expect("serializes"),
            r#"{"records":[{"key":"sid-1","value":{"a":1}}]}"#
        );
    }

    #[test]
    fn a_successful_offset_omits_error_code() {
        let body =
            serde_json::to_string(&ProduceResponse { offsets: vec![PartitionOffset::ok(0, 5)] }).expect("serializes");
        assert_eq!(body, r#"{"offsets":[{"partition":0,"offset":5}]}"#);
    }
}
