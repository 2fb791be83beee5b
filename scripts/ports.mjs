// The local stack's ports for Node code, read from scripts/ports.env like scripts/env.sh reads them: an
// environment variable of the same name (set by env.sh, or by use_private_stack) overrides the default.
import { readFileSync } from "node:fs";

const parsed = parsePortsEnv(readFileSync(new URL("./ports.env", import.meta.url), "utf8"));

/** NAME -> port, exactly as written in scripts/ports.env. */
export const defaultPorts = parsed.ports;

/** digit -> how far use_private_stack (scripts/env.sh) moves the ports of that private stack. */
export const privateStackOffsets = parsed.offsets;

/** NAME -> port in effect for this process. */
export const ports = Object.fromEntries(
  Object.entries(defaultPorts).map(([name, port]) => [name, process.env[name] ? Number(process.env[name]) : port]),
);

/** http://127.0.0.1:PORT of one of the stack's ports, e.g. localUrl("WORKER_PORT"). */
export const localUrl = (name) => {
  if (!(name in ports)) throw new Error(`${name} is not in scripts/ports.env`);
  return `http://127.0.0.1:${ports[name]}`;
};

function parsePortsEnv(text) {
  const ports = {};
  const offsets = {};
  for (const [number, line] of text.split("\n").entries()) {
    if (!line.trim() || line.trimStart().startsWith("#")) continue;
    const offset = /^PRIVATE_STACK_([2-9])=([+-][0-9]{1,5})$/.exec(line.trim());
    if (offset) {
      offsets[offset[1]] = Number(offset[2]);
      continue;
    }
    const pair = /^([A-Z][A-Z0-9_]*)=([0-9]{1,5})$/.exec(line.trim());
    if (!pair) throw new Error(`scripts/ports.env line ${number + 1}: expected NAME=port, got ${JSON.stringify(line)}`);
    ports[pair[1]] = Number(pair[2]);
  }
  return { ports, offsets };
}
