//! The Workers runtime shell: reads the request, calls the core in [`crate::api`], writes the response,
//! and runs the forward in `waitUntil`. Nothing here decides anything.
//!
//! `request.cf` is read field by field through `Reflect`, because workers-rs 0.8.7's `Cf` accessors panic
//! when a field is missing (`colo`, `asn`), and a panic poisons the isolate.

use std::time::Duration;

use futures_util::StreamExt;
use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::{
    console_error, event, Context, Date, Delay, Env, Headers, Request, Response, ResponseBuilder, Result, RouteContext,
    Router,
};

use crate::api::{self, ApiError, Effects, Outcome, Reply, TrackHead};
use crate::config::{Config, ConfigError};
use crate::forward::{forward, ForwardTarget};
use crate::metrics::{forward_log_lines, Counters};
use event_schema::StoredEvent;

/// Per isolate: Cloudflare keeps no state across isolates, and `/health` says so.
static COUNTERS: Counters = Counters::new();

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    let routed = Router::with_data(ctx)
        .get_async("/js", script)
        .get_async("/js/pathlight.js", script)
        .options_async("/track", preflight)
        .post_async("/track", track)
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

async fn script(req: Request, _: RouteContext<Context>) -> Result<Response> {
    respond(api::script(header(&req, "if-none-match").as_deref()))
}

async fn preflight(req: Request, rc: RouteContext<Context>) -> Result<Response> {
    let config = config(&rc.env);
    finish(api::preflight(config.as_ref(), header(&req, "origin").as_deref(), &COUNTERS), &rc.data, config.ok())
}

async fn track(mut req: Request, rc: RouteContext<Context>) -> Result<Response> {
    let config = config(&rc.env);
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
        geo: geo(&req),
    };
    let mut random = || {
        let mut bytes = [0u8; 10];
        getrandom::getrandom(&mut bytes).ok().map(|()| bytes)
    };
    let effects = Effects { now_ms: Date::now().as_millis(), random: &mut random, counters: &COUNTERS };
    let outcome = api::track(config.as_ref(), &head, |max| read_body(&mut req, max), effects).await;
    finish(outcome, &rc.data, config.ok())
}

async fn health(_: Request, rc: RouteContext<Context>) -> Result<Response> {
    respond(api::health(config(&rc.env).as_ref(), &COUNTERS))
}

async fn no_route(req: Request, _: RouteContext<Context>) -> Result<Response> {
    respond(api::no_route(&req.path()))
}

fn config(env: &Env) -> std::result::Result<Config, ConfigError> {
    Config::from_lookup(|name| env.var(name).ok().map(|value| value.to_string()))
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

/// Logs the outcome, schedules its forward after the response, and sends the reply.
fn finish(outcome: Outcome, ctx: &Context, config: Option<Config>) -> Result<Response> {
    if let Some(line) = &outcome.log {
        console_error!("{line}");
    }
    if let (Some(outgoing), Some(config)) = (outcome.forward, config) {
        ctx.wait_until(async move {
            let target = ForwardTarget::from_config(&config);
            let sleep = |ms| Delay::from(Duration::from_millis(ms));
            let report = forward(&reqwest::Client::new(), &target, &outgoing.body, sleep).await;
            COUNTERS.forwarded(&report, outgoing.events);
            for line in
                forward_log_lines(&report, &outgoing.site, &outgoing.session_id, outgoing.events, target.max_attempts)
            {
                console_error!("{line}");
            }
        });
    }
    respond(outcome.reply)
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
