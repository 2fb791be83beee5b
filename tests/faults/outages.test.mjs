// Outages while events flow, on the local stack: the produce proxy (gateway) behind the edge worker, the
// broker, and ClickHouse are each taken down and brought back (scripts/stack.sh stop/start) under paced
// load; afterwards everything acknowledged must be in ClickHouse exactly once (after FINAL), and a browser's
// retried /track request must be stored once. Each test prints its counts as an `outage counts {...}` line.
//
// These tests stop components of the stack the environment names, so they refuse to run unless
// PATHLIGHT_STATE is set (a private stack: `source scripts/env.sh; use_private_stack NAME DIGIT;
// scripts/stack.sh up`), and they live in one file so that no two outages ever overlap. They start edge
// workers of their own (scripts/worker-dev.sh) in front of the stack's gateway, to choose the hand-off mode
// and to read counters that no other traffic touches.
//
//   node --test tests/faults/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  holdsAll, logEnd, outage, outageClock, pacedLoad, pause, printCounts, produce, reconcile, runSite, snippetId,
  panicsSince, stack, stackAnswers, stackCommand, startWorker, storedBySite, storedRow, tally, track, trackBody,
  waitFor,
} from "./support.mjs";

// Per-run sites keep every count to this run. One worker in each hand-off mode; the queue one also serves
// the retry test.
const sites = { edgeQueue: runSite("edge-queue"), edgeDirect: runSite("edge-direct"), retry: runSite("retry") };
const workerVars = (mode, siteIds) => ({
  FORWARD_MODE: mode,
  PROXY_URL: stack.gatewayUrl,
  SITES: JSON.stringify(Object.fromEntries(siteIds.map((s) => [s, ["localhost"]]))),
  VISITOR_SALT_SECRET: `faults-${snippetId()}`,
});

const workers = {};
const queueWorker = () =>
  (workers.queue ??= startWorker("queue", workerVars("queue", [sites.edgeQueue, sites.retry])));

before(async () => {
  assert.ok(process.env.PATHLIGHT_STATE,
    "these tests stop and start the stack's components: run them on a private stack (PATHLIGHT_STATE set by use_private_stack in scripts/env.sh)");
  assert.ok(await stackAnswers().catch(() => false),
    `the stack must be up (scripts/stack.sh up): gateway ${stack.gatewayUrl}, ClickHouse ${stack.clickhouseUrl}`);
});

after(async () => {
  await Promise.all(Object.values(workers).map(async (w) => (await w.catch(() => null))?.stop()));
  // A test that failed midway may have left a component down; the next tier needs the whole stack.
  for (const component of ["broker", "clickhouse", "gateway"]) await stackCommand("start", component);
});

/** A load's answers by the outage phase they were sent in, so a run shows the load really spanned it. */
function assertSpansTheOutage(results) {
  const phases = tally(results.map((r) => r.sentIn));
  for (const [phase, when] of [["before", "before the outage"], ["down", "during it"], ["up", "after the restart"]]) {
    assert.ok(phases[phase] > 0, `some load must be sent ${when}; sent by phase: ${JSON.stringify(phases)}`);
  }
  return phases;
}

// ---------- 1: the produce proxy down behind the edge worker ----------

const EDGE_OUTAGE_MS = 30_000;
const EDGE_RATE = 25; // requests/s to each worker
const EDGE_MAX_REQUESTS = EDGE_RATE * 120; // the bound of the loop; it stops 5 s after the restart

