// Starts the built edge worker for a test exactly as the local stack does: scripts/worker-dev.sh, which runs
// `wrangler dev` from the repository root. Only what a test needs differs: free ports, a temporary state
// directory, vars given here, and no .dev.vars (`--env-file /dev/null`), so no developer setting leaks in.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, withPort } from "../support/ports.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const READY_DEADLINE_MS = 120_000;

// wrangler colours its log lines.
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Starts the worker with `vars` (NAME -> value) over wrangler.toml's; resolves once it answers /health. On a
 * port another process took first (wrangler then exits: "Address already in use"), again on another one.
 */
export function startWorker(vars) {
  return withPort((port) => startWorkerOn(port, vars), { pair: true });
}

async function startWorkerOn(port, vars) {
  const dir = mkdtempSync(join(tmpdir(), "pathlight-worker-test-"));
  const args = ["scripts/worker-dev.sh", String(port), dir, "--env-file", "/dev/null"];
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  const child = spawn("bash", args, {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  let ready = false;
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (chunk) => {
      // Before it is ready the output is kept for the failure message; afterwards the worker's own log lines
      // (refusals, forward failures) go to the test output.
      if (ready) process.stderr.write(chunk);
      else output += chunk;
    });
  }
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, "SIGTERM"); // wrangler and its workerd share the child's process group
      await once(child, "exit");
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_DEADLINE_MS;
  // Up once wrangler says it listens on this port (an answer alone could come from another process holding
  // it) and the worker answers /health. Any answer will do: one with an invalid configuration is a 503.
  const up = async () =>
    output.replace(ANSI, "").includes(`Ready on ${url}`) && fetch(`${url}/health`).then(() => true, () => false);
  while (!(await up())) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      const error = new Error(`wrangler dev did not start (exit ${child.exitCode}):\n${output}`);
      error.portTaken = /address already in use/i.test(output.replace(ANSI, ""));
      throw error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  ready = true;
  return { url, stop };
}

/**
 * A free port whose successor (the inspector's, see worker-dev.sh) is free too, below the kernel's
 * ephemeral range and apart from the local stacks' ports (tests/support/ports.mjs).
 */
export function freePortPair() {
  return freePort({ pair: true });
}
