// A gateway of a browser suite's own, over a database of its own on the stack's ClickHouse and broker:
// `migrate` creates the database and topics, `serve` listens on a free port (ports.mjs) with the suite's extra
// settings (credentials of the page under test), and the suite seeds rows straight into ClickHouse.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { localUrl, ports } from "../../scripts/ports.mjs";
import { poll } from "./browser.mjs";
import { withPort } from "./ports.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const GATEWAY_BIN = process.env.GATEWAY_BIN || join(ROOT, "target/debug/ingest-gateway");
export const CLICKHOUSE = localUrl("CLICKHOUSE_HTTP_PORT");
const BROKERS = `127.0.0.1:${ports.BROKER_PORT}`;

/** Runs `sql` on the stack's ClickHouse (with `body` as its data) and returns the answer's text. */
export async function clickhouse(sql, body) {
  // A connection per request: ClickHouse closes an idle keep-alive connection after 3 s, and a test that
  // blocked its event loop longer (spawnSync of the gateway's CLI) would otherwise reuse the closed socket
  // before noticing, and fail with "fetch failed".
  const response = await fetch(`${CLICKHOUSE}/?query=${encodeURIComponent(sql)}`,
    { method: "POST", body, headers: { connection: "close" } });
  const answer = await response.text();
  if (!response.ok) throw new Error(`ClickHouse: ${answer}`);
  return answer;
}

/** Inserts `rows` (objects, one row each) into `database.table`. */
export const insertRows = (database, table, rows) =>
  clickhouse(`INSERT INTO ${database}.${table} FORMAT JSONEachRow`, rows.map((row) => JSON.stringify(row)).join("\n"));

/**
 * Ends a suite's use of `database` without dropping it: dropping a database whose Kafka tables have joined
 * their consumer groups can abort ClickHouse 18.16 on librdkafka 2.12.1 (`rd_kafka_cgrp_destroy_final`), so it
 * stays until the stack is purged. Its materialized views are dropped instead (as the Rust tests'
 * TestDatabase::drop does), so that its Kafka tables stream no more: a Kafka table with views keeps polling
 * its consumers and its group busy on the broker, and with the databases of run after run still streaming
 * (about fifty), ClickHouse missed its consumers' poll deadlines ("Maximum application poll interval exceeded",
 * hundreds a minute), the broker was kept near a full core by their groups, and the stack's own page views
 * took longer than the end-to-end tests' 90 s to arrive.
 */
export async function retireDatabase(database) {
  const views = await clickhouse(
    `SELECT name FROM system.tables WHERE database = '${database}' AND engine = 'MaterializedView' FORMAT TabSeparated`,
  );
  for (const view of views.split("\n").filter(Boolean)) await clickhouse(`DROP TABLE IF EXISTS ${database}.${view}`);
}

/**
 * Migrates `database` and starts `ingest-gateway serve` on it with `env` added; resolves once `/healthz`
 * answers, to `{ origin, stop }`. `stop()` (to be awaited) ends the gateway and retires the database
 * (`retireDatabase`), which stays until the stack is purged; every suite run starts from a purged stack.
 */
export async function startGateway(database, env, deadlineMs = 30_000) {
  await clickhouse("SELECT 1").catch((error) => {
    throw new Error(`ClickHouse is not reachable at ${CLICKHOUSE} (${error.message}): start scripts/stack.sh up`);
  });
  const settings = (extra) => ({
    PATH: process.env.PATH,
    KAFKA_BROKERS: BROKERS,
    CLICKHOUSE_URL: CLICKHOUSE,
    CLICKHOUSE_DATABASE: database,
    CLICKHOUSE_KAFKA_GROUP: database,
    PAGE_VISITS_TOPIC: `${database}_visits`,
    SESSION_RECORDINGS_TOPIC: `${database}_recordings`,
    SQL_DIR: join(ROOT, "sql"),
    ...extra,
  });
  const migrated = spawnSync(GATEWAY_BIN, ["migrate"], { env: settings({}), encoding: "utf8" });
  assert.equal(migrated.status, 0, `ingest-gateway migrate failed:\n${migrated.stdout}${migrated.stderr}`);

  return withPort(async (port) => {
    const origin = `http://127.0.0.1:${port}`;
    const gateway = spawn(GATEWAY_BIN, ["serve"], {
      env: settings({ GATEWAY_LISTEN: `127.0.0.1:${port}`, ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Its log (tracing writes to stdout, a failed start to stderr), read all along so that neither pipe
    // fills up; the last 100 kB are kept for failure messages.
    let log = "";
    const keep = (data) => (log = (log + data).slice(-100_000));
    gateway.stdout.on("data", keep);
    gateway.stderr.on("data", keep);
    const exited = new Promise((resolve) => gateway.on("exit", (code, signal) => resolve(code ?? signal)));
    // Up once it logged that it serves (it has bound the port: an answer alone could come from another
    // process holding it) and answers /healthz there.
    const up = async () => log.includes("serving the produce API") && (await fetch(`${origin}/healthz`)).ok;
    await Promise.race([
      poll(`the gateway on ${origin}`, up, deadlineMs),
      exited.then((code) => {
        const error = new Error(`ingest-gateway serve exited (${code}):\n${log}`);
        error.portTaken = /cannot listen|address already in use/i.test(log);
        throw error;
      }),
    ]).catch((error) => {
      gateway.kill("SIGTERM");
      if (error.portTaken) throw error;
      throw new Error(`${error.message}\n${log}`);
    });
    const stop = async () => {
      gateway.kill("SIGTERM");
      await retireDatabase(database);
    };
    return { origin, stop };
  }).catch(async (error) => {
    await retireDatabase(database).catch(() => {});
    throw error;
  });
}