test("with the gateway down for 30 s under /track load, queue mode stores every accepted event once and direct mode counts every event it loses", async (t) => {
  const [queue, direct] = await Promise.all([
    queueWorker(),
    (workers.direct = startWorker("direct", workerVars("direct", [sites.edgeDirect]))),
  ]);
  const before = { queue: await queue.counters(), direct: await direct.counters() };

  const clock = outageClock(5_000);
  const load = (worker, site) =>
    pacedLoad(EDGE_MAX_REQUESTS, EDGE_RATE, async (i) => {
      const paths = Array.from({ length: 1 + (i % 3) }, (_, k) => `/r${i}/e${k}`);
      const sid = snippetId();
      const sentIn = clock.phase;
      const answer = await track(worker.url, trackBody(site, sid, paths));
      const accepted = answer.status === 202 ? JSON.parse(answer.body).accepted : 0;
      return { sid, paths, sentIn, accepted, ...answer };
    }, clock.loadDone);
  const loads = Promise.all([load(queue, sites.edgeQueue), load(direct, sites.edgeDirect)]);
  await pause(5_000); // the outage begins while events flow
  const timing = await outage("gateway", EDGE_OUTAGE_MS, clock);
  const [queueResults, directResults] = await loads;

  const summarise = (results) => {
    const acknowledged = results.filter((r) => r.status === 202);
    for (const r of acknowledged) assert.equal(r.accepted, r.paths.length, `all events of ${r.sid} accepted: ${r.body}`);
    const refused = results.filter((r) => r.status !== 202);
    // A 503 (with Retry-After) is the one refusal the snippet retries; anything else would lose events.
    assert.deepEqual(refused.filter((r) => r.status !== 503).map((r) => `${r.status} ${r.body}`), [], "only 202 or 503 answers");
    return {
      acknowledged,
      counts: {
        sent: results.reduce((n, r) => n + r.paths.length, 0),
        requests: results.length,
        acknowledged: acknowledged.reduce((n, r) => n + r.paths.length, 0),
        refused_503: refused.length,
        // wrangler dev's own proxy answers 503 "Your worker restarted mid-request" without reaching the worker.
        ...(refused.length && { refused_answers: tally(refused.map((r) => `${r.status} ${r.body.slice(0, 100)}`)) }),
        sent_by_phase: assertSpansTheOutage(results),
      },
    };
  };

  await t.test("queue mode: every event answered 202 is in ClickHouse exactly once", async () => {
    const { acknowledged, counts } = summarise(queueResults);
    const expected = new Set(acknowledged.flatMap((r) => r.paths));
    // The consumer's retry delays grow with a message's age (up to 1.5 times it): a message that failed
    // just before the restart may wait about 45 s more.
    const stored = await waitFor(() => storedBySite(sites.edgeQueue), holdsAll(expected),
      "every accepted event of queue mode in ClickHouse", { deadlineMs: 180_000 }).catch(() => storedBySite(sites.edgeQueue));
    const now = await queue.counters();
    const delta = (name) => now[name] - before.queue[name];
    const result = reconcile(stored, expected);
    printCounts("edge-outage-queue", {
      ...counts, stored: result.stored, duplicates: result.duplicates, missing: result.missing.length,
      unexpected: result.unexpected.length, rows_before_dedup: result.rowsBeforeDedup,
      distinct_event_ids: result.distinctEventIds, worker_accepted: delta("events_accepted"),
      worker_forwarded: delta("events_forwarded"), queue_messages_retried: delta("queue_messages_retried"),
      dead_lettered: delta("events_dead_lettered"), outage_ms: EDGE_OUTAGE_MS, ...timing,
    });
    assert.deepEqual(result.missing.slice(0, 20), [], `${result.missing.length} accepted events never reached ClickHouse`);
    assert.equal(result.duplicates, 0, "no event stored twice");
    assert.deepEqual(result.unexpected, [], "nothing stored that was not accepted");
    assert.equal(result.distinctEventIds, result.rowsAfterDedup, "one event id per stored row");
    assert.equal(delta("events_accepted"), counts.acknowledged, "the worker counted what it answered 202 for");
    assert.equal(delta("events_dead_lettered"), 0, "nothing dead-lettered");
  });

  await t.test("direct mode: every event answered 202 is stored once or counted lost, never both", async () => {
    const { acknowledged, counts } = summarise(directResults);
    // Forwarding runs after the answer (waitUntil); it is over when every accepted event is forwarded or lost.
    const settled = await waitFor(() => direct.counters(),
      (c) => c.events_forwarded - before.direct.events_forwarded + c.events_lost_after_retries - before.direct.events_lost_after_retries === counts.acknowledged,
      "direct mode to settle every accepted event (forwarded + lost = accepted)", { deadlineMs: 90_000 });
    const lostCounter = settled.events_lost_after_retries - before.direct.events_lost_after_retries;
    // The counter is the isolate's own; its log lines reach the log file later, through wrangler's output.
    const readLostLog = () => {
      const lostSids = new Set(direct.logged("msg", "forward failed; events lost").filter((l) => l.site === sites.edgeDirect).map((l) => l.session_id));
      const lostTallies = direct.logged("tally", "events_lost").filter((l) => l.site === sites.edgeDirect).reduce((n, l) => n + l.count, 0);
      const lostPaths = new Set(acknowledged.filter((r) => lostSids.has(r.sid)).flatMap((r) => r.paths));
      return { lostSids, lostTallies, lostPaths };
    };
    const { lostSids, lostTallies, lostPaths } = await waitFor(async () => readLostLog(),
      (log) => log.lostTallies === lostCounter && log.lostPaths.size === lostCounter,
      "the log to name and tally every lost event", { deadlineMs: 30_000, intervalMs: 250 }).catch(() => readLostLog());
    const expected = new Set(acknowledged.filter((r) => !lostSids.has(r.sid)).flatMap((r) => r.paths));
    const stored = await waitFor(() => storedBySite(sites.edgeDirect), holdsAll(expected),
      "every forwarded event of direct mode in ClickHouse", { deadlineMs: 120_000 }).catch(() => storedBySite(sites.edgeDirect));
    const result = reconcile(stored, expected);
    printCounts("edge-outage-direct", {
      ...counts, stored: result.stored, lost_counted: lostCounter, lost_tallied_in_log: lostTallies,
      lost_logged_events: lostPaths.size, duplicates: result.duplicates, missing: result.missing.length,
      stored_though_counted_lost: result.unexpected.filter((p) => lostPaths.has(p)).length,
      rows_before_dedup: result.rowsBeforeDedup, worker_forwarded: settled.events_forwarded - before.direct.events_forwarded,
      outage_ms: EDGE_OUTAGE_MS,
    });
    assert.equal(lostTallies, lostCounter, "the events_lost tallies in the log add up to the /health counter");
    assert.equal(lostPaths.size, lostCounter, "each lost event is named (by session) in a log line");
    assert.deepEqual(result.missing.slice(0, 20), [], `${result.missing.length} events neither stored nor counted lost`);
    assert.deepEqual(result.unexpected.slice(0, 20), [], "nothing stored that was counted lost or never accepted");
    assert.equal(result.duplicates, 0, "no event stored twice");
    assert.equal(result.stored + lostCounter, counts.acknowledged, "stored + counted lost = accepted");
  });
});

