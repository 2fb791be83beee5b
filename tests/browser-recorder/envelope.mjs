// The POST /record chunk envelope rules of event-schema/src/record.rs (`parse_chunk`), for the browser tests
// to hold every request the recorder sends to them. The limits are read from that file, not restated, and
// envelope.test.mjs runs the Rust tests' own cases through this port, so the two cannot drift apart quietly.
import { readFileSync } from "node:fs";

export const RECORD_RS = readFileSync(new URL("../../event-schema/src/record.rs", import.meta.url), "utf8");
const TRACK_RS = readFileSync(new URL("../../event-schema/src/track.rs", import.meta.url), "utf8");

// `name: 65_536,` inside a `pub const DEFAULT: ... = ... { ... };` block of a Rust source.
const defaults = (source, type) => {
  const block = source.match(new RegExp(`pub const DEFAULT: ${type} = ${type} \\{([^}]*)\\}`))?.[1];
  if (!block) throw new Error(`no ${type}::DEFAULT in the Rust source`);
  return Object.fromEntries(
    [...block.matchAll(/(\w+): ([\d_]+),/g)].map(([, k, v]) => [k, Number(v.replaceAll("_", ""))]),
  );
};

export const LIMITS = defaults(RECORD_RS, "RecordLimits");
const PAGE_LIMITS = defaults(TRACK_RS, "Limits");
const SESSION_ID_CHARS = TRACK_RS.match(/pub const SESSION_ID_CHARS: \(usize, usize\) = \((\d+), (\d+)\);/)
  .slice(1)
  .map(Number);
// DropReason's variants, snake_case as strum spells them.
export const DROP_REASONS = RECORD_RS.match(/pub enum DropReason \{([^}]*)\}/)[1]
  .match(/^\s+(\w+),$/gm)
  .map((v) =>
    v
      .trim()
      .slice(0, -1)
      .replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase()),
  );

class Refusal extends Error {
  constructor(field, reason) {
    super(`${field} ${reason}`);
    this.field = field;
  }
}

// Rust's `str::parse::<u64>` accepts an optional leading `+`.
const U64 = /^\+?\d+$/;

/** The first rule a chunk envelope breaks, checked in parse_chunk's order: `{ field, message }`, or null. */
export function envelopeRefusal(query, bodyLength, nowMs) {
  try {
    checkEnvelope(query, bodyLength, nowMs);
    return null;
  } catch (e) {
    if (e instanceof Refusal) return { field: e.field, message: e.message };
    throw e;
  }
}

function checkEnvelope(query, bodyLength, nowMs) {
  const params = new Map();
  for (const [key, value] of new URLSearchParams(query)) {
    if (params.has(key)) throw new Refusal(key, "is given more than once");
    params.set(key, value);
  }
  const text = (name) => {
    const v = params.get(name);
    if (!v) throw new Refusal(name, "is required");
    return v;
  };
  const number = (name, max) => {
    const v = text(name);
    if (!U64.test(v) || BigInt(v) > BigInt(max)) throw new Refusal(name, `must be a whole number from 0 to ${max}`);
    return Number(v);
  };
  const flag = (name) => {
    const v = params.get(name);
    if (v !== undefined && v !== "0" && v !== "1") throw new Refusal(name, "must be 0 or 1");
  };
  const clientId = (name) => {
    const v = text(name);
    const [min, max] = SESSION_ID_CHARS;
    if (v.length < min || v.length > max || !/^[A-Za-z0-9_-]+$/.test(v)) throw new Refusal(name, "is not an id");
  };

  const site = text("site");
  if ([...site].length > PAGE_LIMITS.max_site_chars || !/^[A-Za-z0-9._-]+$/.test(site))
    throw new Refusal("site", "must be 1 to 100 characters from [A-Za-z0-9._-]");
  clientId("sid");
  clientId("tab");
  number("seq", LIMITS.max_seq);
  const parts = number("parts", LIMITS.max_parts);
  if (parts === 0) throw new Refusal("parts", "must be at least 1");
  const part = number("part", LIMITS.max_parts);
  if (part >= parts) throw new Refusal("part", "must be below parts");

  const earliest = nowMs - LIMITS.max_clock_skew_ms;
  const latest = nowMs + LIMITS.max_clock_skew_ms;
  const first = number("first", 2n ** 64n - 1n);
  const last = number("last", 2n ** 64n - 1n);
  if (first < earliest || first > latest) throw new Refusal("first", "must be within a day of the server's clock");
  if (last < first || last > latest) throw new Refusal("last", "must not be before first, nor more than a day ahead");

  number("n", LIMITS.max_events);
  const raw = number("raw", LIMITS.max_raw_bytes);
  const size = number("size", LIMITS.max_chunk_bytes);
  if (size !== bodyLength) throw new Refusal("size", `declares ${size} bytes but the body has ${bodyLength}`);
  if (size === 0) throw new Refusal("size", "must be at least 1");
  const enc = text("enc");
  if (enc !== "gzip" && enc !== "identity") throw new Refusal("enc", "must be gzip or identity");
  if (enc === "identity" && parts === 1 && raw !== size)
    throw new Refusal("raw", "must equal size for an uncompressed chunk");

  const url = text("url");
  if ([...url].length > PAGE_LIMITS.max_url_chars) throw new Refusal("url", "is too long");
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new Refusal("url", "is not an absolute URL");
  }
  if (!/^https?:$/.test(parsed.protocol) || !parsed.hostname)
    throw new Refusal("url", "must be an http(s) URL with a host");

  for (const item of (params.get("dropped") ?? "").split(",").filter(Boolean)) {
    const [reason, n, extra] = item.split(":");
    if (extra !== undefined || !DROP_REASONS.includes(reason) || !/^\+?\d+$/.test(n ?? "") || Number(n) > 2 ** 32 - 1)
      throw new Refusal("dropped", "must be reason:count pairs");
  }
  flag("full");
  flag("fin");
}
