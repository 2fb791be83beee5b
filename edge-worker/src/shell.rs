//! The Workers runtime shell: reads the request, calls the core in [`crate::api`], hands accepted events
//! off (to the queue before answering, or to the proxy in `waitUntil`), writes the response, and consumes
//! the queue. Nothing here decides anything: every decision is in the core and tested natively.
//!
//! `request.cf` is read field by field through `Reflect`, because workers-rs 0.8.7's `Cf` accessors panic
//! when a field is missing (`colo`, `asn`), and a panic poisons the isolate.

use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, event, Context, Date, Delay, Env, Headers, Request, Response, ResponseBuilder, Result,
    RouteContext, Router,
};

use event_schema::{ProduceResponse, StoredEvent};
use worker::{MessageBatch, MessageExt, QueueRetryOptions, QueueRetryOptionsBuilder, RawMessage};

use crate::api::{self, ApiError, Effects, Endpoint, Outcome, Reply, TrackHead};
use crate::config::{Config, ConfigError, ForwardMode};
use crate::forward::{forward, produce_once, FailureReason, ForwardTarget};
use crate::handoff::{self, Handoff, Settle, MAX_MESSAGE_BYTES};
use crate::metrics::{forward_log_lines, Counters, Tally};
use crate::script;

/// Queue producer binding of the durable hand-off (queue mode).
const EVENTS_QUEUE: &str = "EVENTS_QUEUE";
/// Queue producer binding of the dead-letter queue.
const EVENTS_DLQ: &str = "EVENTS_DLQ";
/// Optional Workers Analytics Engine dataset binding for totals that survive isolates.
const METRICS_DATASET: &str = "PATHLIGHT_METRICS";

/// Per isolate: Cloudflare keeps no state across isolates, and `/health` says so.
static COUNTERS: Counters = Counters::new();

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    let routed = Router::with_data(ctx)
        .get_async("/js", snippet)
        .get_async("/js/pathlight.js", snippet)
        .get_async("/record.js", recorder)
        .options_async("/track", preflight)
        .post_async("/track", track)
        .options_async("/record", preflight)
        .post_async("/record", record)
        .get_async("/health", health)
        .or_else_any_method_async("/", no_route)
        .or_else_any_method_async("/*path", no_route)
        .run(req, env)
        .await;
    match routed {
        // The router answers a wrong method on a known path by itself, in plain text; our handlers never send 405.
        Ok(response) if response.status_code() == 405 => respond(api::no_route(&path)),
        Ok(response) => Ok(response),
        Err(error) => {
            console_error!(
                "{}",
                serde_json::json!({"msg": "handler failed", "path": path, "error": error.to_string()})
            );
            respond(ApiError::Internal("the worker failed to build a response".to_owned()).reply())
        }
    }
}

async fn snippet(req: Request, _: RouteContext<Context>) -> Result<Response> {
    respond(api::script(&script::SNIPPET, header(&req, "if-none-match").as_deref(), None))
}

async fn recorder(req: Request, _: RouteContext<Context>) -> Result<Response> {
    let version = req.url().ok().and_then(|url| url.query_pairs().find(|(k, _)| k == "v").map(|(_, v)| v.into_owned()));
    respond(api::script(&script::RECORDER, header(&req, "if-none-match").as_deref(), version.as_deref()))
}

async fn preflight(req: Request, rc: RouteContext<Context>) -> Result<Response> {
    let config = config(&rc.env);
    let outcome = api::preflight(config, header(&req, "origin").as_deref(), &COUNTERS);
    finish(outcome, &rc.data, &rc.env, config.ok())
}

async fn track(req: Request, rc: RouteContext<Context>) -> Result<Response> {
    ingest(Endpoint::Track, req, rc).await
}

async fn record(req: Request, rc: RouteContext<Context>) -> Result<Response> {
    ingest(Endpoint::Record, req, rc).await
}