// ---------- 2 and 3: the broker, then ClickHouse, down behind the gateway ----------

const RECORDS_PER_REQUEST = 5;

/**
 * Produces paced batches of stored events to the gateway while `component` is down for `outageMs`, then
 * checks that every acknowledged record is in ClickHouse exactly once and every other one was refused with
 * a 5xx or a partition error.
 */
async function gatewayOutage(component, { rate, leadMs, outageMs, testName }) {
  const site = runSite(component);
  const clock = outageClock(5_000);
  const load = pacedLoad(rate * 120, rate, async (i) => {
    const paths = Array.from({ length: RECORDS_PER_REQUEST }, (_, k) => `/b${i}/r${k}`);
    const sentIn = clock.phase;
    const answer = await produce(paths.map((p) => storedRow(site, p)));
    return { paths, sentIn, ...answer };
  }, clock.loadDone);
  const brokerLog = logEnd("broker");
  await pause(leadMs); // the outage begins while records flow
  const timing = await outage(component, outageMs, clock);
  const results = await load;
  const sentByPhase = assertSpansTheOutage(results);

  // The gateway must take records again once the component is back; a last batch proves it (and is checked
  // like the others). If it does not, the test fails, but first the stack is restored by restarting the
  // broker and the gateway, so that the records can still be counted and the next tests find a whole stack.
  const failures = [];
  let attempt = 0;
  const probe = async () => {
    const paths = [`/probe/${attempt++}`];
    const result = { paths, sentIn: "probe", ...(await produce(paths.map((p) => storedRow(site, p)))) };
    results.push(result);
    return result;
  };
  const recovered = (what) =>
    waitFor(probe, (r) => r.outcome === "acknowledged", what, { deadlineMs: 45_000, intervalMs: 1_000 });
  try {
    await recovered(`the gateway to acknowledge records again after the ${component} restart`);
  } catch (error) {
    failures.push(`${error.message}\nbroker panics since the outage began: ${JSON.stringify(panicsSince("broker", brokerLog))}`);
    for (const c of ["gateway", "broker"]) await stackCommand("stop", c);
    for (const c of ["broker", "gateway"]) await stackCommand("start", c);
    await recovered("the gateway to acknowledge records after restarting the broker and the gateway");
  }

  const outcomes = tally(results.map((r) => r.outcome));
  const acknowledged = new Set(results.filter((r) => r.outcome === "acknowledged").flatMap((r) => r.paths));
  const refused = new Set(results.filter((r) => r.outcome !== "acknowledged").flatMap((r) => r.paths));
  // 18.16's Kafka engine reconnects to a restarted broker, or rejoins its group after a server restart, on
  // its own schedule: a generous deadline.
  const stored = await waitFor(() => storedBySite(site), holdsAll(acknowledged),
    `every acknowledged record in ClickHouse after the ${component} outage`, { deadlineMs: 180_000 }).catch(() => storedBySite(site));
  const result = reconcile(stored, acknowledged, refused);
  printCounts(testName, {
    sent: results.reduce((n, r) => n + r.paths.length, 0), requests: results.length, acknowledged: acknowledged.size,
    refused: refused.size, outcomes, sent_by_phase: sentByPhase, stored: result.stored,
    stored_though_refused: result.unacknowledgedStored, duplicates: result.duplicates, missing: result.missing.length,
    rows_before_dedup: result.rowsBeforeDedup, distinct_event_ids: result.distinctEventIds,
    outage_ms: outageMs, ...timing,
    ...(failures.length && { restored_by_restarting: ["broker", "gateway"] }),
  });
  const other = results.filter((r) => !["acknowledged", "refused_5xx", "partition_error"].includes(r.outcome));
  assert.deepEqual(other.slice(0, 10).map((r) => `${r.status} ${r.detail}`), [],
    "every record not acknowledged got a 5xx or a partition error_code");
  assert.deepEqual(result.missing.slice(0, 20), [], `${result.missing.length} acknowledged records never reached ClickHouse`);
  assert.equal(result.duplicates, 0, "no record stored twice");
  assert.deepEqual(result.unexpected, [], "nothing stored that was not sent");
  assert.equal(result.distinctEventIds, result.rowsAfterDedup, "one event id per stored row");
  assert.deepEqual(failures, [], `the gateway recovers from the ${component} outage by itself`);
}

