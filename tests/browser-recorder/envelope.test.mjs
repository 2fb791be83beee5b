// The browser tests' port of the /record envelope rules (envelope.mjs) against the cases of event-schema's
// own tests in src/record.rs, read from that file: when a rule changes there, this fails until the port
// follows. Run: node --test tests/browser-recorder/
import { test } from "node:test";
import assert from "node:assert/strict";
import { DROP_REASONS, LIMITS, RECORD_RS, envelopeRefusal } from "./envelope.mjs";

const tests = RECORD_RS.slice(RECORD_RS.indexOf("mod tests"));
const NOW = Number(tests.match(/const NOW: u64 = ([\d_]+);/)[1].replaceAll("_", ""));
// A Rust string literal continued over lines with `\` (the newline and the next line's indent are dropped).
const QUERY = tests.match(/const QUERY: &str = "((?:[^"\\]|\\.)*)";/s)[1].replace(/\\\n\s*/g, "");
const CASES = [...tests.match(/let cases = \[(.*?)\];/s)[1].matchAll(/\("([^"]*)", "([^"]*)", "([^"]*)"\)/g)].map((m) =>
  m.slice(1),
);

const refused = (query, bodyLength = 9120) => envelopeRefusal(query, bodyLength, NOW)?.field;

test("the Rust tests' cases were found", () => {
  assert.match(QUERY, /^site=example\.com&sid=/);
  assert.ok(CASES.length >= 15, `only ${CASES.length} cases`);
  assert.deepEqual(DROP_REASONS, ["too_large", "throttled", "send_failed"]);
  assert.equal(LIMITS.max_chunk_bytes, 65536);
});

test("the valid envelope of event-schema's tests is valid here too", () => {
  assert.equal(envelopeRefusal(QUERY, 9120, NOW), null);
  assert.equal(refused(QUERY.replace("part=0&parts=1", "part=2&parts=3")), undefined, "a part of a larger chunk");
});

test("every broken rule of event-schema's tests is refused here, naming the same parameter", () => {
  for (const [good, bad, field] of CASES) {
    assert.ok(QUERY.includes(good), good);
    assert.equal(refused(QUERY.replace(good, bad)), field, bad);
  }
  assert.equal(refused(QUERY, 9119), "size", "a body shorter than declared");
  assert.equal(refused(QUERY.replace("size=9120", "size=70000"), 70_000), "size", "over 64 KiB");
  assert.equal(refused(`${QUERY}&seq=4`), "seq", "a repeated parameter");
  assert.equal(refused(QUERY.replace("&n=57", "")), "n", "a missing parameter");
  assert.equal(refused(QUERY.replace("enc=gzip", "enc=identity")), "raw", "an uncompressed chunk of another size");
});