async fn ingest(endpoint: Endpoint, mut req: Request, rc: RouteContext<Context>) -> Result<Response> {
    let config = config(&rc.env);
    let query = req.url().ok().and_then(|url| url.query().map(str::to_owned));
    let (origin, content_type, content_length) =
        (header(&req, "origin"), header(&req, "content-type"), header(&req, "content-length"));
    let (user_agent, client_ip) =
        (header(&req, "user-agent").unwrap_or_default(), header(&req, "cf-connecting-ip").unwrap_or_default());
    let head = TrackHead {
        origin: origin.as_deref(),
        content_type: content_type.as_deref(),
        content_length: content_length.as_deref(),
        user_agent: &user_agent,
        client_ip: &client_ip,
        query: query.as_deref(),
        geo: geo(&req),
    };
    let mut random = || {
        let mut bytes = [0u8; 10];
        getrandom::getrandom(&mut bytes).ok().map(|()| bytes)
    };
    let effects = Effects { now_ms: Date::now().as_millis(), random: &mut random, counters: &COUNTERS };
    let outcome = api::ingest(endpoint, config, &head, |max| read_body(&mut req, max), effects).await;
    let outcome = match (&outcome.handoff, config) {
        (Some(handoff), Ok(config)) if config.forward_mode == ForwardMode::Queue => {
            let queued = enqueue(&rc.env, handoff.clone()).await;
            api::handed_off(outcome, queued, &COUNTERS)
        }
        _ => api::handed_off(outcome, Ok(()), &COUNTERS),
    };
    finish(outcome, &rc.data, &rc.env, config.ok())
}

/// Puts a hand-off on the queue, in pieces that fit a queue message. Each message is JSON text, so the
/// consumer (and any tool replaying the dead-letter queue) parses it with serde, never trusting its shape.
async fn enqueue(env: &Env, handoff: Handoff) -> std::result::Result<(), String> {
    let queue = env.queue(EVENTS_QUEUE).map_err(|e| format!("binding {EVENTS_QUEUE}: {e}"))?;
    let messages = handoff
        .split(MAX_MESSAGE_BYTES)
        .iter()
        .map(serde_json::to_string)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if let [message] = messages.as_slice() {
        queue.send(message).await.map_err(|e| e.to_string())
    } else {
        let batch = worker::BatchMessageBuilder::new().messages(messages).build();
        queue.send_batch(batch).await.map_err(|e| e.to_string())
    }
}

async fn health(_: Request, rc: RouteContext<Context>) -> Result<Response> {
    respond(api::health(config(&rc.env), &COUNTERS))
}

async fn no_route(req: Request, _: RouteContext<Context>) -> Result<Response> {
    respond(api::no_route(&req.path()))
}

/// The configuration, parsed once per isolate: a Worker's vars and secrets cannot change under a running
/// isolate (a deploy or `wrangler secret put` starts new ones), and parsing builds the site allowlist.
fn config(env: &Env) -> std::result::Result<&'static Config, &'static ConfigError> {
    static CONFIG: OnceLock<std::result::Result<Config, ConfigError>> = OnceLock::new();
    CONFIG.get_or_init(|| Config::from_lookup(|name| env.var(name).ok().map(|value| value.to_string()))).as_ref()
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Reads the body chunk by chunk and stops at the limit, whatever Content-Length said.
async fn read_body(req: &mut Request, max_body_bytes: u64) -> std::result::Result<Vec<u8>, ApiError> {
    // A request without a body has no stream; the core answers it as an empty body.
    let Ok(mut stream) = req.stream() else { return Ok(Vec::new()) };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::UnreadableBody(e.to_string()))?;
        api::append_chunk(&mut body, &chunk, max_body_bytes)?;
    }
    Ok(body)
}

fn geo(req: &Request) -> StoredEvent {
    let cf = Reflect::get(req.inner(), &JsValue::from_str("cf")).unwrap_or(JsValue::UNDEFINED);
    let field = |key: &str| if cf.is_object() { Reflect::get(&cf, &JsValue::from_str(key)).ok() } else { None };
    let text = |key: &str| field(key).and_then(|v| v.as_string()).unwrap_or_default();
    StoredEvent {
        country: text("country"),
        region: text("region"),
        region_code: text("regionCode"),
        city: text("city"),
        continent: text("continent"),
        timezone: text("timezone"),
        asn: field("asn")
            .and_then(|v| v.as_f64())
            .filter(|n| (0.0..=f64::from(u32::MAX)).contains(n))
            .map_or(0, |n| n as u32),
        colo: text("colo"),
        ..StoredEvent::default()
    }
}