test("with the broker down for 10 s under produce load, every acknowledged record is stored once and every other one got a 5xx", async () => {
  await gatewayOutage("broker", { rate: 20, leadMs: 5_000, outageMs: 10_000, testName: "broker-outage" });
});

test("with ClickHouse down for 10 s under produce load, every acknowledged record arrives once it is back", async () => {
  await gatewayOutage("clickhouse", { rate: 20, leadMs: 4_000, outageMs: 10_000, testName: "clickhouse-outage" });
});

// ---------- 5: a browser's retry ----------

test("a /track body sent twice, and once more a few seconds later, is stored once per event", async () => {
  const worker = await queueWorker();
  const before = await worker.counters();
  const sid = snippetId();
  const paths = ["/retried/e0", "/retried/e1"];
  const body = trackBody(sites.retry, sid, paths);
  const answers = [await track(worker.url, body), await track(worker.url, body)];
  await pause(3_000); // a later retry, as after a lost answer and the snippet's backoff
  answers.push(await track(worker.url, body));
  assert.deepEqual(answers.map((a) => a.status), [202, 202, 202], JSON.stringify(answers));

  // All three copies produced; then a later event of the same session goes to the same partition behind
  // them, so once it is in ClickHouse the copies have been consumed too.
  await waitFor(() => worker.counters(), (c) => c.events_forwarded - before.events_forwarded === 3 * paths.length,
    "the three copies to be produced");
  const after = "/retried/after";
  assert.equal((await track(worker.url, trackBody(sites.retry, sid, [after]))).status, 202);
  const stored = await waitFor(() => storedBySite(sites.retry), (s) => s.perPath.has(after), "the later event in ClickHouse",
    { deadlineMs: 90_000 });
  const result = reconcile(stored, new Set([...paths, after]));
  printCounts("client-retry", {
    sent: 3 * paths.length + 1, requests: 4, acknowledged: 3 * paths.length + 1, distinct_events: paths.length + 1,
    stored: result.stored, duplicates: result.duplicates, rows_before_dedup: result.rowsBeforeDedup,
    distinct_event_ids: result.distinctEventIds,
  });
  assert.deepEqual(result.missing, []);
  assert.equal(result.duplicates, 0, "each retried event is one row after FINAL");
  assert.equal(result.distinctEventIds, paths.length + 1, "the copies of an event share one event id");
  assert.deepEqual(result.unexpected, []);
});
