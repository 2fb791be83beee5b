// Ports for servers the suites start themselves on a fixed port (a gateway, `wrangler dev`), which cannot
// listen on port 0 and report the port they got.
//
// Not from the kernel's ephemeral range (32768-60999 on these machines, /proc/sys/net/ipv4/ip_local_port_range):
// any outgoing connection may take a port of that range as its local port, between the moment a port is seen
// free and the server's bind, which then fails with EADDRINUSE at random. Below that range only listeners
// take ports; the ones the local stacks listen on (scripts/ports.env moved by every use_private_stack prefix)
// are left out, and another suite choosing the same port at the same moment is what `withPort` retries.
import { readFileSync } from "node:fs";
import net from "node:net";
import { defaultPorts, privateStackOffsets } from "../../scripts/ports.mjs";

const LOWEST = 10_000;
const ephemeralStart = (() => {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && low > LOWEST + 1000) return low;
  } catch {}
  return 32_768;
})();

// Every port a local stack may listen on: the defaults, the inspector's (WORKER_PORT + 1), and the same
// moved by each prefix of use_private_stack (scripts/env.sh).
const STACK_PORTS = new Set();
for (const port of Object.values(defaultPorts)) {
  for (const offset of [0, ...Object.values(privateStackOffsets)]) {
    STACK_PORTS.add(port + offset);
    STACK_PORTS.add(port + offset + 1);
  }
}

/** Whether a listener can bind 127.0.0.1:`port` now. */
export function canListen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A port below the ephemeral range, free now, that no local stack uses; with `pair`, its successor is free
 * too (`wrangler dev`'s inspector listens on PORT + 1).
 */
export async function freePort({ pair = false } = {}) {
  for (let tries = 0; tries < 1000; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (ephemeralStart - LOWEST - 1));
    if (STACK_PORTS.has(port) || (pair && STACK_PORTS.has(port + 1))) continue;
    if ((await canListen(port)) && (!pair || (await canListen(port + 1)))) return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${ephemeralStart}`);
}

/**
 * Calls `start(port)` with a free port, and again with another one while it throws an error whose
 * `portTaken` is true (its server could not bind: another process took the port first).
 */
export async function withPort(start, { pair = false, attempts = 5 } = {}) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort({ pair });
    try {
      return await start(port);
    } catch (error) {
      if (!error.portTaken || attempt >= attempts) throw error;
    }
  }
}
