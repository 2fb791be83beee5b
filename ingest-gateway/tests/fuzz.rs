//! The request parsing of the produce route, fuzzed with proptest: arbitrary bytes, arbitrary JSON, and
//! near-valid produce bodies (right shape, wrong types, bad base64, stray fields), under every content type,
//! on legal and illegal topic names. Whatever arrives, the gateway answers 2xx or 4xx (the in-memory broker
//! is healthy, so a 5xx would be the gateway's own fault), every 4xx carries the proxy's JSON error body,
//! and a refused request writes nothing. The case count is bounded so this runs in seconds within
//! `cargo test`; `PROPTEST_CASES=100000` runs longer.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use event_schema::StoredEvent;
use http_body_util::BodyExt;
use ingest_gateway::auth::Auth;
use ingest_gateway::limits::Limits;
use ingest_gateway::sink::memory::MemorySink;
use ingest_gateway::topics::TopicPolicy;
use ingest_gateway::{app, AppState};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[A-Za-z0-9+/]{0,16}={0,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A record that is nearly right: the three known fields with arbitrary values, sometimes a stray one.
fn near_record() -> impl Strategy<Value = Value> {
    let field = |name: &'static str| prop::option::of(json_value()).prop_map(move |v| (name, v));
    (field("key"), field("value"), field("partition"), prop::option::of(("[a-z]{1,8}", json_value()))).prop_map(
        |(key, value, partition, stray)| {
            let mut record = serde_json::Map::new();
            for (name, v) in [key, value, partition] {
                if let Some(v) = v {
                    record.insert(name.to_owned(), v);
                }
            }
            if let Some((name, v)) = stray {
                record.insert(name, v);
            }
            Value::Object(record)
        },
    )
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(near_record(), 0..6)
            .prop_map(|records| json!({"records": records}).to_string().into_bytes()),
        // A valid body with one byte replaced: truncations, stray quotes, invalid UTF-8.
        (prop::collection::vec(near_record(), 1..3), any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(records, at, byte)| {
                let mut bytes = json!({"records": records}).to_string().into_bytes();
                let index = at.index(bytes.len());
                bytes[index] = byte;
                bytes
            }
        ),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(Some("application/vnd.kafka.json.v2+json".to_owned())),
        Just(Some("application/vnd.kafka.binary.v2+json".to_owned())),
        Just(Some("application/json".to_owned())),
        Just(None),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

fn topic() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("raw".to_owned()),
        Just("page_visits".to_owned()),
        Just("absent".to_owned()),
        "[A-Za-z0-9._%-]{0,12}"
    ]
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(Some("Bearer fuzz".to_owned())), Just(None), "[ -~]{0,30}".prop_map(Some)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_request_gets_a_2xx_or_a_json_4xx_and_a_refused_one_writes_nothing(
        body in body(),
        content_type in content_type(),
        topic in topic(),
        authorization in authorization(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let sink = Arc::new(MemorySink::new().with_topic("raw", 2).with_topic("page_visits", 2));
        let topics = TopicPolicy::allow_only(["raw", "page_visits", "absent"]).with_row_type::<StoredEvent>("page_visits");
        let limits = Limits { max_body_bytes: 2048, max_record_bytes: 128, ..Limits::default() };
        let state = AppState::new(sink.clone()).with_auth(Auth::bearer("fuzz")).with_topics(topics).with_limits(limits);

        let mut request = Request::post(format!("/topics/{topic}"));
        if let Some(content_type) = &content_type {
            request = request.header(CONTENT_TYPE, content_type.as_str());
        }
        if let Some(authorization) = &authorization {
            request = request.header(AUTHORIZATION, authorization.as_str());
        }
        let Ok(request) = request.body(Body::from(body.clone())) else {
            // The URI itself is not valid HTTP; no server would hand it over.
            return Ok(());
        };
        let (status, reply) = runtime.block_on(async {
            let response = app(state).oneshot(request).await.expect("infallible");
            let status = response.status();
            (status, response.into_body().collect().await.expect("body").to_bytes())
        });

        prop_assert!(status == StatusCode::OK || status.is_client_error(), "status {status}: {}", String::from_utf8_lossy(&reply));
        if status.is_client_error() {
            let error: Value = serde_json::from_slice(&reply).map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
            prop_assert!(error["error_code"].is_i64() && error["message"].is_string(), "{error}");
            prop_assert_eq!(sink.total_records(), 0, "a refused request wrote records");
        }
    }
}
