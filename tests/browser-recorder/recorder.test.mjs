// End-to-end tests of the session recorder (tracker-js/dist/record.js, loaded by dist/pathlight.js) in
// headless Chromium.
//
// Two local servers on port 0, so two origins: the "site" serves test pages, the "collector" plays the
// edge worker: it serves the snippet at GET /js and the recorder at GET /record.js (a cross-origin module,
// so with Access-Control-Allow-Origin), answers POST /track, and keeps every POST /record with its raw
// body. Every assertion is on what the collector really received: each chunk's envelope is held to the
// rules of event-schema/src/record.rs (envelope.mjs), its parts are joined and inflated with zlib, and the
// rrweb events inside are what the tests look at. Nothing waits a fixed time: tests poll with a deadline.
//
// Headless pages stay visible, so a test that wants the recorder's page-hide flush either leaves the page
// (pagehide) or emulates hiding it the way the browser announces it (visibilitychange).
//
// Run: node --test tests/browser-recorder/   (after scripts/install.sh; needs /usr/bin/chromium, or set CHROMIUM_PATH)
import { after, afterEach, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { launchChromium } from "../support/browser.mjs";
import { LIMITS, envelopeRefusal } from "./envelope.mjs";


const dist = (name) => readFileSync(new URL(`../../tracker-js/dist/${name}`, import.meta.url));
const SNIPPET = dist("pathlight.js");
// PATHLIGHT_RECORDER points the suite at another build, e.g. to check that a deliberately broken one fails.
const RECORDER = process.env.PATHLIGHT_RECORDER ? readFileSync(process.env.PATHLIGHT_RECORDER) : dist("record.js");
// The machine may be busy compiling; deadlines are generous, and only ever reached when a test fails.
const DEADLINE_MS = 30_000;
const ID = /^[A-Za-z0-9]{16}$/;
// rrweb event types.
const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const META = 4;

// ---------------------------------------------------------------- servers

const requests = []; // everything the collector received, in arrival order
const respond = new Map(); // site -> (nth /record request for that site, 0-based) => HTTP status
let collectorOrigin;
let siteOrigin;
const pages = new Map(); // page key -> { attrs, head, body, title }

const listen = (server) =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });

const collector = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const path = url.pathname;
  const script = { "/js": SNIPPET, "/record.js": RECORDER }[path];
  if (req.method === "GET" && script) {
    requests.push({ method: "GET", path, headers: req.headers });
    res.writeHead(200, {
      "Content-Type": "application/javascript; charset=utf-8",
      "Cache-Control": "no-store",
      "Access-Control-Allow-Origin": "*",
    });
    res.end(script);
    return;
  }
  if (req.method === "OPTIONS") {
    // The recorder must never need a preflight; record it so the suite can prove there was none.
    requests.push({ method: "OPTIONS", path, headers: req.headers });
    res.writeHead(204, { "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST" });
    res.end();
    return;
  }
  if (req.method === "POST" && (path === "/track" || path === "/record")) {
    const body = await readBody(req);
    const entry = { method: "POST", path, headers: req.headers, body, status: 202 };
    if (path === "/record") {
      entry.params = Object.fromEntries(url.searchParams);
      entry.query = url.search.slice(1);
      entry.refusal = envelopeRefusal(entry.query, body.length, Date.now());
      const site = entry.params.site;
      const nth = requests.filter((r) => r.path === "/record" && r.params.site === site).length;
      entry.status = respond.get(site)?.(nth) ?? 202;
    } else {
      entry.site = JSON.parse(body.toString("utf8")).site;
    }
    requests.push(entry);
    res.writeHead(entry.status, { "Access-Control-Allow-Origin": "*" });
    res.end();
    return;
  }
  res.writeHead(404).end();
});

const html = (key, page) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${page.title ?? "Test page"}</title>
${page.head ?? ""}
<script defer src="${collectorOrigin}/js" data-site="${page.site ?? key + ".test"}"${Object.entries(
  page.attrs ?? { record: "" },
)
  .map(([k, v]) => ` data-${k}${v === "" ? "" : `="${v}"`}`)
  .join("")}></script>
