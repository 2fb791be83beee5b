//! Integration tests against a real Kafka-API broker (tansu, in-memory storage, see `broker_support`): each
//! test starts its own broker on a free port and works on its own random topic, produces through `app()`
//! with the Kafka sink, and reads the records back with a plain librdkafka consumer.

mod broker_support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Request, StatusCode};
use axum::Router;
use broker_support::{consume, consume_all, free_address, Broker};
use clap::Parser;
use event_schema::produce::{CONTENT_TYPE_BINARY_V2, CONTENT_TYPE_JSON_V2};
use http_body_util::BodyExt;
use ingest_gateway::config::Config;
use ingest_gateway::sink::kafka::{create_topic, KafkaSink, TopicCreation};
use ingest_gateway::{app, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    config: Config,
}

fn gateway(brokers: &str) -> Router {
    gateway_with(brokers, &[])
}

fn gateway_with(brokers: &str, flags: &[&str]) -> Router {
    let defaults = ["test", "--kafka-brokers", brokers, "--linger-ms", "5", "--produce-timeout-ms", "10000"];
    let config = Flags::parse_from(defaults.iter().chain(flags)).config;
    config.validate().expect("valid config");
    let sink = KafkaSink::new(&config).expect("producer");
    app(AppState::new(Arc::new(sink)).with_limits(config.limits()))
}

fn random_topic() -> String {
    format!("test_{}", uuid::Uuid::new_v4().simple())
}

async fn new_topic(broker: &Broker, partitions: i32) -> String {
    let topic = random_topic();
    let created =
        create_topic(&broker.brokers(), &topic, partitions, Duration::from_secs(10)).await.expect("create topic");
    assert_eq!(created, TopicCreation::Created);
    topic
}

async fn produce(app: &Router, topic: &str, body: &str) -> (StatusCode, String) {
    produce_as(app, topic, CONTENT_TYPE_JSON_V2, body).await
}

