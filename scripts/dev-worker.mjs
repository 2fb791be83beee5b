#!/usr/bin/env node
// Runs the built edge worker (edge-worker/build/, from scripts/build-worker.sh) under miniflare on
// 127.0.0.1, with a request.cf chosen per request - which `wrangler dev` cannot do.
//
//   node scripts/dev-worker.mjs [--port 18787] [--proxy-url URL] [--sites JSON] [--var NAME=VALUE ...]
//                               [--dev-vars .dev.vars] [--cf scripts/dev-cf.json]
//
// Bindings, later ones winning: wrangler.toml [vars] < the --dev-vars file (default .dev.vars, if present)
// < environment variables of the same names < flags. VISITOR_SALT_SECRET falls back to a random per-run
// value, with a warning. `--port 0` picks a free port; the ready line says which:
//   worker listening on http://127.0.0.1:PORT
//
// Per-request geography, as under `wrangler dev`: the worker reads `request.cf` from miniflare's MF-CF-Blob
// request header (build one with scripts/dev-geo.mjs); a request without it gets the default of --cf's
// table. A missing CF-Connecting-IP is set from the client socket, as Cloudflare would.
import { readFileSync, existsSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { asciiJson, CF_BLOB_HEADER, devCf } from "./dev-geo.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tools = process.env.PATHLIGHT_TOOLS ?? join(process.env.HOME ?? "", ".cache/pathlight-tools");
const { Miniflare } = createRequire(join(tools, "node/package.json"))("miniflare");

const CONFIG_VARS = [
  "PROXY_URL", "TOPIC", "SITES", "IP_MODE", "VISITOR_SALT_SECRET", "PROXY_TOKEN", "PROXY_USERNAME",
  "PROXY_PASSWORD", "MAX_BODY_BYTES", "FORWARD_MAX_ATTEMPTS", "FORWARD_BACKOFF_MS", "DROP_BOTS",
];
// Hop-by-hop headers belong to the client's connection to this harness, not to the forwarded request.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"];

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: process.env.WORKER_PORT ?? "18787" },
    "proxy-url": { type: "string" },
    sites: { type: "string" },
    var: { type: "string", multiple: true, default: [] },
    "dev-vars": { type: "string", default: join(root, ".dev.vars") },
    cf: { type: "string", default: join(root, "scripts/dev-cf.json") },
    build: { type: "string", default: join(root, "edge-worker/build") },
  },
});

const wranglerToml = readFileSync(join(root, "wrangler.toml"), "utf8");
const bindings = {
  ...tomlSection(wranglerToml, "vars"),
  ...(existsSync(args["dev-vars"]) ? dotenv(readFileSync(args["dev-vars"], "utf8")) : {}),
  ...Object.fromEntries(CONFIG_VARS.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]])),
  ...Object.fromEntries(args.var.map((pair) => {
    const at = pair.indexOf("=");
    if (at < 1) fail(`--var ${pair}: expected NAME=VALUE`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  })),
  ...(args["proxy-url"] !== undefined && { PROXY_URL: args["proxy-url"] }),
  ...(args.sites !== undefined && { SITES: args.sites }),
};
if (!bindings.VISITOR_SALT_SECRET) {
  bindings.VISITOR_SALT_SECRET = randomBytes(24).toString("hex");
  console.error("warning: VISITOR_SALT_SECRET is not set; using a random value for this run (visitor ids will not match across restarts)");
}

const defaultCf = asciiJson(devCf(null, JSON.parse(readFileSync(args.cf, "utf8"))));
const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(wranglerToml)?.[1] ?? fail("wrangler.toml has no compatibility_date");
const entry = join(args.build, "index.js");
if (!existsSync(entry)) fail(`${entry} is missing: run scripts/build-worker.sh first`);

// Registered before miniflare's own signal hook (which exits with 128 + signal): a requested stop is a clean
// exit. Miniflare still stops workerd from its "exit" hook.
let server;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server?.close();
    process.exit(0);
  });
}

const mf = new Miniflare({
  modules: true,
  scriptPath: entry,
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate,
  bindings,
});
const entryUrl = await mf.ready;