/// Logs the outcome, counts it across isolates, schedules a direct-mode forward after the response, and
/// sends the reply.
fn finish(outcome: Outcome, ctx: &Context, env: &Env, config: Option<&'static Config>) -> Result<Response> {
    if let Some(line) = &outcome.log {
        console_error!("{line}");
    }
    if let Some(tally) = &outcome.tally {
        count(env, tally);
    }
    let direct = config.filter(|c| c.forward_mode == ForwardMode::Direct);
    if let (Some(handoff), Some(config)) = (outcome.handoff, direct) {
        let env = env.clone();
        ctx.wait_until(async move {
            let target = ForwardTarget::from_config(config);
            let body = serde_json::to_vec(&handoff.produce_request()).unwrap_or_default();
            let sleep = |ms| Delay::from(Duration::from_millis(ms));
            let report = forward(&reqwest::Client::new(), &target, &handoff.topic, &body, sleep).await;
            let events = handoff.values.len();
            COUNTERS.forwarded(&report, events);
            for line in forward_log_lines(&report, &handoff.site, &handoff.key, events, target.max_attempts) {
                console_error!("{line}");
            }
            let tally = if report.delivered { "events_forwarded" } else { "events_lost" };
            count(&env, &Tally::new(tally, "", &handoff.site, events));
        });
    }
    respond(outcome.reply)
}

/// Writes a tally where every isolate's counts add up: always a log line, and a data point in Workers
/// Analytics Engine when its dataset is bound (blob1 = tally, blob2 = label, index1 = site, double1 = count).
fn count(env: &Env, tally: &Tally) {
    console_log!("{}", tally.line());
    if let Ok(dataset) = env.analytics_engine(METRICS_DATASET) {
        let point = worker::AnalyticsEngineDataPointBuilder::new()
            .indexes([tally.site.as_str()])
            .add_double(tally.count as f64)
            .blobs(vec![tally.tally, tally.label])
            .build();
        if let Err(error) = dataset.write_data_point(&point) {
            console_error!(
                "{}",
                serde_json::json!({"msg": "analytics engine write failed", "error": error.to_string()})
            );
        }
    }
}

