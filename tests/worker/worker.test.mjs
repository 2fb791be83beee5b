// The built edge worker under `wrangler dev`, started as the local stack starts it (scripts/worker-dev.sh),
// forwarding to a capture server that speaks the Redpanda HTTP Proxy produce API. Run: node --test tests/worker/
// Builds the worker first (a no-op when nothing changed).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startCapture } from "./capture.mjs";
import { uniqueSid, waitFor } from "./support.mjs";
import { startWorker } from "./wrangler-dev.mjs";
import { asciiJson, CF_BLOB_HEADER, devCf } from "../../scripts/dev-geo.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SITES = JSON.stringify({ demo: ["localhost", "127.0.0.1"], "example.com": ["example.com", "*.example.com"] });
const SALT = "worker-test-salt-secret";
const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
// Measured from Debian's Chromium 156 with --headless.
const HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const MAX_ATTEMPTS = 3;

let capture;
let worker;

before(async () => {
  execFileSync("bash", ["scripts/build-worker.sh"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  capture = await startCapture();
  worker = await startWorker({
    // These tests describe forwarding in waitUntil; the queue hand-off (wrangler.toml's default) batches
    // several requests into one produce request and retries on its own schedule.
    FORWARD_MODE: "direct",
    PROXY_URL: capture.url,
    SITES,
    VISITOR_SALT_SECRET: SALT,
    FORWARD_MAX_ATTEMPTS: MAX_ATTEMPTS,
    // Short waits keep the retry test quick; the backoff arithmetic is unit-tested in the crate.
    FORWARD_BACKOFF_MS: 20,
  });
});

after(async () => {
  await worker?.stop();
  capture?.server.close();
});

// ---------- the script ----------

test("GET /js serves the snippet with cache headers and answers 304 to its ETag", async () => {
  const first = await fetch(`${worker.url}/js`);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "application/javascript; charset=utf-8");
  assert.equal(first.headers.get("cache-control"), "public, max-age=3600, stale-while-revalidate=86400");
  assert.equal(first.headers.get("access-control-allow-origin"), "*");
  const body = await first.text();
  assert.match(body, /sendBeacon/);
  const etag = first.headers.get("etag");
  assert.match(etag, /^"[0-9a-f]{32}"$/);

  const again = await fetch(`${worker.url}/js/pathlight.js`, { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("etag"), etag);
  assert.equal(await again.text(), "");

  const stale = await fetch(`${worker.url}/js`, { headers: { "if-none-match": '"something-else"' } });
  assert.equal(stale.status, 200);
  assert.equal(await stale.text(), body);
});

// ---------- forwarding ----------

test("an accepted batch is forwarded as one keyed record per event, in the produce API's exact shape", async () => {
  const sid = uniqueSid("shape");
  const sentAt = Date.now();
  const response = await track(batch(sid, [
    { kind: "pageview", url: "http://localhost:18080/pricing?utm_source=news&email=a@b.c", referrer: "https://www.google.com/search?q=x", title: "Pricing", screen_width: 1440, language: "de-DE" },
    { kind: "event", url: "http://localhost:18080/pricing", name: "signup", props: { plan: "pro" } },
  ]), { headers: { "cf-connecting-ip": "203.0.113.77" }, geo: "DE" });
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), { accepted: 2, dropped: 0 });
  assert.equal(response.headers.get("access-control-allow-origin"), "http://localhost:18080");
  assert.equal(response.headers.get("vary"), "Origin");

  const [request] = await waitFor(() => capture.requestsFor(sid), (r) => r.length === 1, `the batch of ${sid}`);
  assert.equal(request.path, "/topics/page_visits");
  assert.equal(request.headers["content-type"], "application/vnd.kafka.json.v2+json");
  assert.equal(request.body.records.length, 2);
  const [pageview, event] = request.body.records;
  for (const record of request.body.records) {
    assert.equal(record.key, sid);
    assert.deepEqual(Object.keys(record).sort(), ["key", "value"]);
  }
  const v = pageview.value;
  assert.match(v.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(v.event_id, event.value.event_id);
  assert.equal(v.schema_version, 1);
  assert.equal(v.kind, "pageview");
  assert.equal(v.site, "demo");
  assert.equal(v.session_id, sid);
  assert.match(v.visitor_id, /^[0-9a-f]{32}$/);
  assert.equal(event.value.visitor_id, v.visitor_id);
  assert.ok(v.timestamp_ms >= sentAt - 5_000 && v.timestamp_ms <= Date.now() + 5_000, `timestamp_ms ${v.timestamp_ms}`);
  assert.equal(v.timestamp, Math.floor(v.timestamp_ms / 1000));
  assert.equal(v.url, "http://localhost:18080/pricing");
  assert.equal(v.hostname, "localhost");
  assert.equal(v.pathname, "/pricing");
  assert.equal(v.utm_source, "news");
  assert.equal(v.referrer, "https://www.google.com/search");
  assert.equal(v.referrer_host, "www.google.com");
  assert.equal(v.title, "Pricing");
  assert.equal(v.screen_width, 1440);
  assert.equal(v.language, "de-DE");
  assert.equal(v.browser, "Chrome");
  assert.equal(v.os, "Windows 10");
  assert.equal(v.device, "pc");
  assert.equal(v.ip, "203.0.113.0", "IPv4 truncated to /24 by default");
  assert.equal(v.country, "DE");
  assert.equal(v.city, "Berlin");
  assert.equal(v.colo, "TXL");
  assert.equal(v.asn, 3320);
  assert.equal(event.value.kind, "event");
  assert.equal(event.value.event_name, "signup");
  assert.equal(event.value.props, '{"plan":"pro"}');
});

test("the country of each request comes from its own request.cf", async () => {
  const cases = [
    { geo: "JP", country: "JP", city: "Tokyo" },
    { geo: "BR", country: "BR", city: "São Paulo" },
    { geo: JSON.stringify({ country: "FR", city: "Lyon" }), country: "FR", city: "Lyon" },
    // Without the header: the default location of scripts/dev-cf.json, which wrangler dev reads from its cf file.
    { geo: undefined, country: "US", city: "San Jose", colo: "SJC", asn: 13335 },
    // Cloudflare omits fields it does not know; the worker must neither panic nor invent them.
    { geo: JSON.stringify({ country: null, city: null, colo: null, asn: null }), country: "XX", city: "" },
  ];
  const sids = cases.map((c, i) => uniqueSid(`geo${i}`));
  const statuses = await Promise.all(cases.map(async (c, i) => (await track(batch(sids[i]), { geo: c.geo })).status));
  assert.deepEqual(statuses, cases.map(() => 202));
  for (const [i, c] of cases.entries()) {
    const [request] = await waitFor(() => capture.requestsFor(sids[i]), (r) => r.length === 1, `the batch of ${sids[i]}`);
    const value = request.body.records[0].value;
    assert.equal(value.country, c.country, `geo ${c.geo}`);
    assert.equal(value.city, c.city, `geo ${c.geo}`);
    if (c.colo !== undefined) assert.deepEqual([value.colo, value.asn], [c.colo, c.asn], `geo ${c.geo}`);
  }
});

test("a partition error inside an HTTP 200 is retried, then counted in /health", async () => {
  // Earlier tests' batches are forwarded after their answers; start once every accepted event is settled.
  const before = await waitFor(counters, (c) => c.events_forwarded + c.events_lost_after_retries === c.events_accepted,
    "earlier forwards to settle");
  const sid = uniqueSid("fail"); // the capture server fails every partition of a batch whose key starts with "fail"
  assert.equal((await track(batch(sid, [{ kind: "pageview", url: "http://127.0.0.1/a" }, { kind: "pageview", url: "http://127.0.0.1/b" }]))).status, 202);

  const requests = await waitFor(() => capture.requestsFor(sid), (r) => r.length === MAX_ATTEMPTS, `${MAX_ATTEMPTS} attempts for ${sid}`);
  assert.deepEqual(requests.map((r) => r.body), Array(MAX_ATTEMPTS).fill(requests[0].body), "each retry resends the whole batch");
  const afterRetries = await waitFor(counters, (c) => c.events_lost_after_retries - before.events_lost_after_retries === 2, "the lost events to be counted");
  assert.equal(afterRetries.forward_failures_by_reason.partition_error - before.forward_failures_by_reason.partition_error, MAX_ATTEMPTS);
  assert.equal(afterRetries.events_forwarded, before.events_forwarded, "nothing of this batch counts as forwarded");
});

// ---------- bots ----------

test("crawlers and headless browsers get a 202 but are dropped, counted and never forwarded", async () => {
  const before = await counters();
  const botSids = [];
  for (const userAgent of [GOOGLEBOT, HEADLESS, ""]) {
    const sid = uniqueSid("bot");
    botSids.push(sid);
    const response = await track(batch(sid), { userAgent });
    assert.equal(response.status, 202, userAgent);
    assert.deepEqual(await response.json(), { accepted: 0, dropped: 1 }, userAgent);
  }
  // A person's batch sent afterwards arrives; by then the bots' would have too, had any been forwarded.
  const person = uniqueSid("person");
  assert.equal((await track(batch(person))).status, 202);
  await waitFor(() => capture.requestsFor(person), (r) => r.length === 1, `the batch of ${person}`);
  for (const sid of botSids) assert.deepEqual(capture.requestsFor(sid), [], `${sid} must not be forwarded`);
  const after = await counters();
  assert.equal(after.bot_events_dropped - before.bot_events_dropped, 3);
  assert.equal(after.bot_requests_dropped - before.bot_requests_dropped, 3);
});

// ---------- CORS ----------

test("a CORS preflight is answered for a configured origin and refused for any other", async () => {
  const allowed = await fetch(`${worker.url}/track`, {
    method: "OPTIONS",
    headers: { origin: "https://shop.example.com", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
  });
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get("access-control-allow-origin"), "https://shop.example.com");
  assert.equal(allowed.headers.get("access-control-allow-methods"), "POST, OPTIONS");
  assert.equal(allowed.headers.get("access-control-allow-headers"), "Content-Type");
  assert.equal(allowed.headers.get("access-control-max-age"), "86400");
  assert.equal(allowed.headers.get("vary"), "Origin");

  const refused = await fetch(`${worker.url}/track`, {
    method: "OPTIONS",
    headers: { origin: "https://evil.example.net", "access-control-request-method": "POST" },
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.headers.get("access-control-allow-origin"), null);
  assert.equal((await refused.json()).error, "origin_not_allowed");
});

// ---------- client garbage ----------

test("garbage, oversized and mistyped bodies get a 4xx JSON error, are counted by reason, and nothing is forwarded", async () => {
  const before = await counters();
  const tenMegabytes = Buffer.alloc(10 * 1024 * 1024, "a");
  const [formSid, unknownSiteSid, foreignSid] = [uniqueSid("form"), uniqueSid("nope"), uniqueSid("foreign")];
  const cases = [
    { name: "empty body", body: "", status: 400, error: "empty_body" },
    { name: "binary junk", body: Uint8Array.from({ length: 512 }, (_, i) => (i * 37) % 256), status: 400, error: "malformed_json" },
    { name: "truncated JSON", body: '{"site":"demo","sid":', status: 400, error: "malformed_json" },
    { name: "wrong JSON shape", body: "[1,2,3]", status: 422, error: "invalid_shape" },
    { name: "invalid field", body: JSON.stringify({ site: "demo", sid: "x", events: [] }), status: 422, error: "invalid_field" },
    { name: "10 MB with Content-Length", body: tenMegabytes, status: 413, error: "payload_too_large" },
    { name: "form content type", body: batch(formSid), contentType: "application/x-www-form-urlencoded", status: 415, error: "unsupported_media_type" },
    { name: "unknown site", body: JSON.stringify({ site: "nope.com", sid: unknownSiteSid, events: [{ kind: "pageview", url: "http://localhost/" }] }), status: 403, error: "unknown_site" },
    { name: "foreign page hostname", body: JSON.stringify({ site: "demo", sid: foreignSid, events: [{ kind: "pageview", url: "https://evil.example.net/" }] }), status: 403, error: "site_not_allowed" },
    // Not here: a body past the limit without Content-Length. Locally every request passes wrangler dev's
    // proxy, which streams the body on to the worker; when the worker refuses it after MAX_BODY_BYTES + 1
    // bytes, bytes still in flight make the proxy answer its own 503 ("Your worker restarted mid-request") or
    // reset the connection, and on a loaded machine it was seen to stop answering altogether (wrangler 4.86.0).
    // Cloudflare's edge delivers the early 413. The worker's reading stops at the limit whatever the headers
    // say: `the_body_limit_counts_bytes_read_even_without_a_content_length` in edge-worker/src/api.rs.
  ];
  for (const c of cases) {
    const response = await track(typeof c.body === "function" ? c.body() : c.body, { contentType: c.contentType });
    assert.equal(response.status, c.status, c.name);
    assert.equal(response.headers.get("content-type"), "application/json", c.name);
    const body = await response.json();
    assert.equal(body.error, c.error, c.name);
    assert.equal(typeof body.message, "string", c.name);
  }
  const after = await counters();
  for (const error of new Set(cases.map((c) => c.error))) {
    const expected = cases.filter((c) => c.error === error).length;
    const counted = after.requests_rejected_by_reason[error] - (before.requests_rejected_by_reason[error] ?? 0);
    assert.equal(counted, expected, `refusals counted as ${error}`);
  }
  const marker = uniqueSid("after-garbage");
  assert.equal((await track(batch(marker))).status, 202, "the worker still accepts a good batch");
  await waitFor(() => capture.requestsFor(marker), (r) => r.length === 1, `the batch of ${marker}`);
  for (const sid of [formSid, unknownSiteSid, foreignSid]) assert.deepEqual(capture.requestsFor(sid), [], `${sid} must not be forwarded`);
});

test("unknown paths are a 404 and wrong methods a 405, both JSON", async () => {
  const missing = await fetch(`${worker.url}/wp-admin`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error, "not_found");
  const wrong = await fetch(`${worker.url}/track`);
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST, OPTIONS");
  assert.equal((await wrong.json()).error, "method_not_allowed");
});

test("an invalid configuration answers 503 naming the variable to set", async () => {
  const broken = await startWorker({ PROXY_URL: "not a url", SITES, VISITOR_SALT_SECRET: SALT });
  try {
    const response = await track(batch(uniqueSid("cfg")), { base: broken.url });
    assert.equal(response.status, 503);
    const body = await response.json();
    assert.equal(body.error, "config_error");
    assert.equal(body.field, "PROXY_URL");
    assert.match(body.message, /PROXY_URL/);
    const health = await fetch(`${broken.url}/health`);
    assert.equal(health.status, 503);
    assert.match((await health.json()).config_error, /PROXY_URL/);
  } finally {
    await broken.stop();
  }
});

// ---------- helpers ----------


function batch(sid, events = [{ kind: "pageview", url: "http://localhost:18080/" }]) {
  return JSON.stringify({ site: "demo", sid, events });
}

/** POSTs to /track. */
async function track(body, { userAgent = CHROME, origin = "http://localhost:18080", geo, contentType = "text/plain;charset=UTF-8", headers = {}, base = worker.url } = {}) {
  const response = await fetch(`${base}/track`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      "user-agent": userAgent,
      origin,
      ...(geo !== undefined && { [CF_BLOB_HEADER]: asciiJson(devCf(geo)) }),
      ...headers,
    },
    body,
    // A worker that never answers fails the test instead of hanging the suite.
    signal: AbortSignal.timeout(30_000),
  });
  return response;
}


async function counters() {
  const response = await fetch(`${worker.url}/health`);
  return (await response.json()).isolate_counters;
}

