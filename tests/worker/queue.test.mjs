// The built edge worker in queue mode (wrangler.toml's default) under `wrangler dev`, whose local Cloudflare
// Queues run the real producer and consumer: accepted events and recording chunks go to the queue before the
// 202, the consumer produces each batch with explicit partitions, acks delivered messages, and retries only
// the messages whose partition failed. Run: node --test tests/worker/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startCapture } from "./capture.mjs";
import { uniqueSid, waitFor } from "./support.mjs";
import { startWorker } from "./wrangler-dev.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const PARTITIONS = 4;

let capture;
let worker;

before(async () => {
  execFileSync("bash", ["scripts/build-worker.sh"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  capture = await startCapture();
  worker = await startWorker({
    FORWARD_MODE: "queue",
    PROXY_URL: capture.url,
    SITES: JSON.stringify({ demo: ["localhost", "127.0.0.1"] }),
    VISITOR_SALT_SECRET: "worker-test-salt-secret",
    TOPIC_PARTITIONS: PARTITIONS,
    // The first retry after a second, so the retry tests take seconds.
    QUEUE_RETRY_BASE_S: 1,
  });
});

after(async () => {
  await worker?.stop();
  capture?.server.close();
});

test("an accepted batch is queued, then produced by the consumer with one explicit partition per session", async () => {
  const sid = uniqueSid("queued");
  const response = await track(batch(sid, [pageview("/a"), pageview("/b")]));
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), { accepted: 2, dropped: 0 });

  const [request] = await waitFor(() => capture.requestsFor(sid), (r) => r.length >= 1, "the consumer's produce request");
  assert.equal(request.path, "/topics/page_visits");
  const records = request.body.records.filter((r) => r.key === sid);
  assert.equal(records.length, 2);
  const partition = records[0].partition;
  assert.equal(partition, kafkaPartition(sid), "Kafka's own murmur2 of the key's JSON text");
  assert.ok(records.every((r) => r.partition === partition), "a session's records share a partition");
  assert.deepEqual(records.map((r) => r.value.pathname), ["/a", "/b"]);

  // The same key always maps to the same partition.
  const again = await track(batch(sid, [pageview("/c")]));
  assert.equal(again.status, 202);
  const requests = await waitFor(() => capture.requestsFor(sid), (r) => r.length >= 2, "the second produce request");
  assert.equal(requests[1].body.records.find((r) => r.key === sid).partition, partition);
});

test("a message whose partition failed is retried until delivered, and a neighbour in its batch is not resent", async () => {
  const failing = uniqueSid("failing");
  let healthy = uniqueSid("healthy");
  // The capture fails a whole partition entry, so the neighbour must live on another partition.
  while (kafkaPartition(healthy) === kafkaPartition(failing)) healthy = uniqueSid("healthy");
  capture.failing.add(failing);
  const [a, b] = await Promise.all([track(batch(failing)), track(batch(healthy))]);
  assert.deepEqual([a.status, b.status], [202, 202]);

  await waitFor(() => capture.requestsFor(failing), (r) => r.length >= 3, "two retries of the failing message", 30_000);
  assert.equal(capture.requestsFor(healthy).length, 1, "the delivered message was acked once, not resent");
  capture.failing.delete(failing);
  const before = capture.requestsFor(failing).length;
  await waitFor(() => capture.requestsFor(failing), (r) => r.length > before, "the retry after recovery", 30_000);
  const counters = await waitFor(async () => (await health()).isolate_counters, (c) => c.queue_messages_retried >= 2, "retry counter");
  assert.equal(counters.forward_failures_by_reason.partition_error >= 2, true);
  assert.equal(counters.events_dead_lettered, 0);
});

test("a resent request carries the same event ids, so the warehouse stores it once", async () => {
  const sid = uniqueSid("resent");
  const body = batch(sid, [pageview("/same")]);
  assert.equal((await track(body)).status, 202);
  assert.equal((await track(body)).status, 202);
  // Both may come in one queue batch (one produce request) or in two.
  const idsOf = (requests) => requests.flatMap((r) => r.body.records.filter((x) => x.key === sid).map((x) => x.value.event_id));
  const ids = idsOf(await waitFor(() => capture.requestsFor(sid), (r) => idsOf(r).length >= 2, "both deliveries"));
  assert.equal(ids.length, 2);
  assert.equal(ids[0], ids[1]);
  assert.match(ids[0], /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "a UUIDv8");
});