</head><body>${page.body ?? "<h1>Hello</h1>"}</body></html>`;

const site = http.createServer((req, res) => {
  // Any path below /p/<key>/ serves that page, so SPA navigations and reloads keep working.
  const m = new URL(req.url, "http://x").pathname.match(/^\/p\/([^/]+)\//);
  const page = m && pages.get(m[1]);
  if (!page) return res.writeHead(404).end("not found");
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
  res.end(html(m[1], page));
});

// ---------------------------------------------------------------- reading chunks

const recordPosts = (site) => requests.filter((r) => r.path === "/record" && r.params.site === site);
// Loads of the recorder during the running test by pages of the test site (control pages run on another
// origin).
const recorderLoads = () =>
  requests
    .slice(firstRequest)
    .filter((r) => r.method === "GET" && r.path === "/record.js" && r.headers.origin === siteOrigin);
const trackPosts = (site) => requests.filter((r) => r.path === "/track" && r.site === site);

// The chunks the collector accepted for a site, one per (tab, seq), parts joined and inflated, tab by tab
// (in the arrival order of each tab's first chunk), each tab's in sequence order. Not in arrival order:
// the page-hide flush sends every chunk not yet delivered at once, and separate requests may arrive in any
// order. A part sent twice (a retry, or the page-hide flush resending one in flight) must carry the same
// bytes.
function chunks(site) {
  const bySeq = new Map();
  for (const r of recordPosts(site).filter((r) => r.status < 300)) {
    const key = `${r.params.sid}/${r.params.tab}/${r.params.seq}`;
    if (!bySeq.has(key)) bySeq.set(key, { params: r.params, parts: new Map() });
    const chunk = bySeq.get(key);
    const part = Number(r.params.part);
    const seen = chunk.parts.get(part);
    if (seen) assert.ok(seen.body.equals(r.body), `part ${part} of ${key} was sent twice with different bytes`);
    else chunk.parts.set(part, r);
    // Fields of the chunk (not the part) are the same on every part.
    for (const field of ["parts", "first", "last", "n", "raw", "enc", "full", "fin", "url", "dropped"])
      assert.equal(r.params[field], chunk.params[field], `${field} differs between parts of ${key}`);
  }
  const tabs = [...new Set([...bySeq.values()].map((c) => `${c.params.sid}/${c.params.tab}`))];
  const order = (c) => [tabs.indexOf(`${c.params.sid}/${c.params.tab}`), Number(c.params.seq)];
  const sorted = [...bySeq.values()].sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1];
  });
  return sorted.map((chunk) => {
    const p = chunk.params;
    const complete = chunk.parts.size === Number(p.parts);
    const result = { ...p, seq: Number(p.seq), n: Number(p.n), complete };
    if (!complete) return result;
    const bytes = Buffer.concat([...chunk.parts.keys()].sort((a, b) => a - b).map((i) => chunk.parts.get(i).body));
    const json = p.enc === "gzip" ? gunzipSync(bytes) : bytes;
    result.json = json.toString("utf8");
    result.events = JSON.parse(result.json);
    result.bytes = bytes.length;
    return result;
  });
}

// Every rule a complete chunk must keep beyond its envelope: what it declares matches what it holds.
function checkChunk(chunk) {
  const what = `chunk ${chunk.tab}/${chunk.seq}`;
  assert.ok(Array.isArray(chunk.events), `${what} is not a JSON array`);
  assert.equal(chunk.events.length, chunk.n, `${what}: n`);
  assert.equal(Buffer.byteLength(chunk.json), Number(chunk.raw), `${what}: raw`);
  if (chunk.n) {
    assert.equal(Number(chunk.first), chunk.events[0].timestamp, `${what}: first`);
    assert.equal(Number(chunk.last), chunk.events.at(-1).timestamp, `${what}: last`);
  }
  assert.equal(chunk.full, chunk.events.some((e) => e.type === FULL_SNAPSHOT) ? "1" : "0", `${what}: full`);
}

const allEvents = (site) => chunks(site).flatMap((c) => c.events ?? []);

// Everything the recorder sent for a site: every query string and every inflated chunk.
const everythingRecorded = (site) => [
  ...recordPosts(site).map((r) => decodeURIComponent(r.query)),
  ...chunks(site).map((c) => c.json ?? ""),
];

// What rrweb keeps of masked text: the length and the spaces.
const masked = (text) => text.replace(/\S/g, "*");

// All text nodes and attribute values of the serialized DOM in a site's recording, full snapshots and
// mutations alike.
function recordedStrings(site) {
  const out = [];
  const walk = (node) => {
    if (!node) return;
    if (node.textContent) out.push(node.textContent);
    for (const v of Object.values(node.attributes ?? {})) typeof v === "string" && out.push(v);
    node.childNodes?.forEach(walk);
  };
  for (const e of allEvents(site)) {
    if (e.type === FULL_SNAPSHOT) walk(e.data.node);
    if (e.type === INCREMENTAL && e.data.source === 0) {
      e.data.adds.forEach((a) => walk(a.node));
      e.data.texts.forEach((t) => out.push(t.value));
      e.data.attributes.forEach((a) =>
        Object.values(a.attributes).forEach((v) => typeof v === "string" && out.push(v)),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------- helpers

let browser;
let context;
let pageErrors;
let firstRequest; // index into `requests` where the running test began

const definePage = (key, page = {}) => {
  pages.set(key, page);
  return { url: (rest = "") => `${siteOrigin}/p/${key}/${rest}`, site: page.site ?? `${key}.test` };
};

async function waitFor(what, check) {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const seen = requests
        .slice(firstRequest)
        .map((r) => `${r.method} ${r.path}${r.query ? "?" + r.query : ""} -> ${r.status ?? ""}`);
      throw new Error(`timed out waiting for ${what}; during this test the collector saw:\n  ${seen.join("\n  ")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const waitForChunks = (what, site, predicate = () => true, count = 1) =>
  waitFor(what, () => {
    const found = chunks(site).filter((c) => c.complete && predicate(c));
    return found.length >= count && found;
  });

// A chunk is settled once it was accepted whole, or refused for good (a 4xx other than 429: the recorder
// does not send it again and counts it as send_failed in a later chunk).
const settledChunks = (site) => {
  const settled = new Set(chunks(site).filter((c) => c.complete).map((c) => `${c.sid}/${c.tab}/${c.seq}`));
  for (const r of recordPosts(site))
    if (r.status >= 400 && r.status < 500 && r.status !== 429) settled.add(`${r.params.sid}/${r.params.tab}/${r.params.seq}`);
  return settled;
};

// Waits until `count` final chunks (one per page hidden or left) have arrived whole, and every chunk before
// each of them in its tab is settled. The final chunk alone is not the end: the page-hide flush sends it
// together with any chunk still undelivered, and those may arrive after it. Resolves with the final chunks.
const waitForFinal = (site, count = 1) =>
  waitFor(count === 1 ? "the final chunk and every chunk before it" : `${count} final chunks and every chunk before them`, () => {
    const finals = chunks(site).filter((c) => c.complete && c.fin === "1");
    if (finals.length < count) return false;
    const settled = settledChunks(site);
    for (const f of finals)
      for (let seq = 0; seq < f.seq; seq++) if (!settled.has(`${f.sid}/${f.tab}/${seq}`)) return false;
    return finals;
  });

// Resolves once the recorder the snippet imported runs in the page. The snippet requests it while the page
// loads (with its first page view), and importing a module again waits for that one evaluation.
const recording = (page) => page.evaluate((url) => import(url).then(() => true), `${collectorOrigin}/record.js`);

// Headless Chromium keeps every page visible, so the hidden state is emulated the way the browser
// announces it: document.hidden / visibilityState change, then visibilitychange fires at the document.
const emulateHidden = (page, hidden) =>
  page.evaluate((h) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => h });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (h ? "hidden" : "visible") });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);

