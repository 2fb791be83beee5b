//! The CPU cost of the worker's pure core per request, natively: what an isolate pays once (configuration
//! parsing, the User-Agent parser's regex compilation) and what every `POST /track` pays (User-Agent
//! parsing, validation, enrichment, encoding). Workers bill CPU time per request, and the size work on the
//! wasm bundle (a smaller regex engine in woothee) trades some of it; BENCHMARKS.md records the figures.
//!
//!   cargo run --release -p edge-worker --example request_cost
//!
//! Native timings only rank changes against each other: the isolate runs the same code as wasm, slower.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use edge_worker::api::{self, Effects, Endpoint, TrackHead};
use edge_worker::config::Config;
use edge_worker::enrich::{classify_user_agent, read_user_agent};
use edge_worker::metrics::Counters;
use event_schema::StoredEvent;

/// A browser mix, a crawler, an HTTP library and a headless browser: every branch of the bot check.
const USER_AGENTS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
];

const BODY: &str = r#"{"site":"demo","sid":"Ab3dEf6hIj9kLm2n","events":[
    {"kind":"pageview","url":"http://localhost/a?utm_source=news","title":"A","screen_width":1280,"language":"de-DE","id":"k3Jd9sLq0PzX7wEr"},
    {"kind":"event","url":"http://localhost/a","name":"signup","props":{"plan":"pro"},"id":"Zz9sLq0PzX7wErk3"},
    {"kind":"pageview","url":"http://localhost/b","referrer":"https://www.example.org/x"}]}"#;

static COUNTERS: Counters = Counters::new();

fn main() {
    let vars = HashMap::from([
        ("PROXY_URL", "https://proxy.example.com"),
        ("SITES", r#"{"demo":["localhost","127.0.0.1"],"example.com":["example.com","*.example.com"]}"#),
        ("VISITOR_SALT_SECRET", "0123456789abcdef-bench"),
    ]);
    let lookup = |name: &str| vars.get(name).map(|v| (*v).to_owned());

    let started = Instant::now();
    let config = Config::from_lookup(lookup).expect("a valid configuration");
    report("once per isolate: configuration parsing", started.elapsed(), 1);

    // The first parse compiles every regex woothee touches on its way; later ones reuse them.
    let started = Instant::now();
    for user_agent in USER_AGENTS {
        black_box(classify_user_agent(user_agent));
    }
    report("once per isolate: first parse of each test User-Agent (regex compilation)", started.elapsed(), 1);

    let rounds = 20_000;
    let started = Instant::now();
    for round in 0..rounds {
        black_box(classify_user_agent(USER_AGENTS[round % USER_AGENTS.len()]));
    }
    report("per request: User-Agent parsing (mean of the mix)", started.elapsed(), rounds);

    let started = Instant::now();
    for round in 0..rounds {
        black_box(read_user_agent(USER_AGENTS[round % USER_AGENTS.len()]));
    }
    report("per request: User-Agent reading through the isolate's cache (mean of the mix)", started.elapsed(), rounds);

    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let rounds = 5_000;
    let started = Instant::now();
    for round in 0..rounds {
        let head = TrackHead {
            origin: Some("http://localhost"),
            content_type: Some("text/plain;charset=UTF-8"),
            content_length: None,
            // Browsers only: a bot's request stops before enrichment.
            user_agent: USER_AGENTS[round % 5],
            client_ip: "203.0.113.9",
            query: None,
            geo: StoredEvent { country: "DE".to_owned(), ..StoredEvent::default() },
        };
        let mut random = || Some([round as u8; 10]);
        let effects = Effects { now_ms: 1_732_300_000_000, random: &mut random, counters: &COUNTERS };
        let read_body = |_max: u64| async { Ok(BODY.as_bytes().to_vec()) };
        let outcome = runtime.block_on(api::ingest(Endpoint::Track, Ok(&config), &head, read_body, effects));
        assert_eq!(outcome.reply.status, 202, "the bench request must be accepted");
        black_box(outcome);
    }
    report("per request: POST /track with 3 events, end to end through the core", started.elapsed(), rounds);
}

fn report(what: &str, elapsed: Duration, rounds: usize) {
    let micros = elapsed.as_secs_f64() * 1e6 / rounds as f64;
    println!("{micros:10.1} µs  {what}");
}