test("a recording chunk travels through the queue to the session_recordings topic with its bytes as sent", async () => {
  const sid = uniqueSid("rec");
  const bytes = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xff, 0x00, 0x10]);
  const now = Date.now();
  const envelope = new URLSearchParams({
    site: "demo", sid, tab: "Qw3rTy6uIo9pAs2d", seq: "0", part: "0", parts: "1", first: String(now - 5000),
    last: String(now - 10), n: "3", raw: "400", size: String(bytes.length), enc: "gzip", full: "1", fin: "1",
    url: "http://localhost:18080/app?secret=1",
  });
  const response = await fetch(`${worker.url}/record?${envelope}`, {
    method: "POST",
    headers: { "content-type": "text/plain", "user-agent": CHROME, origin: "http://localhost:18080" },
    body: bytes,
  });
  assert.equal(response.status, 202, await response.clone().text());
  const [request] = await waitFor(() => capture.requestsFor(sid), (r) => r.length >= 1, "the chunk's produce request");
  assert.equal(request.path, "/topics/session_recordings");
  const row = request.body.records.find((r) => r.key === sid).value;
  assert.equal(Buffer.from(row.payload, "base64").compare(bytes), 0, "never inflated or altered");
  assert.deepEqual([row.seq, row.part, row.parts, row.is_final, row.full_snapshot], [0, 0, 1, 1, 1]);
  assert.equal(row.url, "http://localhost:18080/app", "no query string stored");

  const bad = await fetch(`${worker.url}/record?${envelope.toString().replace(`size=${bytes.length}`, "size=99")}`, {
    method: "POST",
    headers: { "content-type": "text/plain", "user-agent": CHROME },
    body: bytes,
  });
  assert.equal(bad.status, 422);
  assert.equal((await bad.json()).field, "size");
});

test("GET /record.js serves the recorder, cacheable for a year under its own hash", async () => {
  const first = await fetch(`${worker.url}/record.js`);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("cache-control"), "public, max-age=3600, stale-while-revalidate=86400");
  const version = first.headers.get("etag").replaceAll('"', "");
  const pinned = await fetch(`${worker.url}/record.js?v=${version}`);
  assert.equal(pinned.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(await pinned.text(), await first.text());
});

// ---------- helpers ----------

/** Kafka's murmur2 (seed 0x9747b28c), as its Java client and Redpanda compute it. */
function murmur2(bytes) {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ bytes.length) >>> 0;
  const whole = bytes.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  switch (bytes.length & 3) {
    case 3: h ^= bytes[whole + 2] << 16; // falls through
    case 2: h ^= bytes[whole + 1] << 8; // falls through
    case 1: h = Math.imul(h ^ bytes[whole], m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a record keyed `key`: the hash of its JSON text (as the proxy writes keys), sign bit masked. */
function kafkaPartition(key) {
  return (murmur2(Buffer.from(JSON.stringify(key))) & 0x7fffffff) % PARTITIONS;
}

test("the test's murmur2 matches Kafka's test vectors", () => {
  assert.deepEqual(["21", "foobar", "abc"].map((s) => murmur2(Buffer.from(s))), [-973_932_308, -790_332_482, 479_470_107]);
});


function pageview(path) {
  return { kind: "pageview", url: `http://localhost:18080${path}`, id: `${path.replace(/\W/g, "x")}-${"k".repeat(16)}`.slice(0, 64) };
}

function batch(sid, events = [pageview("/")]) {
  return JSON.stringify({ site: "demo", sid, events });
}

function track(body) {
  return fetch(`${worker.url}/track`, {
    method: "POST",
    headers: { "content-type": "text/plain;charset=UTF-8", "user-agent": CHROME, origin: "http://localhost:18080" },
    body,
    signal: AbortSignal.timeout(30_000),
  });
}

async function health() {
  return (await fetch(`${worker.url}/health`)).json();
}

