//! The Redpanda HTTP Proxy produce API: the JSON embedded format v2 and the binary (base64) format v2.
//!
//! `POST /topics/{topic}` with `Content-Type: application/vnd.kafka.json.v2+json` and a body of
//! `{"records":[{"key":..,"value":..,"partition":..}]}`, where key and value are any JSON; or with
//! `Content-Type: application/vnd.kafka.binary.v2+json` and the same shape, where key and value are base64
//! strings of the bytes to write. The proxy answers HTTP 200 even when a partition failed: the failure is an
//! `error_code` inside `offsets`, so a client must read the body, never the status alone. A refused request
//! gets a 4xx/5xx with a [`ProxyError`] body whose `error_code` is one of [`error_code`]. The edge worker
//! speaks this to Redpanda's proxy or to `ingest-gateway`, which serves the same contract.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Media type of a JSON v2 produce request.
pub const CONTENT_TYPE_JSON_V2: &str = "application/vnd.kafka.json.v2+json";

/// Media type of a binary v2 produce request: key and value are base64 strings.
pub const CONTENT_TYPE_BINARY_V2: &str = "application/vnd.kafka.binary.v2+json";

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

/// The `error_code` values of a refused request ([`ProxyError`]), as Redpanda's proxy answers them. A code
/// below 600 is the HTTP status itself; a longer one is a proxy code whose first three digits are the HTTP
/// status ([`http_status`]), except where noted.
pub mod error_code {
    /// 400: a malformed parameter, `Authorization` header or body (`kafka_bad_request`).
    pub const KAFKA_BAD_REQUEST: i32 = 40002;
    /// 401: missing or wrong credentials (`kafka_authentication_error`).
    pub const KAFKA_AUTHENTICATION_ERROR: i32 = 40101;
    /// 403: the credentials may not write to this topic (`kafka_authorization_error`).
    pub const KAFKA_AUTHORIZATION_ERROR: i32 = 40301;
    /// 404: the topic does not exist (`topic_not_found`; Redpanda's fetch and consumer routes).
    pub const TOPIC_NOT_FOUND: i32 = 40401;
    /// 404: the partition does not exist (`partition_not_found`; Redpanda's fetch and consumer routes).
    pub const PARTITION_NOT_FOUND: i32 = 40402;
    /// 422 from `ingest-gateway` only: a record that the topic's consumer could not load.
    pub const INVALID_ROW: i32 = 42202;
    /// 500: the broker failed the request (`kafka_error`).
    pub const KAFKA_ERROR: i32 = 50002;
    /// Retriable broker trouble (`kafka_retriable_error`): HTTP 500 by the rule, but answered as 503 with
    /// `Retry-After` when the proxy is shutting down or, in `ingest-gateway`, timed out.
    pub const KAFKA_RETRIABLE_ERROR: i32 = 50003;
    /// 503: no broker could be reached (`broker_not_available`).
    pub const BROKER_NOT_AVAILABLE: i32 = 50302;

    /// The HTTP status an `error_code` stands for by Redpanda's rule (`error_code_to_status`).
    pub fn http_status(code: i32) -> i32 {
        if code < 600 {
            code
        } else {
            code / 100
        }
    }
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
    fn proxy_codes_carry_their_http_status_in_their_first_three_digits() {
        use error_code::*;
        let statuses: Vec<_> =
            [KAFKA_BAD_REQUEST, KAFKA_AUTHENTICATION_ERROR, KAFKA_AUTHORIZATION_ERROR, TOPIC_NOT_FOUND]
                .into_iter()
                .chain([PARTITION_NOT_FOUND, INVALID_ROW, KAFKA_ERROR, BROKER_NOT_AVAILABLE, 415])
                .map(http_status)
                .collect();
        assert_eq!(statuses, [400, 401, 403, 404, 404, 422, 500, 503, 415]);
    }

    #[test]
    fn a_successful_offset_omits_error_code() {
        let body =
            serde_json::to_string(&ProduceResponse { offsets: vec![PartitionOffset::ok(0, 5)] }).expect("serializes");
        assert_eq!(body, r#"{"offsets":[{"partition":0,"offset":5}]}"#);
    }
}
