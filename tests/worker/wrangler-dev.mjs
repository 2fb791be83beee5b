// Starts the built edge worker for a test exactly as the local stack does: scripts/worker-dev.sh, which runs
// `wrangler dev` from the repository root. Only what a test needs differs: free ports, a temporary state
// directory, vars given here, and no .dev.vars (`--env-file /dev/null`), so no developer setting leaks in.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const READY_DEADLINE_MS = 120_000;

/** Starts the worker with `vars` (NAME -> value) over wrangler.toml's; resolves once it answers /health. */
export async function startWorker(vars) {
  const port = await freePortPair();
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
  // Any answer from the worker will do: one with an invalid configuration answers /health with a 503.
  while (!(await fetch(`${url}/health`).then(() => true, () => false))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not start (exit ${child.exitCode}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  ready = true;
  return { url, stop };
}

/** A free port whose successor (the inspector's, see worker-dev.sh) is free too. */
export async function freePortPair() {
  for (;;) {
    const port = await listenAndClose(0);
    if (port < 65_535 && (await listenAndClose(port + 1).catch(() => null))) return port;
  }
}

async function listenAndClose(port) {
  const server = createServer();
  server.listen(port, "127.0.0.1");
  await Promise.race([once(server, "listening"), once(server, "error").then(([e]) => Promise.reject(e))]);
  const bound = server.address().port;
  server.close();
  await once(server, "close");
  return bound;
}