async fn produce_as(app: &Router, topic: &str, content_type: &str, body: &str) -> (StatusCode, String) {
    let request = Request::post(format!("/topics/{topic}"))
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn bytes(text: &str) -> Option<Vec<u8>> {
    Some(text.as_bytes().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn records_reach_the_broker_with_the_exact_bytes_and_the_answered_offsets() {
    let broker = Broker::start();
    let topic = new_topic(&broker, 2).await;
    let app = gateway(&broker.brokers());

    let (status, first) = produce(
        &app,
        &topic,
        r#"{"records": [
            {"key": "sid-1", "value": {"site": "example.com", "n": 1}, "partition": 0},
            {"value": [1, 2, 3], "partition": 1},
            {"key": null, "partition": 0}
        ]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first, r#"{"offsets":[{"partition":0,"offset":0},{"partition":1,"offset":0}]}"#);

    let (status, second) = produce(
        &app,
        &topic,
        r#"{"records": [{"key": "sid-2", "value": "second", "partition": 0}, {"value": 4.5, "partition": 1}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second, r#"{"offsets":[{"partition":0,"offset":2},{"partition":1,"offset":1}]}"#);

    let consumed = consume(&broker.brokers(), &topic, 2, 5).await;
    assert_eq!(
        consumed,
        vec![
            (0, 0, bytes(r#""sid-1""#), bytes(r#"{"site":"example.com","n":1}"#)),
            (0, 1, bytes("null"), None),
            (0, 2, bytes(r#""sid-2""#), bytes(r#""second""#)),
            (1, 0, None, bytes("[1,2,3]")),
            (1, 1, None, bytes("4.5")),
        ]
    );
}

/// Java's (and so Kafka's and Redpanda's) murmur2 with Kafka's seed.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h = 0x9747_b28c_u32 ^ u32::try_from(data.len()).expect("short key");
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("four bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        h = h.wrapping_mul(M) ^ k.wrapping_mul(M);
    }
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

#[test]
fn the_test_murmur2_matches_kafkas_reference_values() {
    // Kafka's UtilsTest.testMurmur2 (signed there, as Java ints).
    assert_eq!(murmur2(b"21") as i32, -973932308);
    assert_eq!(murmur2(b"foobar") as i32, -790332482);
    assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
    assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
    assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58897971);
    assert_eq!(murmur2(b"abc") as i32, 479470107);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyed_record_lands_on_the_partition_kafka_clients_would_choose() {
    let broker = Broker::start();
    let partitions = 4;
    let topic = new_topic(&broker, partitions).await;
    let app = gateway(&broker.brokers());

    for session in ["sid-1", "sid-2", "a-much-longer-session-identifier", "x"] {
        let (status, body) =
            produce(&app, &topic, &json!({"records": [{"key": session, "value": 1}]}).to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let key_bytes = format!("\"{session}\"");
        let expected = (murmur2(key_bytes.as_bytes()) & 0x7fff_ffff) % partitions as u32;
        let answered: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(answered["offsets"][0]["partition"], json!(expected), "key {key_bytes}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_topic_is_error_code_3_and_is_not_created() {
    let broker = Broker::start();
    let app = gateway(&broker.brokers());
    let topic = random_topic();

    let (status, body) = produce(&app, &topic, r#"{"records": [{"key": "k", "value": 1}]}"#).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"offsets":[{"partition":0,"error_code":3,"offset":-1}]}"#);
    let created = create_topic(&broker.brokers(), &topic, 1, Duration::from_secs(10)).await.expect("create topic");
    assert_eq!(created, TopicCreation::Created, "the produce must not have created the topic");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_the_topic_lacks_is_error_code_3_for_that_partition_only() {
    let broker = Broker::start();
    let topic = new_topic(&broker, 2).await;
    let app = gateway(&broker.brokers());

    let (status, body) =
        produce(&app, &topic, r#"{"records": [{"value": 1, "partition": 1}, {"value": 2, "partition": 5}]}"#).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"offsets":[{"partition":1,"offset":0},{"partition":5,"error_code":3,"offset":-1}]}"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_the_producer_queue_cannot_take_is_a_503_and_nothing_is_written() {
    let broker = Broker::start();
    let topic = new_topic(&broker, 1).await;
    let app = gateway_with(&broker.brokers(), &["--queue-max-messages", "2"]);

    let (status, body) = produce(&app, &topic, r#"{"records": [{"value": 1}, {"value": 2}, {"value": 3}]}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["error_code"], json!(503));

    let (status, body) = produce(&app, &topic, r#"{"records": [{"value": 4}, {"value": 5}]}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let consumed = consume(&broker.brokers(), &topic, 1, 2).await;
    assert_eq!(consumed, vec![(0, 0, None, bytes("4")), (0, 1, None, bytes("5"))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_an_existing_topic_succeeds_and_keeps_it() {
    let broker = Broker::start();
    let topic = new_topic(&broker, 3).await;

    let again = create_topic(&broker.brokers(), &topic, 3, Duration::from_secs(10)).await.expect("create topic again");

    assert_eq!(again, TopicCreation::AlreadyExisted);
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_200_with_a_broker_and_503_without_one() {
    let broker = Broker::start();
    let readyz = || Request::get("/readyz").body(Body::empty()).expect("request");

    let up = gateway(&broker.brokers()).oneshot(readyz()).await.expect("infallible");
    assert_eq!(up.status(), StatusCode::OK);

    let nobody = free_address().to_string();
    let down = gateway(&nobody).oneshot(readyz()).await.expect("infallible");
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binary_request_puts_the_decoded_bytes_on_the_broker() {
    let broker = Broker::start();
    let topic = new_topic(&broker, 2).await;
    let app = gateway(&broker.brokers());

    let body = r#"{"records": [
        {"key": "a2V5", "value": "dmVjdG9yaXplZA==", "partition": 1},
        {"value": "AJ//", "partition": 0}
    ]}"#;
    let (status, answer) = produce_as(&app, &topic, CONTENT_TYPE_BINARY_V2, body).await;

    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, r#"{"offsets":[{"partition":0,"offset":0},{"partition":1,"offset":0}]}"#);
    let consumed = consume(&broker.brokers(), &topic, 2, 2).await;
    assert_eq!(consumed, vec![(0, 0, None, Some(vec![0, 159, 255])), (1, 0, bytes("key"), bytes("vectorized"))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_over_the_queued_bytes_bound_is_a_503_and_nothing_of_it_is_written() {
    let broker = Broker::start();
    let topic = new_topic(&broker, 1).await;
    let app = gateway_with(&broker.brokers(), &["--queue-max-kbytes", "1"]);
    let record = |n: usize| json!({"value": format!("{n}{}", "x".repeat(600))});

    let (status, body) = produce(&app, &topic, &json!({"records": [record(1), record(2)]}).to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["error_code"], json!(503));

    let (status, body) = produce(&app, &topic, &json!({"records": [record(3)]}).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let consumed = consume_all(&broker.brokers(), &topic, 1).await;
    assert_eq!(consumed.len(), 1, "only the batch that fit was written");
    assert!(consumed[0].3.as_deref().is_some_and(|value| value.starts_with(b"\"3x")), "{consumed:?}");
}