/// The queue consumer: one produce request per topic for the whole batch, then each message is acked,
/// retried with a delay, or moved to the dead-letter queue, by its own partition's result.
#[event(queue)]
async fn consume(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let config = match config(&env) {
        Ok(config) => config,
        Err(error) => {
            // Nothing can be produced without a valid configuration; keep the messages for after the fix.
            console_error!(
                "{}",
                serde_json::json!({"msg": "queue batch kept: worker misconfigured", "error": error.to_string()})
            );
            batch.retry_all_with_options(&retry_after(60));
            return Ok(());
        }
    };
    if batch.queue() == config.dead_letter_queue {
        replay(&batch, &env).await;
        return Ok(());
    }
    let now_ms = Date::now().as_millis();
    let mut raws: Vec<RawMessage> = Vec::new();
    let mut handoffs: Vec<Handoff> = Vec::new();
    for raw in batch.raw_iter() {
        let parsed = raw
            .body()
            .as_string()
            .ok_or_else(|| "not a text message".to_owned())
            .and_then(|text| serde_json::from_str::<Handoff>(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(handoff) => {
                raws.push(raw);
                handoffs.push(handoff);
            }
            Err(error) => {
                // Not ours (or damaged): producing it could only fail again; keep it for a person to read.
                console_error!(
                    "{}",
                    serde_json::json!({"msg": "queue message unreadable; dead-lettered", "error": error})
                );
                dead_letter(&env, &raw, raw.body()).await;
            }
        }
    }
    let target = ForwardTarget::from_config(config);
    let client = reqwest::Client::new();
    for topic_batch in handoff::plan(&handoffs, config.topic_partitions) {
        let body = serde_json::to_vec(&topic_batch.request).unwrap_or_default();
        let result = produce_once(&client, &target, &topic_batch.topic, &body).await;
        let (response, failure): (Option<ProduceResponse>, Option<serde_json::Value>) = match result {
            Ok(response) => (Some(response), None),
            Err(failure) => (None, serde_json::to_value(&failure).ok()),
        };
        for (index, partition) in topic_batch.members {
            let (raw, handoff) = (&raws[index], &handoffs[index]);
            let delivered = handoff::delivered(response.as_ref(), partition);
            let age_ms = now_ms.saturating_sub(raw.timestamp().as_millis());
            let settle = handoff::settle(delivered, age_ms, &config.retry_policy, jitter());
            let reason = match (&response, delivered) {
                (_, true) => None,
                (Some(_), false) => Some(FailureReason::PartitionError),
                (None, false) => Some(FailureReason::Network),
            };
            let events = handoff.values.len();
            COUNTERS.settled(settle, events, reason);
            match settle {
                Settle::Ack => {
                    raw.ack();
                    count(&env, &Tally::new("events_forwarded", "", &handoff.site, events));
                }
                Settle::Retry { delay_s } => {
                    raw.retry_with_options(&retry_after(delay_s));
                    console_error!(
                        "{}",
                        serde_json::json!({"msg": "produce failed; message retried", "site": handoff.site,
                        "session_id": handoff.key, "events": events, "partition": partition, "age_ms": age_ms,
                        "delay_s": delay_s, "failure": failure, "offsets": response})
                    );
                    count(
                        &env,
                        &Tally::new(
                            "queue_messages_retried",
                            reason.map_or("", FailureReason::as_str),
                            &handoff.site,
                            1,
                        ),
                    );
                }
                Settle::DeadLetter => {
                    console_error!(
                        "{}",
                        serde_json::json!({"msg": "produce kept failing; events dead-lettered", "site": handoff.site,
                        "session_id": handoff.key, "events": events, "partition": partition, "age_ms": age_ms,
                        "failure": failure, "offsets": response})
                    );
                    dead_letter(&env, raw, raw.body()).await;
                    count(&env, &Tally::new("events_dead_lettered", "", &handoff.site, events));
                }
            }
        }
    }
    Ok(())
}

/// Replays the dead-letter queue: every message goes back onto the events queue unchanged (a fresh message,
/// so a fresh retry life) and is acked here only once that send succeeded.
async fn replay(batch: &MessageBatch<String>, env: &Env) {
    let queue = match env.queue(EVENTS_QUEUE) {
        Ok(queue) => queue,
        Err(error) => {
            console_error!(
                "{}",
                serde_json::json!({"msg": "replay paused: events queue unavailable", "error": error.to_string()})
            );
            batch.retry_all_with_options(&retry_after(60));
            return;
        }
    };
    for raw in batch.raw_iter() {
        let message =
            worker::RawMessageBuilder::new(raw.body()).build_with_content_type(worker::QueueContentType::Json);
        match queue.send_raw(message).await {
            Ok(()) => {
                raw.ack();
                count(env, &Tally::new("queue_messages_replayed", "", "", 1));
            }
            Err(error) => {
                console_error!(
                    "{}",
                    serde_json::json!({"msg": "replay of a message failed; retried", "error": error.to_string()})
                );
                raw.retry_with_options(&retry_after(60));
            }
        }
    }
}

/// Moves a message to the dead-letter queue; if that fails too, the message is retried instead, so it is
/// never dropped.
async fn dead_letter(env: &Env, raw: &RawMessage, body: JsValue) {
    let sent = match env.queue(EVENTS_DLQ) {
        Ok(dlq) => {
            dlq.send_raw(worker::RawMessageBuilder::new(body).build_with_content_type(worker::QueueContentType::Json))
                .await
        }
        Err(error) => Err(error),
    };
    match sent {
        Ok(()) => raw.ack(),
        Err(error) => {
            console_error!(
                "{}",
                serde_json::json!({"msg": "dead-letter queue unavailable; message retried", "error": error.to_string()})
            );
            raw.retry_with_options(&retry_after(300));
        }
    }
}

fn retry_after(delay_s: u32) -> QueueRetryOptions {
    QueueRetryOptionsBuilder::new().with_delay_seconds(delay_s).build()
}

/// A factor in [0.5, 1.5) that spreads retries of many isolates apart; 1 when no randomness is available.
fn jitter() -> f64 {
    let mut byte = [0u8; 1];
    getrandom::getrandom(&mut byte).map_or(1.0, |()| 0.5 + f64::from(byte[0]) / 256.0)
}

fn respond(reply: Reply) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    let builder = ResponseBuilder::new().with_status(reply.status).with_headers(headers);
    // 204 and 304 must not carry a body, not even an empty one.
    Ok(if reply.body.is_empty() { builder.empty() } else { builder.fixed(reply.body) })
}