// Cloudflare's edge still delivers a worker's early answer to an upload it did not read (a 413 after 64 KiB
// of a 10 MB body, or on Content-Length alone). Locally the upload goes straight into workerd, which resets
// the connection when it answers early with much unread data, and the client would see a reset instead.
// So this proxy forwards at most MAX_BODY_BYTES + 1 bytes - enough for the worker to refuse the body itself -
// and discards the rest; a body declared larger than that waits for workerd's verdict on the headers first
// (Expect: 100-continue, sent after 1 s without an answer, as curl does).
const bodyWindowBytes = (Number(bindings.MAX_BODY_BYTES) || 65_536) + 1;
const EXPECT_TIMEOUT_MS = 1_000;

server = createServer((req, res) => {
  const headers = { ...req.headers };
  for (const name of HOP_BY_HOP) delete headers[name];
  headers["cf-connecting-ip"] ??= (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  headers[CF_BLOB_HEADER] ??= defaultCf;
  headers["mf-disable-pretty-error"] = "true";
  const declaredTooLarge = Number(req.headers["content-length"]) >= bodyWindowBytes;
  if (declaredTooLarge) headers.expect = "100-continue";

  const upstream = httpRequest(entryUrl, { method: req.method, path: req.url, headers });
  upstream.setTimeout(30_000, () => upstream.destroy(new Error("the worker did not answer within 30 s")));
  upstream.on("response", (response) => {
    res.writeHead(response.statusCode, response.headers);
    response.pipe(res);
    // A refused body may be unfinished upstream, and the client's rest is not for anyone.
    response.on("end", () => {
      if (!upstream.writableFinished) upstream.destroy();
      req.resume();
    });
  });
  upstream.on("error", (error) => {
    if (res.headersSent) return;
    console.error(JSON.stringify({ msg: "dev harness could not reach the worker", url: req.url, error: String(error) }));
    res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: "dev_harness", message: String(error) }));
  });

  let forwarded = 0;
  const forwardBody = () => {
    if (req.listenerCount("data") || upstream.destroyed) return;
    req.on("data", (chunk) => {
      const room = bodyWindowBytes - forwarded;
      if (room <= 0 || upstream.destroyed) return;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      forwarded += part.length;
      if (!upstream.write(part)) {
        req.pause();
        upstream.once("drain", () => req.resume());
      }
    });
    // A body past the window stays unfinished upstream: the worker has seen enough to refuse it.
    req.on("end", () => forwarded < bodyWindowBytes && upstream.end());
  };
  if (declaredTooLarge) {
    upstream.once("continue", forwardBody);
    setTimeout(forwardBody, EXPECT_TIMEOUT_MS).unref();
  } else {
    forwardBody();
  }
});

server.listen(Number(args.port), "127.0.0.1");
await new Promise((ok, ko) => server.once("listening", ok).once("error", ko));
const { port } = server.address();
console.log(`worker listening on http://127.0.0.1:${port}`);

/** The `key = "value"` / `key = 'value'` lines of one TOML table: enough for wrangler.toml's [vars]. */
function tomlSection(text, name) {
  const out = {};
  let inside = false;
  for (const line of text.split("\n")) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) inside = header[1].trim() === name;
    const pair = inside && /^\s*([A-Za-z0-9_]+)\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*(#.*)?$/.exec(line);
    if (pair) out[pair[1]] = pair[2].startsWith('"') ? JSON.parse(pair[2]) : pair[2].slice(1, -1);
  }
  return out;
}

/**
 * JSON with every non-ASCII character escaped: workerd parses the cf header as UTF-8, but a Node header
 * value is Latin-1, so "São Paulo" would otherwise arrive mangled.
 */
/** NAME=value lines, as in .dev.vars; `#` starts a comment line, quotes around the value are removed. */
function dotenv(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const pair = /^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (pair && !line.trim().startsWith("#")) out[pair[1]] = pair[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  return out;
}

function fail(message) {
  console.error(`dev-worker: ${message}`);
  process.exit(2);
}
