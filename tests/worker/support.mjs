// Helpers the worker test files share.
import assert from "node:assert/strict";

let sidCounter = 0;
/** A session id no other test of this process uses. */
export function uniqueSid(label) {
  return `${label}-${process.pid}-${++sidCounter}`.slice(0, 64);
}

/** Polls `get` until `done(value)` holds: forwarding happens after the response, so nothing else can be awaited. */
export async function waitFor(get, done, what, deadlineMs = 15_000) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await get();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