// For pages that must not record: leaving them forces the snippet's flush; a control page on a third
// origin (localhost) that does record then proves the network has caught up with anything they sent.
let controls = 0;
async function settle(page) {
  await page.goto("about:blank");
  const control = definePage(`control-${++controls}`);
  const other = await context.newPage();
  await other.goto(control.url().replace("//127.0.0.1:", "//localhost:"));
  await recording(other);
  await other.goto("about:blank");
  await waitForFinal(control.site);
  await other.close();
}

const newContext = async (options = {}) => {
  const ctx = await browser.newContext({
    locale: "en-US",
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  ctx.on("page", (p) => p.on("pageerror", (e) => pageErrors.push(e.message)));
  return ctx;
};

const openPage = async (url) => {
  const page = await context.newPage();
  await page.goto(url);
  return page;
};

// ---------------------------------------------------------------- lifecycle

before(async () => {
  collectorOrigin = `http://127.0.0.1:${await listen(collector)}`;
  siteOrigin = `http://127.0.0.1:${await listen(site)}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  collector.close();
  site.close();
});

beforeEach(async () => {
  pageErrors = [];
  firstRequest = requests.length;
  context = await newContext();
});

afterEach(async () => {
  await context?.close();
  // No test page may see an error: the recorder never throws into the page.
  assert.deepEqual(pageErrors, [], "page errors");
  const mine = requests.slice(firstRequest);
  assert.deepEqual(
    mine.filter((r) => r.method === "OPTIONS"),
    [],
    "the recorder triggered a CORS preflight",
  );
  const records = mine.filter((r) => r.path === "/record");
  assert.deepEqual(
    records.filter((r) => r.refusal).map((r) => [r.refusal.message, r.query]),
    [],
    "a chunk broke the /record envelope rules (event-schema/src/record.rs)",
  );
  for (const r of records) {
    assert.match(r.headers["content-type"], /^text\/plain/);
    assert.equal(r.headers.cookie, undefined);
    assert.ok(r.body.length <= LIMITS.max_chunk_bytes);
    assert.match(r.params.tab, ID);
  }
  // Per tab, the sequence numbers sent have no gap, and every complete chunk holds what it declares.
  for (const s of new Set(records.map((r) => r.params.site))) {
    for (const tab of new Set(chunks(s).map((c) => `${c.sid}/${c.tab}`))) {
      const seqs = chunks(s)
        .filter((c) => `${c.sid}/${c.tab}` === tab)
        .map((c) => c.seq)
        .sort((a, b) => a - b);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => seqs[0] + i),
        `gap in the sequence of ${tab}`,
      );
    }
    chunks(s)
      .filter((c) => c.complete)
      .forEach(checkChunk);
  }
});

// ---------------------------------------------------------------- tests

test("a recorded visit: ordered chunks without gaps, a full snapshot first, a final chunk on leaving", async () => {
  const p = definePage("visit", {
    body: `<h1>Shop</h1><button id="buy">Buy</button><input id="q"><a id="next" href="#">next</a>
      <script>document.getElementById("next").onclick = (e) => { e.preventDefault(); history.pushState({}, "", "checkout"); document.querySelector("h1").textContent = "Checkout"; };</script>`,
  });
  const page = await openPage(p.url("cart"));

  // Batching by time: without anything else happening, the first chunk arrives after about 5 s.
  const [firstChunk] = await waitForChunks("the first chunk, cut by the 5 s timer", p.site);
  assert.equal(firstChunk.seq, 0);
  assert.equal(firstChunk.fin, "0");
  assert.equal(firstChunk.enc, "gzip");
  assert.equal(firstChunk.full, "1");
  assert.deepEqual(
    firstChunk.events.slice(0, 2).map((e) => e.type),
    [META, FULL_SNAPSHOT],
    "a recording starts with its page's Meta and full snapshot",
  );
  assert.equal(firstChunk.events[0].data.href, p.url("cart"));
  assert.equal(firstChunk.url, p.url("cart"));
  assert.match(firstChunk.sid, ID);
  assert.equal(firstChunk.sid, await page.evaluate(() => sessionStorage.pathlight_sid), "the page views' session id");
  assert.equal(recorderLoads().length, 1, "one recorder load");

  await page.click("#buy");
  await page.click("#q");
  await page.keyboard.type("shoes");
  await page.click("#next");
  await page.goto("about:blank");

  const [final] = await waitForFinal(p.site);
  const all = chunks(p.site);
  assert.deepEqual(
    all.map((c) => c.seq),
    all.map((_, i) => i),
    "sequence numbers from 0 without a gap",
  );
  assert.deepEqual(
    all.map((c) => c.fin),
    [...Array(all.length - 1).fill("0"), "1"],
    "only the last chunk is final",
  );
  assert.equal(final.url, p.url("checkout"), "a chunk names the page of its last event");
  const events = allEvents(p.site);
  const times = events.map((e) => e.timestamp);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
    "events in time order across chunks",
  );
  assert.ok(
    events.some((e) => e.type === INCREMENTAL && e.data.source === 2),
    "mouse interactions (the clicks) are recorded",
  );
  assert.ok(
    events.some(
      (e) =>
        e.type === INCREMENTAL && e.data.source === 0 && e.data.adds.some((a) => a.node.textContent === "********"),
    ),
    "the heading's new text is recorded, masked",
  );
});

test("nothing private leaves the page: typed input, page text, text attributes, query and fragment", async () => {
  const p = definePage("privacy", {
    title: "TITLE-ELEMENT-SECRET",
    head: `<meta name="csrf-token" content="META-CSRF-SECRET">`,
    body: `
      <p>Your balance is PAGE-TEXT-SECRET today.</p>
      <p data-pl-unmask>Welcome to the PUBLIC-WELCOME page</p>
      <div data-pl-unmask><span id="tip" title="UNMASKED-TITLE">tip</span><input id="in-unmasked" value="UNMASKED-INPUT-SECRET"></div>
      <span title="TITLE-ATTR-SECRET">x</span>
      <input id="password" type="password">
      <input id="email" type="email" placeholder="PLACEHOLDER-SECRET">
      <input type="hidden" name="csrf" value="HIDDEN-INPUT-SECRET">
      <label><input id="agree" type="checkbox" value="CHECKBOX-SECRET"> agree</label>
      <textarea id="notes">TEXTAREA-SECRET</textarea>
      <button aria-label="ARIA-LABEL-SECRET">?</button>
      <img alt="ALT-SECRET" src="/img/IMAGE-SRC-SECRET.png" width="10" height="10">
      <iframe srcdoc="<p data-pl-unmask>IFRAME-SECRET</p>"></iframe>
      <video src="/VIDEO-SECRET.mp4"></video>
      <canvas id="c" width="10" height="10"></canvas>
      <select id="plan"><option value="OPTION-VALUE-SECRET">OPTION-TEXT-SECRET</option><option>other</option></select>
      <!-- COMMENT-SECRET -->
      <div contenteditable id="editor">EDITABLE</div>`,
  });
  const page = await openPage(p.url("account?email=QUERY-SECRET%40example.com&utm_source=news#token=FRAGMENT-SECRET"));
  await recording(page);
  await page.fill("#password", "TYPED-PASSWORD-SECRET");
  await page.fill("#email", "TYPED-EMAIL-SECRET@example.com");
  await page.fill("#notes", "TYPED-TEXTAREA-SECRET");
  await page.fill("#in-unmasked", "TYPED-UNMASKED-SECRET");
  await page.check("#agree");
  await page.selectOption("#plan", "other");
  await page.click("#editor");
  await page.keyboard.type(" TYPED-EDITABLE-SECRET");
  await page.evaluate(() => {
    // Changes after the snapshot go through rrweb's mutation path.
    document.body.insertAdjacentHTML("beforeend", '<p title="LATER-TITLE-SECRET">LATER-TEXT-SECRET</p>');
    document.getElementById("tip").title = "UNMASKED-LATER-TITLE";
    document.querySelector("#email").setAttribute("placeholder", "LATER-PLACEHOLDER-SECRET");
    document.querySelector("input[type=hidden]").setAttribute("value", "LATER-HIDDEN-SECRET");
  });
  await page.goto("about:blank");
  await waitForFinal(p.site);

  const sent = everythingRecorded(p.site).join("\n");
  const leaked = [...new Set(sent.match(/[A-Z-]*SECRET/g) ?? [])];
  assert.deepEqual(leaked, [], "secrets left the page");
  const strings = recordedStrings(p.site);
  for (const visible of ["Welcome to the PUBLIC-WELCOME page", "UNMASKED-TITLE", "UNMASKED-LATER-TITLE"])
    assert.ok(strings.includes(visible), `data-pl-unmask keeps "${visible}"`);
  // Masking keeps lengths and spaces, so the replay keeps its layout.
  assert.ok(strings.includes(masked("Your balance is PAGE-TEXT-SECRET today.")), "page text is masked in place");
  assert.ok(strings.includes(masked("TITLE-ATTR-SECRET")), "the title attribute is masked in place");

  const [first] = chunks(p.site);
  const meta = first.events.find((e) => e.type === META);
  assert.equal(meta.data.href, p.url("account?utm_source=news"), "only utm_* and no fragment in the recorded URL");
  assert.equal(first.url, p.url("account?utm_source=news"));
  const snapshot = first.events.find((e) => e.type === FULL_SNAPSHOT);
  const blocked = [];
  (function walk(node) {
    if (node.attributes?.rr_width) blocked.push(node.tagName);
    node.childNodes?.forEach(walk);
  })(snapshot.data.node);
  assert.deepEqual(blocked.sort(), ["canvas", "iframe", "img", "video"], "media, canvas and frames are blocked");
  // A same-origin frame's document is not recorded either (rrweb would attach it with a mutation).
  assert.deepEqual(
    allEvents(p.site).filter((e) => e.data?.isAttachIframe),
    [],
  );
});

test("recording is loaded only where data-record selects it", async () => {
  // The same visitor settings that keep page views off keep the recorder off.
  await context.addInitScript(() => {
    if (location.pathname.includes("/dnt-"))
      Object.defineProperty(Navigator.prototype, "doNotTrack", { get: () => "1" });
  });
  const cases = {
    "without data-record": definePage("off-absent", { attrs: {} }),
    'with data-record="0"': definePage("off-zero", { attrs: { record: "0" } }),
    "on an excluded path": definePage("off-excluded", { attrs: { record: "", exclude: "/p/off-excluded/admin/*" } }),
    "for Do Not Track with data-respect-dnt": definePage("dnt-on", { attrs: { record: "", "respect-dnt": "" } }),
  };
  for (const [what, p] of Object.entries(cases)) {
    const loadsBefore = recorderLoads().length;
    const page = await openPage(p.url(what.includes("excluded") ? "admin/users" : "page"));
    // Where page views are sent, the recorder would have been requested before the first of them.
    if (!what.includes("excluded") && !what.includes("Do Not Track"))
      await waitFor(`the page view ${what}`, () => trackPosts(p.site).length > 0);
    await settle(page);
    assert.equal(recorderLoads().length, loadsBefore, `the recorder was loaded ${what}`);
    assert.deepEqual(recordPosts(p.site), [], `something was recorded ${what}`);
  }
  // Do Not Track without data-respect-dnt records, as it counts page views.
  const ignoring = definePage("dnt-off", { attrs: { record: "" } });
  const page = await openPage(ignoring.url("page"));
  await recording(page);
  await page.goto("about:blank");
  await waitForFinal(ignoring.site);
});

test("the sampling rate is decided once per session, from the session id", async () => {
  // The decision is the session id's first 8 random bits as a fraction (0..247 of 248): "A..." is 0/248,
  // "9..." (base64 value 61) is at least 244/248.
  const sampled = "AAAAAAAAAAAAAAAA";
  const unsampled = "9zzzzzzzzzzzzzzz";
  const p = definePage("sample", { attrs: { record: "0.5" } });
  const tab = async (sid) => {
    const page = await context.newPage();
    await page.addInitScript((s) => location.protocol == "http:" && (sessionStorage.pathlight_sid ||= s), sid);
    return page;
  };
  // Every page of a session follows the same decision.
  const quiet = await tab(unsampled);
  await quiet.goto(p.url("one"));
  await quiet.goto(p.url("two"));
  await settle(quiet);
  assert.deepEqual(recorderLoads(), [], "the recorder was loaded for a session outside the sample");

  const recorded = await tab(sampled);
  for (const path of ["one", "two"]) {
    await recorded.goto(p.url(path));
    await recording(recorded);
  }
  await recorded.goto("about:blank");
  await waitForFinal(p.site, 2);
  assert.deepEqual([...new Set(recordPosts(p.site).map((r) => r.params.sid))], [sampled]);
  assert.deepEqual([...new Set(chunks(p.site).map((c) => c.url))], [p.url("one"), p.url("two")]);
});

test("an SPA navigation into an excluded path stops recording; leaving it starts again with a full snapshot", async () => {
  const p = definePage("spa-excl", {
    attrs: { record: "", exclude: "/p/spa-excl/admin/*" },
    // A router that announces the URL first, then renders.
    body: `<main id="main"><h1>Home</h1></main><script>
      window.go = (path, html) => { history.pushState({}, "", path); document.getElementById("main").innerHTML = html; };
    </script>`,
  });
  const page = await openPage(p.url("home"));
  await recording(page);
  await page.evaluate(() => go("/p/spa-excl/admin/users", '<h1 title="ADMIN-TITLE-XY">ADMIN-HEADING</h1>'));
  await page.evaluate(() => document.querySelector("h1").append(" ADMIN-MORE-TEXT"));
  await page.evaluate(() => go("/p/spa-excl/about", "<h1>About us</h1>"));
  // The recorder starts again in a task of its own (a zero-delay timer, see record.js); a timer queued after
  // it fires after it, so the new recording has begun before the page is left.
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve)));
  await page.goto("about:blank");
  await waitForFinal(p.site);

  const all = chunks(p.site);
  assert.ok(!all.some((c) => c.url.includes("/admin/")), "no chunk names an excluded page");
  const events = allEvents(p.site);
  const metas = events.filter((e) => e.type === META).map((e) => e.data.href);
  assert.deepEqual(
    metas,
    [p.url("home"), p.url("about")],
    "a new recording (Meta, full snapshot) after the excluded path",
  );
  assert.equal(events[events.findIndex((e) => e.data.href === p.url("about")) + 1].type, FULL_SNAPSHOT);
  // Nothing of the excluded page was recorded, not even masked.
  const strings = recordedStrings(p.site);
  for (const text of ["ADMIN-HEADING", "ADMIN-TITLE-XY", " ADMIN-MORE-TEXT"])
    assert.ok(!strings.includes(masked(text)), `the excluded page's "${text}"`);
  assert.ok(strings.includes(masked("About us")), "the page after it is recorded");
});

test("a reload in the same tab continues the tab's sequence; another tab starts its own", async () => {
  const p = definePage("reload");
  const page = await openPage(p.url("a"));
  await recording(page);
  await emulateHidden(page, true);
  await waitForFinal(p.site);
  await page.reload();
  await recording(page);
  await page.goto(p.url("b"));
  await recording(page);
  await page.goto("about:blank");
  await waitForFinal(p.site, 3);
  const other = await openPage(p.url("c"));
  await recording(other);
  await other.goto("about:blank");
  await waitForFinal(p.site, 4);

  const all = chunks(p.site);
  const tabs = [...new Set(all.map((c) => c.tab))];
  assert.equal(tabs.length, 2);
  const first = all.filter((c) => c.tab === tabs[0]);
  assert.deepEqual(
    first.map((c) => c.seq),
    first.map((_, i) => i),
    "one sequence across the reload and the next page",
  );
  assert.deepEqual([...new Set(first.map((c) => c.url))], [p.url("a"), p.url("b")]);
  assert.equal(all.filter((c) => c.tab === tabs[1])[0].seq, 0);
  assert.notEqual(all.find((c) => c.tab === tabs[1]).sid, first[0].sid, "a new tab is a new session");
});

test("a large page goes in parts of at most 64 KiB that join into one chunk", async () => {
  // Random attribute values neither compress nor get masked: about 400 KB of them.
  const noise = Array.from({ length: 400 }, () => `<i data-n="${randomBytes(750).toString("base64")}"></i>`).join("");
  const p = definePage("large", { body: `<h1>Big</h1>${noise}` });
  const page = await openPage(p.url("page"));
  const [big] = await waitForChunks("the snapshot chunk", p.site, (c) => c.full === "1");
  await page.goto("about:blank");
  await waitForFinal(p.site);
  assert.ok(Number(big.parts) >= 5, `${big.parts} parts`);
  // Each part's first request, in arrival order. The recorder may send the last part once more: if the page
  // is left before it has read that part's answer, the page-hide flush resends the part in flight.
  const posts = recordPosts(p.site)
    .filter((r) => r.params.seq === String(big.seq))
    .filter((r, i, all) => all.findIndex((q) => q.params.part === r.params.part) === i);
  assert.deepEqual(
    posts.map((r) => Number(r.params.part)),
    Array.from({ length: Number(big.parts) }, (_, i) => i),
    "parts sent in order",
  );
  assert.ok(
    posts.slice(0, -1).every((r) => r.body.length === LIMITS.max_chunk_bytes),
    "all parts but the last are full",
  );
  assert.ok(big.json.includes(noise.match(/data-n="([^"]+)"/)[1]), "the page's content is in the joined chunk");
});

test("a failed send is retried with the same sequence number and bytes", async () => {
  const p = definePage("retry");
  respond.set(p.site, (nth) => [503, 429][nth] ?? 202);
  const page = await openPage(p.url("page"));
  await waitForChunks("the first chunk, delivered on the third attempt", p.site);
  const attempts = recordPosts(p.site).filter((r) => r.params.seq === "0");
  assert.deepEqual(
    attempts.map((r) => r.status),
    [503, 429, 202],
  );
  assert.equal(new Set(attempts.map((r) => r.query)).size, 1, "the same envelope");
  assert.ok(
    attempts.every((r) => r.body.equals(attempts[0].body)),
    "the same bytes",
  );
  await page.goto("about:blank");
  await waitForFinal(p.site);
  assert.equal(chunks(p.site).at(-1).dropped, undefined, "nothing was lost");
});

test("chunks the worker refuses, and events too large to send, are counted in the next chunk", async () => {
  const p = definePage("drops");
  respond.set(p.site, (nth) => (nth === 0 ? 400 : 202));
  const page = await openPage(p.url("page"));
  await waitFor("the refused first chunk", () => recordPosts(p.site).some((r) => r.status === 400));
  // One mutation of about 5 million characters: over the recorder's 4 Mi-character limit for an event.
  await page.evaluate(() => document.body.append("x".repeat(5_000_000)));
  await page.goto("about:blank");
  const [final] = await waitForFinal(p.site);
  assert.equal(recordPosts(p.site).filter((r) => r.status === 400).length, 1, "a 4xx is not retried");
  assert.equal(final.seq, 1);
  assert.deepEqual(new Set(final.dropped.split(",")), new Set(["send_failed:1", "too_large:1"]));
});

test("a mutation storm is throttled, and what it drops is counted", async () => {
  const p = definePage("storm");
  const page = await openPage(p.url("page"));
  await recording(page);
  // Each mutation in its own observer callback: 3000 rrweb events at once, well over the burst of 1000.
  await page.evaluate(() => (window.box = document.body.appendChild(document.createElement("div"))));
  await page.evaluate(async () => {
    for (let i = 0; i < 3000; i++) {
      box.dataset.i = i;
      await null;
    }
  });
  // While the page lives, every change is delivered (cut by size, then by the 5 s timer) or counted in the
  // `dropped` of a chunk after it.
  const throttled = () =>
    chunks(p.site).reduce((sum, c) => sum + Number(c.dropped?.match(/throttled:(\d+)/)?.[1] ?? 0), 0);
  const kept = () =>
    allEvents(p.site).filter((e) => e.type === INCREMENTAL && e.data.attributes?.some((a) => "data-i" in a.attributes))
      .length;
  await waitFor("every change kept or counted", () => kept() + throttled() >= 3000);
  assert.equal(kept() + throttled(), 3000, `kept ${kept()}, throttled ${throttled()}`);
  assert.ok(throttled() > 0, "some changes were throttled");
  assert.ok(kept() >= 1000, `only ${kept()} changes kept: the burst allowance is 1000`);
  await page.goto("about:blank");
  await waitForFinal(p.site);
});

test("without CompressionStream, chunks go uncompressed and still valid", async () => {
  await context.addInitScript(() => delete window.CompressionStream);
  const p = definePage("identity");
  const page = await openPage(p.url("page"));
  await recording(page);
  await page.goto("about:blank");
  await waitForFinal(p.site);
  const all = chunks(p.site);
  assert.ok(all.length >= 1);
  assert.ok(all.every((c) => c.enc === "identity"));
  assert.equal(all[0].events[1].type, FULL_SNAPSHOT);
});

test("hidden, then visible again: a final chunk, then a fresh full snapshot continuing the sequence", async () => {
  const p = definePage("hide");
  const page = await openPage(p.url("page"));
  await recording(page);
  await emulateHidden(page, true);
  const [hidden] = await waitForFinal(p.site);
  assert.equal(hidden.seq, 0);
  // Hiding again with nothing new sends nothing more: the next chunk, after showing the page, is 1.
  await emulateHidden(page, true);
  await emulateHidden(page, false);
  await page.evaluate(() => (document.querySelector("h1").textContent = "Back"));
  await page.goto("about:blank");
  await waitForFinal(p.site, 2);
  const all = chunks(p.site);
  assert.deepEqual(
    all.map((c) => [c.seq, c.fin]),
    [
      [0, "1"],
      [1, "1"],
    ],
  );
  assert.equal(all[1].full, "1", "a full snapshot when the page shows again");
  assert.deepEqual(
    all[1].events.slice(0, 2).map((e) => e.type),
    [META, FULL_SNAPSHOT],
  );
});

test("the page sees no error even when the endpoint cannot be reached", async () => {
  const closed = http.createServer();
  const port = await listen(closed);
  await new Promise((r) => closed.close(r));
  const p = definePage("unreachable", { attrs: { record: "", api: `http://127.0.0.1:${port}/track` } });
  const page = await openPage(p.url("page"));
  await recording(page);
  await page.evaluate(() => (document.querySelector("h1").textContent = "Still fine"));
  await emulateHidden(page, true);
  await emulateHidden(page, false);
  assert.equal(await page.evaluate(() => document.querySelector("h1").textContent), "Still fine");
  // The recorder noted the loss for the next chunk this tab manages to send.
  await page.waitForFunction(() => JSON.parse(sessionStorage.pathlight_rec).dropped.send_failed >= 1);
});
