// The worker as a user runs it locally: `wrangler dev` from the repository root, with wrangler.toml, its
// [build] command, vars given on the command line and request.cf read from CLOUDFLARE_CF_FETCH_PATH.
// Run: node --test tests/worker/
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startCapture } from "./capture.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const tools = process.env.PATHLIGHT_TOOLS ?? join(homedir(), ".cache", "pathlight-tools");
const wrangler = join(tools, "node", "node_modules", ".bin", "wrangler");
const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

test("wrangler dev serves the snippet and forwards a page view with the country from request.cf", async (t) => {
  const capture = await startCapture();
  t.after(() => capture.server.close());

  const dir = mkdtempSync(join(tmpdir(), "pathlight-wrangler-"));
  // A fresh file here is what wrangler dev uses as request.cf (instead of looking one up).
  const cfPath = join(dir, "cf.json");
  writeFileSync(cfPath, JSON.stringify({ country: "CA", city: "Toronto", region: "Ontario", continent: "NA", colo: "YYZ", asn: 812 }));
  const port = await freePort();
  const child = spawn(wrangler, [
    "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()),
    "--var", `PROXY_URL:${capture.url}`,
    "--var", "VISITOR_SALT_SECRET:wrangler-dev-test-salt",
    "--var", `SITES:${JSON.stringify({ demo: ["localhost"] })}`,
  ], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_PATH: cfPath },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (c) => (output += c));
  child.stderr.on("data", (c) => (output += c));
  t.after(async () => {
    if (child.exitCode === null) {
      process.kill(-child.pid, "SIGTERM");
      await once(child, "exit");
    }
  });

  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, () => `wrangler dev did not start:\n${output}`);

  const script = await fetch(`${base}/js`);
  assert.equal(script.status, 200);
  assert.equal(script.headers.get("content-type"), "application/javascript; charset=utf-8");

  const sid = `wranglerdev${Date.now()}`;
  const response = await fetch(`${base}/track`, {
    method: "POST",
    headers: { "content-type": "text/plain;charset=UTF-8", origin: "http://localhost:8080", "user-agent": CHROME },
    body: JSON.stringify({ site: "demo", sid, events: [{ kind: "pageview", url: "http://localhost:8080/pricing?utm_source=wrangler" }] }),
  });
  assert.equal(response.status, 202, await response.clone().text());
  assert.deepEqual(await response.json(), { accepted: 1, dropped: 0 });

  await waitFor(() => capture.requestsFor(sid).length > 0, () => `no produce request reached the proxy:\n${output}`);
  const [request] = capture.requestsFor(sid);
  assert.equal(request.path, "/topics/page_visits");
  assert.equal(request.headers["content-type"], "application/vnd.kafka.json.v2+json");
  const value = request.body.records[0].value;
  assert.deepEqual(
    [value.country, value.city, value.colo, value.asn, value.url, value.utm_source, value.browser],
    ["CA", "Toronto", "YYZ", 812, "http://localhost:8080/pricing", "wrangler", "Chrome"],
  );
});

async function freePort() {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

async function waitFor(check, describe, deadlineMs = 120_000) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(describe());
}
