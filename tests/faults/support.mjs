// What the outage tests (outages.test.mjs) share: the stack they run against, taking one of its components
// down and up again (scripts/stack.sh stop/start), paced load with a tally of every answer, edge workers of
// their own, and counting what reached ClickHouse.
//
// The stack is the one the environment names, exactly as scripts/env.sh and scripts/ports.mjs read it
// (PATHLIGHT_STATE, the port variables of scripts/ports.env, CLICKHOUSE_DATABASE).
import { execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { localUrl } from "../../scripts/ports.mjs";
import { storedEvent } from "../../scripts/bench/bodies.mjs";
import { withPort } from "../support/ports.mjs";

// wrangler colours its log lines.
const ANSI = /\x1b\[[0-9;]*m/g;

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const stack = {
  gatewayUrl: localUrl("GATEWAY_PORT"),
  clickhouseUrl: localUrl("CLICKHOUSE_HTTP_PORT"),
  database: process.env.CLICKHOUSE_DATABASE ?? "pathlight",
  topic: process.env.PAGE_VISITS_TOPIC ?? "page_visits",
  logs: process.env.PATHLIGHT_LOGS ?? (process.env.PATHLIGHT_STATE ? join(process.env.PATHLIGHT_STATE, "logs") : undefined),
};

// A desktop browser: the worker drops HTTP libraries (Node's own user agent among them) as bots.
export const CHROME_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

// ---------- polling ----------

export const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `get` until `done(value)` holds; throws at the deadline with the last value. */
export async function waitFor(get, done, what, { deadlineMs = 60_000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    let value;
    let error;
    try {
      value = await get();
      if (done(value)) return value;
    } catch (e) {
      error = e; // a component still starting up; the deadline decides
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${deadlineMs / 1000} s waiting for ${what}; last value: ${
        error ? `error ${error.message}` : JSON.stringify(value)}`);
    }
    await pause(intervalMs);
  }
}

// ---------- the stack's components ----------

const run = promisify(execFile);

/**
 * `scripts/stack.sh stop|start NAME` on the stack of the environment. Asynchronous on purpose: the load
 * keeps flowing from this process while a component goes down and comes back.
 */
export async function stackCommand(action, component) {
  const started = Date.now();
  let stderr;
  try {
    ({ stderr } = await run("bash", [join(root, "scripts/stack.sh"), action, component], { cwd: root, timeout: 180_000 }));
  } catch (error) {
    throw new Error(`scripts/stack.sh ${action} ${component} failed:\n${error.stderr ?? error.message}`);
  }
  // stack.sh kills what does not stop within STOP_TIMEOUT_S of SIGTERM, and says so.
  return { ms: Date.now() - started, killed: /killing it/.test(stderr) };
}

/** Every component answers: the tests start from a whole stack and leave one behind. */
export async function stackAnswers() {
  const ok = async (url) => (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
  return (await ok(`${stack.gatewayUrl}/healthz`)) && (await ok(`${stack.clickhouseUrl}/ping`));
}

/**
 * Takes `component` down for `outageMs` and brings it back, keeping `clock` (phase, upAt) current so the
 * load can tell its requests apart by when they were sent and stop a while after the restart. The outage
 * is deliberate, hence a plain wait.
 */
export async function outage(component, outageMs, clock) {
  clock.phase = "stopping";
  const stopped = await stackCommand("stop", component);
  clock.phase = "down";
  await pause(outageMs);
  clock.phase = "starting";
  const started = await stackCommand("start", component);
  clock.phase = "up";
  clock.upAt = Date.now();
  return { stop_ms: stopped.ms, killed_after_sigterm_timeout: stopped.killed, start_ms: started.ms };
}

/** A clock for `outage`, and the load's stop condition: `afterMs` past the restart. */
export function outageClock(afterMs) {
  const clock = { phase: "before", upAt: 0 };
  clock.loadDone = () => clock.upAt > 0 && Date.now() - clock.upAt >= afterMs;
  return clock;
}

/** Where a stack component's log ends now, so that `panicsSince` reads only what came after. */
export function logEnd(component) {
  try {
    return statSync(join(stack.logs, `${component}.log`)).size;
  } catch {
    return 0;
  }
}

/** Each panic a (Rust) component logged after `offset`: the "panicked at" line and its message. */
export function panicsSince(component, offset) {
  try {
    const lines = readFileSync(join(stack.logs, `${component}.log`)).subarray(offset).toString("utf8")
      .replace(ANSI, "").split("\n");
    return lines.flatMap((line, i) => (line.includes("panicked at") ? [`${line.trim()} ${lines[i + 1] ?? ""}`] : []));
  } catch {
    return [];
  }
}

// ---------- load ----------

/**
 * Calls `send(i)` at a fixed rate, without waiting for earlier answers (an outage makes answers slow; the
 * load must not slow down with them), until `done()` holds or `maxCount` requests went out, and resolves
 * with every result in order.
 */
export async function pacedLoad(maxCount, perSecond, send, done = () => false) {
  const start = Date.now();
  const results = [];
  for (let i = 0; i < maxCount && !done(); i++) {
    const due = start + (i * 1000) / perSecond;
    if (due > Date.now()) await pause(due - Date.now());
    results.push(send(i));
  }
  return Promise.all(results);
}

/** 16 characters of [A-Za-z0-9], as the snippet makes its session and event ids. */
export const snippetId = () => randomBytes(24).toString("base64").replace(/\W/g, "").slice(0, 16);

/** A unique site id per run and purpose, so every count is this run's alone. */
export const runSite = (purpose) => `faults-${purpose}-${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;

/** A /track body of `events` page views and custom events, each with its own snippet-style id and path. */
export function trackBody(site, sid, paths) {
  const events = paths.map((path, k) =>
    k === 0
      ? { kind: "pageview", url: `http://localhost${path}`, title: "Outage", id: snippetId() }
      : { kind: "event", url: `http://localhost${path}`, name: "outage_load", props: { k }, id: snippetId() });
  return JSON.stringify({ site, sid, events });
}

/** POSTs a /track body as a browser on localhost would; resolves with the status and body, or the error. */
export async function track(workerUrl, body) {
  try {
    const response = await fetch(`${workerUrl}/track`, {
      method: "POST",
      // A connection per request: wrangler dev closes a keep-alive connection after 5 s idle, and a request
      // sent on one it is closing fails with "other side closed" before the worker sees it (seen once in a
      // run under load), which is the harness's race, not an answer of the worker's.
      headers: { "content-type": "text/plain;charset=UTF-8", "user-agent": CHROME_UA, origin: "http://localhost", connection: "close" },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: 0, body: String(error.cause ?? error) };
  }
}

/** A stored event as the worker produces it (scripts/bench/bodies.mjs), marked by its site and path. */
export function storedRow(site, path) {
  return { ...storedEvent(0), event_id: randomUUID(), site, session_id: snippetId(), url: `https://faults.example${path}`, pathname: path };
}

/**
 * POSTs records to the gateway's produce API and classifies the answer: acknowledged (200 and every
 * partition without error_code), refused retryably (5xx, or a partition error_code in a 200), or neither
 * (anything else, including no answer: the tests fail on those).
 */
export async function produce(rows) {
  const body = JSON.stringify({ records: rows.map((value) => ({ key: value.session_id, value })) });
  try {
    const response = await fetch(`${stack.gatewayUrl}/topics/${stack.topic}`, {
      method: "POST",
      headers: { "content-type": "application/vnd.kafka.json.v2+json" },
      body,
      // Past the gateway's own REQUEST_TIMEOUT_MS (30 s): a request still unanswered then is a finding.
      signal: AbortSignal.timeout(45_000),
    });
    const text = await response.text();
    if (response.status === 200) {
      const offsets = JSON.parse(text).offsets ?? [];
      const failed = offsets.filter((o) => o.error_code !== undefined && o.error_code !== 0);
      return failed.length ? { outcome: "partition_error", status: 200, detail: text } : { outcome: "acknowledged", status: 200 };
    }
    return { outcome: response.status >= 500 ? "refused_5xx" : "other", status: response.status, detail: text.slice(0, 300) };
  } catch (error) {
    return { outcome: "other", status: 0, detail: String(error.cause ?? error) };
  }
}

// ---------- edge workers of the tests' own ----------

/**
 * Starts the edge worker with `vars` over wrangler.toml's, through scripts/worker-dev.sh (the one way the
 * project runs it), on free ports (again on others if another process took them first). Unlike
 * tests/worker/wrangler-dev.mjs, its output goes to a log file, whose tally lines the tests add up
 * (`tallies`) and whose volume under load would drown the test output.
 */
export function startWorker(name, vars) {
  return withPort((port) => startWorkerOn(port, name, vars), { pair: true });
}

async function startWorkerOn(port, name, vars) {
  const dir = mkdtempSync(join(tmpdir(), `pathlight-faults-${name}-`));
  const logFile = join(stack.logs ?? dir, `faults-worker-${name}.log`);
  const out = openSync(logFile, "w");
  const args = [join(root, "scripts/worker-dev.sh"), String(port), dir, "--env-file", "/dev/null"];
  for (const [key, value] of Object.entries(vars)) args.push("--var", `${key}:${value}`);
  const child = spawn("bash", args, { cwd: root, stdio: ["ignore", out, out], detached: true });
  closeSync(out);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, "SIGTERM"); // wrangler and its workerd share the child's process group
      await once(child, "exit");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    // The first start may build the worker (wrangler.toml's [build] command). Up once wrangler says it
    // listens on this port (an answer alone could come from another process holding it) and answers.
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the ${name} worker exited (${child.exitCode ?? child.signalCode})`);
      const ready = readFileSync(logFile, "utf8").replace(ANSI, "").includes(`Ready on ${url}`);
      if (ready && (await fetch(`${url}/health`).then((r) => r.status, () => 0)) === 200) break;
      if (Date.now() > deadline) throw new Error(`timed out after 300 s waiting for the ${name} worker on ${url} (log: ${logFile})`);
      await pause(250);
    }
  } catch (error) {
    await stop();
    const log = readFileSync(logFile, "utf8");
    const failure = new Error(`${error.message}\n${log.slice(-3000)}`);
    failure.portTaken = /address already in use/i.test(log.replace(ANSI, ""));
    throw failure;
  }
  return {
    url,
    logFile,
    stop,
    async counters() {
      return (await (await fetch(`${url}/health`)).json()).isolate_counters;
    },
    /** The JSON objects of the log whose `msg` or `tally` field is as given. */
    logged(field, value) {
      const found = [];
      for (const line of readFileSync(logFile, "utf8").replace(ANSI, "").split("\n")) {
        const start = line.indexOf("{");
        if (start < 0) continue;
        try {
          const object = JSON.parse(line.slice(start));
          if (object[field] === value) found.push(object);
        } catch {
          // wrangler's own lines
        }
      }
      return found;
    },
  };
}

// ---------- ClickHouse ----------

export async function clickhouse(sql) {
  const response = await fetch(`${stack.clickhouseUrl}/?default_format=JSON`, {
    method: "POST",
    body: sql,
    headers: { connection: "close" }, // see tests/support/gateway.mjs, clickhouse()
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`ClickHouse answered ${response.status}: ${text}`);
  return JSON.parse(text).data;
}

const sqlString = (s) => `'${String(s).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** Rows per path of one site after deduplication (FINAL), and the site's rows before it. */
export async function storedBySite(site) {
  const table = `${stack.database}.page_visits`;
  const perPath = await clickhouse(
    `SELECT pathname, count() AS rows, uniqExact(event_id) AS ids FROM ${table} FINAL WHERE site = ${sqlString(site)} GROUP BY pathname`);
  const [{ raw }] = await clickhouse(`SELECT count() AS raw FROM ${table} WHERE site = ${sqlString(site)}`);
  return { perPath: new Map(perPath.map((r) => [r.pathname, { rows: Number(r.rows), ids: Number(r.ids) }])), raw: Number(raw) };
}

/** Whether every path of `expected` has reached ClickHouse (the condition the tests poll for). */
export const holdsAll = (expected) => (stored) => [...expected].every((path) => stored.perPath.has(path));

/**
 * Compares one site's rows in ClickHouse with the paths that must be there exactly once (`expected`) and
 * those that may be (`allowed`: sent but not acknowledged). Every path is one event with its own id, so
 * `duplicates` counts the rows beyond one per path after FINAL, and `unexpected` the paths nobody may find.
 */
export function reconcile(stored, expected, allowed = new Set()) {
  const missing = [...expected].filter((path) => !stored.perPath.has(path));
  let duplicates = 0;
  let unacknowledgedStored = 0;
  const unexpected = [];
  for (const [path, { rows }] of stored.perPath) {
    duplicates += rows - 1;
    if (expected.has(path)) continue;
    if (allowed.has(path)) unacknowledgedStored++;
    else unexpected.push(path);
  }
  const rowsAfterDedup = [...stored.perPath.values()].reduce((n, e) => n + e.rows, 0);
  const distinctEventIds = [...stored.perPath.values()].reduce((n, e) => n + e.ids, 0);
  return {
    stored: expected.size - missing.length, missing, duplicates, unexpected, unacknowledgedStored,
    rowsAfterDedup, distinctEventIds, rowsBeforeDedup: stored.raw,
  };
}

/** One line per test run, greppable: `outage counts {"test":...}`. */
export function printCounts(test, counts) {
  console.log(`outage counts ${JSON.stringify({ test, ...counts })}`);
}

export function tally(values) {
  const out = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
