// The local stack's default ports are written once, in scripts/ports.env (read by scripts/env.sh and
// scripts/ports.mjs). What cannot read that file is checked against it here: wrangler.toml's PROXY_URL (read
// with wrangler's own config reader), the gateway's flag defaults (from its --help) and the README.
// Run: node --test tests/worker/
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultPorts, privateStackOffsets } from "../../scripts/ports.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const tools = process.env.PATHLIGHT_TOOLS || join(homedir(), ".cache", "pathlight-tools");
const local = (name) => `127.0.0.1:${defaultPorts[name]}`;

test("wrangler.toml sends the worker's events to the gateway's port of scripts/ports.env", () => {
  const { unstable_readConfig } = createRequire(join(tools, "node", "package.json"))("wrangler");
  const config = unstable_readConfig({ config: join(root, "wrangler.toml") }, { hideWarnings: true });
  assert.equal(config.vars.PROXY_URL, `http://${local("GATEWAY_PORT")}`);
});

test("the gateway's defaults for its listen address, brokers and ClickHouse are the ports of scripts/ports.env", () => {
  execFileSync("cargo", ["build", "-q", "--locked", "-p", "ingest-gateway"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  const env = { ...process.env };
  for (const name of ["GATEWAY_LISTEN", "KAFKA_BROKERS", "CLICKHOUSE_URL"]) delete env[name];
  const gateway = join(resolve(root, process.env.CARGO_TARGET_DIR || "target"), "debug", "ingest-gateway");
  const help = execFileSync(gateway, ["--help"], { env, encoding: "utf8" });
  assert.deepEqual(
    {
      listen: flagDefault(help, "--listen"),
      kafkaBrokers: flagDefault(help, "--kafka-brokers"),
      clickhouseUrl: flagDefault(help, "--clickhouse-url"),
    },
    {
      listen: local("GATEWAY_PORT"),
      kafkaBrokers: local("BROKER_PORT"),
      clickhouseUrl: `http://${local("CLICKHOUSE_HTTP_PORT")}`,
    },
  );
});

test("every local port the README names is the one scripts/ports.env gives it", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  // "19092 (`BROKER_PORT`)", "18123 HTTP (`CLICKHOUSE_HTTP_PORT`)", "localhost:18080 (`DEMO_SITE_PORT`)"
  const named = [...readme.matchAll(/(\d{4,5})(?: \w+)? \(`([A-Z_]+_PORT)`\)/g)].map(([, port, name]) => [name, Number(port)]);
  assert.deepEqual(
    named.map(([name]) => name).sort(),
    Object.keys(defaultPorts).sort(),
    "the README names each port of scripts/ports.env once",
  );
  for (const [name, port] of named) assert.equal(port, defaultPorts[name], name);
  // Any other local address in it must use one of them too (the inspector listens on WORKER_PORT + 1).
  const known = new Set([...Object.values(defaultPorts), defaultPorts.WORKER_PORT + 1]);
  for (const [address, port] of readme.matchAll(/(?:127\.0\.0\.1|localhost):(\d+)/g)) {
    assert.ok(known.has(Number(port)), `${address} in README.md is not a port of scripts/ports.env`);
  }
  const inspector = /inspector (\d+)/.exec(readme);
  assert.equal(Number(inspector?.[1]), defaultPorts.WORKER_PORT + 1, "the worker's inspector port");
});

test("every private stack listens below the ephemeral range, apart from the others, where env.sh puts it", () => {
  const [ephemeralStart] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  const moved = Object.entries(defaultPorts).filter(([name]) => name !== "DEMO_SITE_PORT");
  const stacks = [["1", 0], ...Object.entries(privateStackOffsets)].map(([digit, offset]) => {
    const ports = moved.flatMap(([name, port]) => (name === "WORKER_PORT" ? [port + offset, port + offset + 1] : [port + offset]));
    return { digit, ports, low: Math.min(...ports), high: Math.max(...ports) };
  });
  assert.deepEqual(Object.keys(privateStackOffsets).sort(), ["2", "3", "4", "5", "6", "7", "8", "9"]);
  for (const { digit, low, high } of stacks) {
    assert.ok(low >= 1024 && high < Math.min(ephemeralStart, 32_768), `stack ${digit}: ${low}-${high}`);
  }
  const all = stacks.flatMap(({ ports }) => ports).concat(defaultPorts.DEMO_SITE_PORT);
  assert.equal(new Set(all).size, all.length, "two stacks share a port");
  for (const { digit, ports } of stacks.filter(({ digit }) => digit !== "1")) {
    const shell = execFileSync("bash", ["-c", `source scripts/env.sh; use_private_stack probe ${digit}; ` +
      "echo $BROKER_PORT $CLICKHOUSE_HTTP_PORT $CLICKHOUSE_TCP_PORT $GATEWAY_PORT $WORKER_PORT"], { cwd: root, encoding: "utf8" });
    const offset = privateStackOffsets[digit];
    const expected = ["BROKER_PORT", "CLICKHOUSE_HTTP_PORT", "CLICKHOUSE_TCP_PORT", "GATEWAY_PORT", "WORKER_PORT"]
      .map((name) => defaultPorts[name] + offset);
    assert.deepEqual(shell.trim().split(" ").map(Number), expected, `stack ${digit}`);
    assert.ok(expected.every((port) => ports.includes(port)));
  }
});

/** The `[default: ...]` of one option in clap's --help output (an option's text may wrap over lines). */
function flagDefault(help, flag) {
  const blocks = help.split(/\n(?=\s*-)/).map((block) => block.replace(/\s+/g, " ").trim());
  const block = blocks.find((b) => b.startsWith(`${flag} `) || b.includes(`, ${flag} `));
  assert.ok(block, `ingest-gateway --help has no ${flag}`);
  return /\[default: ([^\]]+)\]/.exec(block)?.[1];
}
