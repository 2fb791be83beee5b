// End-to-end tests of the built snippet (tracker-js/dist/pathlight.js) in headless Chromium.
//
// Two local servers on port 0, so two origins: the "site" serves test pages, the "collector" plays the
// edge worker: it serves the snippet at GET /js and records every request to POST /track (and /collect,
// for the data-api override), answering 202 with `Access-Control-Allow-Origin: *`. Every assertion is on
// what the collector really received. Nothing waits a fixed time: tests poll the collector with a deadline.
//
// To prove that something was NOT sent, a test sends a later "marker" event (or loads a control page) and
// waits for it: the snippet keeps events in order, so anything queued before the marker has been sent
// no later than the marker's request.
//
// Run: node --test tests/browser-tracker/   (after scripts/install.sh; needs /usr/bin/chromium, or set CHROMIUM_PATH)
import { after, afterEach, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { tool } from "../../tracker-js/scripts/tools.mjs";
import { launchChromium } from "../support/browser.mjs";


// PATHLIGHT_SNIPPET points the suite at another build, e.g. to check that a deliberately broken one fails.
const SNIPPET = readFileSync(
  process.env.PATHLIGHT_SNIPPET || new URL("../../tracker-js/dist/pathlight.js", import.meta.url),
);
// The machine may be busy compiling; deadlines are generous, and only ever reached when a test fails.
const DEADLINE_MS = 30_000;
const SID = /^[A-Za-z0-9]{16}$/;
const EVENT_ID = /^[A-Za-z0-9]{16}$/;

// ---------------------------------------------------------------- servers

const requests = []; // everything the collector received, in arrival order
const respond = new Map(); // site -> (nth request for that site, 0-based) => HTTP status
let collectorOrigin;
let siteOrigin;
const pages = new Map(); // page key -> { attrs, head, body, title }

// The /track contract, generated from the worker's Rust types (event-schema/src/track.rs). Every request of
// every test is checked against it, not only the fields a test looks at: a request it refuses fails the test.
const CONTRACT = JSON.parse(
  readFileSync(new URL("../../event-schema/contracts/track-request.schema.json", import.meta.url), "utf8"),
);
const Ajv2020 = tool("ajv/dist/2020");
const ajv = new Ajv2020({ strict: true, allErrors: true });
// schemars names the width of Rust integers in `format`; the bounds themselves are minimum/maximum.
for (const width of ["uint16", "uint32", "uint64"]) ajv.addFormat(width, { type: "number", validate: Number.isInteger });
const matchesContract = ajv.compile(CONTRACT);
const contractProblems = (body) =>
  matchesContract(body) ? [] : matchesContract.errors.map((e) => `${e.instancePath || "/"} ${e.message}`);

const listen = (server) =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });

const collector = http.createServer(async (req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  if (req.method === "GET" && path === "/js") {
    res.writeHead(200, { "Content-Type": "application/javascript; charset=utf-8", "Cache-Control": "no-store" });
    res.end(SNIPPET);
    return;
  }
  if (req.method === "OPTIONS") {
    // The snippet must never need a preflight; record it so tests can prove there was none.
    requests.push({ method: "OPTIONS", path, headers: req.headers });
    res.writeHead(204, {
      "Access-Control-Allow-Origin": "*",
      "Access-Control-Allow-Methods": "POST",
      "Access-Control-Allow-Headers": "content-type",
    });
    res.end();
    return;
  }
  if (req.method === "POST" && (path === "/track" || path === "/collect")) {
    const raw = await readBody(req);
    let body = null;
    try {
      body = JSON.parse(raw);
    } catch {}
    const site = body?.site;
    const nth = requests.filter((r) => r.method === "POST" && r.body?.site === site).length;
    const status = respond.get(site)?.(nth) ?? 202;
    requests.push({ method: "POST", path, headers: req.headers, raw, body, status, problems: contractProblems(body) });
    res.writeHead(status, { "Access-Control-Allow-Origin": "*" });
    res.end();
    return;
  }
  res.writeHead(404).end();
});

const html = (key, page) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${page.title ?? "Test page"}</title>
${page.head ?? ""}
<script defer src="${collectorOrigin}/js" data-site="${page.site ?? key + ".test"}"${Object.entries(page.attrs ?? {})
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

// ---------------------------------------------------------------- helpers

let browser;
let context;
let pageErrors;
let expectedErrors;
let firstRequest; // index into `requests` where the running test began

const definePage = (key, page = {}) => {
  pages.set(key, page);
  return { url: (rest = "") => `${siteOrigin}/p/${key}/${rest}`, site: page.site ?? `${key}.test` };
};

const posts = (site) => requests.filter((r) => r.method === "POST" && r.body?.site === site);
const events = (site) => posts(site).flatMap((r) => r.body.events);
const ofKind = (site, kind) => events(site).filter((e) => e.kind === kind);
const named = (site, name) => events(site).filter((e) => e.kind === "event" && e.name === name);

async function waitFor(what, check) {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const seen = requests.slice(firstRequest).map((r) => `${r.method} ${r.path} ${r.raw ?? ""}`);
      throw new Error(`timed out waiting for ${what}; during this test the collector saw:\n  ${seen.join("\n  ")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const waitForEvents = (what, site, predicate, count = 1) =>
  waitFor(what, () => {
    const found = events(site).filter(predicate);
    return found.length >= count && found;
  });

// Sends a uniquely named custom event from the page and waits until the collector has it.
let markers = 0;
async function marker(page, site) {
  const name = `marker-${++markers}`;
  await page.evaluate((n) => window.pathlight(n), name);
  await waitForEvents(name, site, (e) => e.name === name);
  return name;
}

// For pages that must send nothing at all (so they cannot send a marker): navigating away forces their
// pagehide flush, then a control page in the same browser context proves the network has caught up. The
// control page is served from a third origin (localhost instead of 127.0.0.1) so that it does not share
// the storage, and so the opt-out, of the page under test.
async function settle(page) {
  await page.goto("about:blank");
  const control = definePage(`control-${++markers}`);
  const other = await context.newPage();
  await other.goto(control.url().replace("//127.0.0.1:", "//localhost:"));
  await marker(other, control.site);
  await other.close();
}

const newContext = async (options = {}) => {
  const ctx = await browser.newContext({
    locale: "en-US",
    screen: { width: 1280, height: 800 },
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  ctx.on("page", (p) => p.on("pageerror", (e) => pageErrors.push(e.message)));
  return ctx;
};

const openPage = async (url, options) => {
  const page = await context.newPage();
  await page.goto(url, options);
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
  expectedErrors = [];
  firstRequest = requests.length;
  context = await newContext();
});

afterEach(async () => {
  await context?.close();
  // No test page may see an error it did not cause itself.
  assert.deepEqual(pageErrors, expectedErrors, "unexpected page errors");
  const mine = requests.slice(firstRequest);
  assert.deepEqual(
    mine.filter((r) => r.method === "OPTIONS"),
    [],
    "the snippet triggered a CORS preflight",
  );
  assert.deepEqual(
    mine.filter((r) => r.problems?.length).map((r) => [r.problems, r.raw]),
    [],
    "a request broke the /track contract (event-schema/contracts/track-request.schema.json)",
  );
  // Every event has an id of its own. Retries resend the same body, so distinct bodies never share an id.
  const ids = [...new Set(mine.map((r) => r.raw))].flatMap((raw) => JSON.parse(raw ?? "{}").events?.map((e) => e.id) ?? []);
  assert.deepEqual(
    ids.filter((id, i) => ids.indexOf(id) !== i),
    [],
    "two events share an id",
  );
});

// ---------------------------------------------------------------- tests

test("the contract check refuses what the worker refuses and what the snippet must not send", () => {
  const pageview = {
    kind: "pageview",
    url: "https://example.com/a",
    referrer: "",
    title: "A",
    screen_width: 1280,
    language: "en-US",
    id: "Ab3dEf6hIj9kLm2n",
  };
  const body = (event, request = {}) =>
    JSON.parse(JSON.stringify({ site: "example.com", sid: "Ab3dEf6hIj9kLm2n", events: [event], ...request }));
  const custom = { kind: "event", url: "https://example.com/a", name: "signup", props: { plan: "pro" }, id: "x".repeat(16) };
  const engagement = { kind: "engagement", url: "https://example.com/a", engaged_ms: 1200, id: "y".repeat(16) };
  for (const valid of [pageview, custom, engagement]) assert.deepEqual(contractProblems(body(valid)), [], valid.kind);

  const refused = {
    "a client timestamp (the server time is authoritative)": body({ ...pageview, ts: 1732300000000 }),
    "an event without an id": body({ ...pageview, id: undefined }),
    "an id that is too short": body({ ...pageview, id: "abc" }),
    "an id with other characters": body({ ...pageview, id: "Ab3dEf6hIj9kLm2n!" }),
    "an unknown kind": body({ ...pageview, kind: "click" }),
    "a relative url": body({ ...pageview, url: "/a" }),
    "a title over the worker's limit": body({ ...pageview, title: "t".repeat(513) }),
    "a screen wider than the worker accepts": body({ ...pageview, screen_width: 16385 }),
    "a language that is not a tag": body({ ...pageview, language: "en US;" }),
    "a custom event's field on a pageview": body({ ...pageview, name: "signup" }),
    "a custom event without a name": body({ ...custom, name: undefined }),
    "a nested prop": body({ ...custom, props: { a: { b: 1 } } }),
    "a null prop": body({ ...custom, props: { a: null } }),
    "an empty prop name": body({ ...custom, props: { "": 1 } }),
    "too many props": body({ ...custom, props: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, i])) }),
    "an engagement without its time": body({ ...engagement, engaged_ms: undefined }),
    "an engagement of more than a day": body({ ...engagement, engaged_ms: 86_400_001 }),
    "a site with a space": body(pageview, { site: "example com" }),
    "a short session id": body(pageview, { sid: "short" }),
    "an unknown request field": body(pageview, { version: 2 }),
    "no events": body(pageview, { events: [] }),
    "more than 25 events": body(pageview, { events: Array(26).fill(pageview) }),
  };
  for (const [what, request] of Object.entries(refused)) assert.notDeepEqual(contractProblems(request), [], what);
});

test("one pageview on load, with the documented fields, to the script's own origin", async () => {
  const p = definePage("basic", { title: "Pricing" });
  const url = p.url("pricing?utm_source=news&plan=pro");
  const page = await openPage(url, { referer: "http://search.test/" });

  const [view] = await waitForEvents("the first pageview", p.site, (e) => e.kind === "pageview");
  await marker(page, p.site);
  assert.equal(ofKind(p.site, "pageview").length, 1, "exactly one pageview");

  assert.deepEqual(Object.keys(view).sort(), ["id", "kind", "language", "referrer", "screen_width", "title", "url"]);
  assert.equal(view.url, url);
  assert.equal(view.referrer, "http://search.test/");
  assert.equal(view.title, "Pricing");
  assert.equal(view.screen_width, 1280);
  assert.equal(view.language, "en-US");
  assert.match(view.id, EVENT_ID);

  const [first] = posts(p.site);
  assert.equal(first.path, "/track", "default endpoint is the script's origin + /track");
  assert.match(first.headers["content-type"], /^text\/plain/);
  assert.equal(first.headers.origin, siteOrigin);
  assert.equal(first.headers.cookie, undefined);
  assert.deepEqual(Object.keys(first.body), ["site", "sid", "events"]);
  assert.match(first.body.sid, SID);
  assert.equal(first.body.sid, await page.evaluate(() => sessionStorage.pathlight_sid));
});

test("SPA navigation: pushState counts once; replaceState to the same URL and popstate bounces do not", async () => {
  const p = definePage("spa", { title: "SPA" });
  const start = p.url("home");
  const page = await openPage(start);
  await waitForEvents("the load pageview", p.site, (e) => e.kind === "pageview");

  const next = p.url("next?tab=2");
  await page.evaluate(() => {
    history.pushState({}, "", "next?tab=2");
  });
  const [view] = await waitForEvents("the pushState pageview", p.site, (e) => e.kind === "pageview" && e.url === next);
  assert.equal(view.referrer, start, "an SPA pageview's referrer is the previous URL");

  // The engagement of the page being left comes before the next pageview.
  const stream = events(p.site);
  const engagement = stream.findIndex((e) => e.kind === "engagement" && e.url === start);
  assert.ok(engagement >= 0, "engagement for the first URL was sent");
  assert.ok(engagement < stream.indexOf(view));
  assert.ok(stream[engagement].engaged_ms >= 1);

  await page.evaluate(() => {
    history.replaceState({ x: 1 }, "", location.href);
    // Some routers re-announce the current URL with a synthetic popstate after pushing it.
    dispatchEvent(new PopStateEvent("popstate"));
    history.pushState({}, "", location.pathname + location.search);
  });
  await marker(page, p.site);
  assert.deepEqual(
    ofKind(p.site, "pageview").map((e) => e.url),
    [start, next],
  );

  // Back past the duplicate entry pushed above, to the first URL.
  await page.evaluate(() => history.go(-2));
  await waitForEvents("the back-navigation pageview", p.site, (e) => e.kind === "pageview" && e.url === start, 2);
  const views = ofKind(p.site, "pageview");
  assert.equal(views.length, 3);
  assert.equal(views[2].referrer, next);
});

test("custom events called before the script loaded are replayed in order after the first pageview", async () => {
  const p = definePage("queue", {
    head: `<script>
      window.pathlight = window.pathlight || function () { (window.pathlight.q = window.pathlight.q || []).push(arguments) };
      pathlight("signup", { plan: "pro", seats: 3, trial: false });
      pathlight("second");
    </script>`,
  });
  const url = p.url("pricing");
  const page = await openPage(url);
  await waitForEvents("the replayed event", p.site, (e) => e.name === "second");
  const stream = events(p.site);
  assert.deepEqual(
    stream.map((e) => e.name ?? e.kind),
    ["pageview", "signup", "second"],
  );
  assert.deepEqual(stream[1], {
    kind: "event",
    url,
    name: "signup",
    props: { plan: "pro", seats: 3, trial: false },
    id: stream[1].id,
  });
  assert.deepEqual(stream[2].props, {});
  assert.equal(await page.evaluate(() => typeof window.pathlight), "function");
});

const LINKS = `
  <a id="out" href="http://elsewhere.test/path?q=1">elsewhere</a>
  <a id="in" href="local">local</a>
  <a id="pdf" href="/files/Report.PDF">report</a>
  <a id="zip" href="http://cdn.test/app.zip"><span id="zip-inner">app</span></a>
  <a id="epub" href="/files/book.epub">book</a>
  <script>
    // Keep the page: every link would otherwise navigate away (or open a tab on middle click).
    for (const type of ["click", "auxclick"]) addEventListener(type, (e) => e.preventDefault());
  </script>`;

const clickAll = async (page) => {
  await page.click("#out");
  await page.click("#out", { button: "middle" });
  await page.click("#out", { button: "right" });
  await page.click("#in");
  await page.click("#pdf");
  await page.click("#zip-inner");
  await page.click("#epub");
};

test("outbound clicks and file downloads are reported when enabled", async () => {
  const p = definePage("links-on", { attrs: { "outbound-links": "", "file-downloads": "" }, body: LINKS });
  const page = await openPage(p.url("page"));
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  await clickAll(page);
  await waitForEvents("two outbound clicks", p.site, (e) => e.name === "outbound_click", 2);
  await waitForEvents("two downloads", p.site, (e) => e.name === "file_download", 2);
  await marker(page, p.site);

  const outbound = named(p.site, "outbound_click");
  assert.deepEqual(
    outbound.map((e) => e.props),
    [{ url: "http://elsewhere.test/path?q=1" }, { url: "http://elsewhere.test/path?q=1" }],
    "left and middle click count, right click does not",
  );
  assert.equal(outbound[0].url, p.url("page"));
  // The clicks may fall into separate batches, whose requests can arrive in either order: compare sorted.
  assert.deepEqual(
    named(p.site, "file_download").map((e) => e.props.url).sort(),
    [`${siteOrigin}/files/Report.PDF`, "http://cdn.test/app.zip"].sort(),
    "default extensions, case-insensitive; an external download counts once, as a download",
  );
});

test("a custom download extension list replaces the default one", async () => {
  const p = definePage("links-ext", { attrs: { "file-downloads": "epub, mobi" }, body: LINKS });
  const page = await openPage(p.url("page"));
  await clickAll(page);
  await waitForEvents("the epub download", p.site, (e) => e.name === "file_download");
  await marker(page, p.site);
  assert.deepEqual(
    named(p.site, "file_download").map((e) => e.props.url),
    [`${siteOrigin}/files/book.epub`],
  );
  assert.deepEqual(named(p.site, "outbound_click"), []);
});

test("link clicks are not reported without data-outbound-links / data-file-downloads", async () => {
  const p = definePage("links-off", { body: LINKS });
  const page = await openPage(p.url("page"));
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  await clickAll(page);
  const name = await marker(page, p.site);
  assert.deepEqual(
    events(p.site).map((e) => e.name ?? e.kind),
    ["pageview", name],
  );
});

test("Do Not Track and Global Privacy Control are honoured only with data-respect-dnt", async () => {
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "doNotTrack", { get: () => "1" });
  });
  const respecting = definePage("dnt-on", { attrs: { "respect-dnt": "" } });
  const ignoring = definePage("dnt-off");

  const quiet = await openPage(respecting.url("page"));
  // The public API stays callable (and silent) so host code calling it does not break.
  await quiet.evaluate(() => window.pathlight("should-not-send", { a: 1 }));
  await openPage(ignoring.url("page"));
  await waitForEvents("the pageview despite DNT", ignoring.site, (e) => e.kind === "pageview");
  await settle(quiet);
  assert.deepEqual(posts(respecting.site), []);

  // Global Privacy Control alone, in a fresh context.
  await context.close();
  context = await newContext();
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true });
  });
  const gpc = definePage("gpc-on", { attrs: { "respect-dnt": "" } });
  await settle(await openPage(gpc.url("page")));
  assert.deepEqual(posts(gpc.site), []);
});

test("a visitor opts out with localStorage.pathlight_ignore = 'true'", async () => {
  const p = definePage("optout");
  const page = await openPage(p.url("page"));
  await waitForEvents("the pageview before opting out", p.site, (e) => e.kind === "pageview");
  await page.evaluate(() => {
    localStorage.pathlight_ignore = "true";
  });
  await page.goto(p.url("other"));
  await page.evaluate(() => window.pathlight("ignored"));
  await settle(page);
  assert.deepEqual(
    ofKind(p.site, "pageview").map((e) => e.url),
    [p.url("page")],
  );
  assert.deepEqual(named(p.site, "ignored"), []);
});

test("excluded paths send nothing: no pageview, event or engagement", async () => {
  const p = definePage("excl", { attrs: { exclude: "/p/excl/admin/*, /p/excl/preview" } });
  const page = await openPage(p.url("admin/users"));
  await page.evaluate(() => {
    pathlight("on-admin");
    history.pushState({}, "", "/p/excl/preview");
    pathlight("on-preview");
  });
  await page.evaluate(() => history.pushState({}, "", "/p/excl/previewer"));
  await waitForEvents("the pageview of a non-matching path", p.site, (e) => e.kind === "pageview");
  await marker(page, p.site);
  const urls = events(p.site).map((e) => `${e.kind} ${new URL(e.url).pathname}`);
  assert.deepEqual(urls, ["pageview /p/excl/previewer", "event /p/excl/previewer"]);
});

test("the URL fragment is stripped by default and a hash change is not a navigation", async () => {
  const p = definePage("hash-off");
  const page = await openPage(p.url("page?x=1#access_token=secret"));
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  await page.evaluate(() => {
    location.hash = "#other";
  });
  await marker(page, p.site);
  const views = ofKind(p.site, "pageview");
  assert.deepEqual(
    views.map((e) => e.url),
    [p.url("page?x=1")],
  );
  assert.ok(!requests.some((r) => r.raw?.includes("secret")), "the fragment never left the page");
});

test("with data-hash the fragment is kept and hashchange counts as navigation", async () => {
  const p = definePage("hash-on", { attrs: { hash: "" } });
  const page = await openPage(p.url("app#/inbox"));
  await waitForEvents("the load pageview", p.site, (e) => e.kind === "pageview");
  await page.evaluate(() => {
    location.hash = "#/settings";
  });
  await waitForEvents("the hashchange pageview", p.site, (e) => e.kind === "pageview", 2);
  assert.deepEqual(
    ofKind(p.site, "pageview").map((e) => [e.url, e.referrer]),
    [
      [p.url("app#/inbox"), ""],
      [p.url("app#/settings"), p.url("app#/inbox")],
    ],
  );
});

test("data-api overrides the endpoint", async () => {
  const p = definePage("api", { attrs: { api: `${collectorOrigin}/collect` } });
  await openPage(p.url("page"));
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  assert.deepEqual(
    posts(p.site).map((r) => r.path),
    ["/collect"],
  );
});

// Headless Chromium keeps every page visible, so the hidden state is emulated the way the browser
// announces it: document.hidden / visibilityState change, then visibilitychange fires at the document.
const emulateHidden = (page, hidden) =>
  page.evaluate((h) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => h });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (h ? "hidden" : "visible") });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);

test("engagement is reported when the page is hidden and again on pagehide", async () => {
  const p = definePage("engage");
  const url = p.url("article");
  const page = await openPage(url);
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");

  const setHidden = (hidden) => emulateHidden(page, hidden);

  await setHidden(true);
  const [hidden] = await waitForEvents("engagement on hidden", p.site, (e) => e.kind === "engagement");
  assert.equal(hidden.url, url);
  assert.ok(Number.isInteger(hidden.engaged_ms) && hidden.engaged_ms >= 1000, `engaged_ms ${hidden.engaged_ms}`);

  // Time spent hidden must not count. Stay hidden for 1.5 s of page time (the measured quantity, polled
  // for, not a synchronisation), then visible for at least 50 ms, then leave.
  const hiddenAt = await page.evaluate(() => performance.now());
  await page.waitForFunction((t) => performance.now() - t > 1500, hiddenAt, { polling: 50 });
  const shownAt = Date.now();
  await setHidden(false);
  const visibleAt = await page.evaluate(() => performance.now());
  await page.waitForFunction((t) => performance.now() - t > 50, visibleAt, { polling: 10 });
  await page.goto("about:blank");
  const all = await waitForEvents("engagement on pagehide", p.site, (e) => e.kind === "engagement", 2);
  const elapsed = Date.now() - shownAt;
  assert.equal(all[1].url, url);
  assert.ok(all[1].engaged_ms >= 50, `engaged_ms ${all[1].engaged_ms}`);
  assert.ok(all[1].engaged_ms <= elapsed, `engaged_ms ${all[1].engaged_ms} counts hidden time (${elapsed} ms since shown)`);

  // pagehide and the visibilitychange that follows it must not both report: reload in the same tab and
  // send a marker, which travels after anything the unloading page could still have sent.
  await page.goto(p.url("again"));
  await marker(page, p.site);
  assert.equal(ofKind(p.site, "engagement").filter((e) => e.url === url).length, 2);
});

test("engaged time follows the clock, and a report over a day (which the server refuses) is dropped", async () => {
  const p = definePage("engage-clock");
  const url = p.url("kiosk");
  const page = await context.newPage();
  await page.clock.install();
  await page.goto(url);
  await page.clock.runFor(1500); // the batching timer
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");

  const hours = 3600_000;
  await page.clock.runFor(2 * hours);
  await emulateHidden(page, true);
  const [first] = await waitForEvents("engagement after two hours", p.site, (e) => e.kind === "engagement");
  assert.equal(first.url, url);
  assert.ok(first.engaged_ms >= 2 * hours && first.engaged_ms < 2 * hours + 60_000, `engaged_ms ${first.engaged_ms}`);

  // Hidden time does not count...
  await page.clock.runFor(5 * hours);
  await emulateHidden(page, false);
  await page.clock.runFor(1 * hours);
  await emulateHidden(page, true);
  const [, second] = await waitForEvents("engagement after one more visible hour", p.site, (e) => e.kind === "engagement", 2);
  assert.ok(second.engaged_ms >= hours && second.engaged_ms < hours + 60_000, `engaged_ms ${second.engaged_ms}`);

  // ...and 25 visible hours would make the server refuse the whole batch, so they are not reported.
  await emulateHidden(page, false);
  await page.clock.runFor(25 * hours);
  await emulateHidden(page, true);
  await emulateHidden(page, false);
  await page.evaluate(() => pathlight("after-kiosk"));
  await page.clock.runFor(1500);
  await waitForEvents("the marker", p.site, (e) => e.name === "after-kiosk");
  assert.equal(ofKind(p.site, "engagement").length, 2);
});

test("engagement is reported when the tab is closed", async () => {
  const p = definePage("close");
  const url = p.url("page");
  const page = await openPage(url);
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  await page.close({ runBeforeUnload: true });
  const [e] = await waitForEvents("engagement on close", p.site, (e) => e.kind === "engagement");
  assert.equal(e.url, url);
  assert.ok(e.engaged_ms > 0);
});

test("no cookies; the session id lives per tab in sessionStorage", async () => {
  const p = definePage("session");
  const page = await openPage(p.url("one"));
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  assert.equal(await page.evaluate(() => document.cookie), "");
  assert.deepEqual(await context.cookies(), []);
  const sid = await page.evaluate(() => sessionStorage.pathlight_sid);
  assert.match(sid, SID);

  await page.goto(p.url("two"));
  await waitForEvents("the second pageview", p.site, (e) => e.kind === "pageview", 2);
  const tab2 = await openPage(p.url("three"));
  await waitForEvents("the third pageview", p.site, (e) => e.kind === "pageview", 3);

  const sids = posts(p.site).map((r) => [r.body.events.find((e) => e.kind === "pageview")?.url, r.body.sid]);
  const sidOf = (u) => sids.find(([url]) => url === u)[1];
  assert.equal(sidOf(p.url("one")), sid);
  assert.equal(sidOf(p.url("two")), sid, "same tab, same session");
  assert.notEqual(sidOf(p.url("three")), sid, "a new tab is a new session");
  assert.match(sidOf(p.url("three")), SID);
  assert.equal(await tab2.evaluate(() => document.cookie), "");
  assert.deepEqual(await context.cookies(), []);
  assert.ok(posts(p.site).every((r) => r.headers.cookie === undefined));
});

test("the host page sees only its own errors, even with storage blocked and no sendBeacon", async () => {
  await context.addInitScript(() => {
    const blocked = () => {
      throw new DOMException("storage is disabled", "SecurityError");
    };
    Object.defineProperty(window, "localStorage", { get: blocked });
    Object.defineProperty(window, "sessionStorage", { get: blocked });
    Object.defineProperty(Navigator.prototype, "sendBeacon", { value: undefined });
  });
  const p = definePage("hostile", {
    head: `<script>throw new Error("host page bug");</script>`,
    body: `<svg width="10" height="10"><a id="svg-link" href="/p/hostile/svg"><text y="9">x</text></a></svg>
    <script>
      const circular = { a: 1 };
      circular.self = circular;
      window.results = [];
      document.getElementById("svg-link").addEventListener("click", (e) => e.preventDefault());
      const calls = [
        () => pathlight(),
        () => pathlight(null),
        () => pathlight("", { a: 1 }),
        () => pathlight("no-props", null),
        () => pathlight("circular", circular),
        () => pathlight("getter", { get bad() { throw new Error("getter"); } }),
        () => pathlight(Symbol("s")),
        // Clicks the snippet cannot make sense of: one whose target is the document itself, and one
        // on an SVG link, whose href is not a string.
        () => document.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true })),
        () => document.getElementById("svg-link").dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true })),
        () => pathlight("ok", { fine: "yes" }),
      ];
      addEventListener("load", () => {
        for (const call of calls) {
          try { call(); window.results.push("ok"); } catch (e) { window.results.push(String(e)); }
        }
      });
    </script>`,
  });
  expectedErrors = ["host page bug"];
  const page = await openPage(p.url("page"));
  // The page view may go in a request of its own, before the load handler's events: separate requests can
  // arrive in either order, so wait for all four events, not for the last one sent.
  await waitForEvents("the page view and the three valid events", p.site, () => true, 4);
  assert.deepEqual(await page.evaluate(() => window.results), Array(10).fill("ok"));
  assert.equal(ofKind(p.site, "pageview").length, 1);
  assert.deepEqual(
    ofKind(p.site, "event").map((e) => e.name),
    ["no-props", "circular", "ok"],
  );
  assert.deepEqual(named(p.site, "circular")[0].props, { a: 1 });
  const [first] = posts(p.site);
  assert.match(first.body.sid, SID, "a per-page id when sessionStorage is unavailable");
  assert.match(first.headers["content-type"], /^text\/plain/, "fetch fallback keeps the simple content type");
});

test("limits: long values are truncated, invalid props dropped, so the server never rejects a batch", async () => {
  const longTitle = "t".repeat(299) + "😀" + "x".repeat(100);
  const p = definePage("limits", { title: longTitle });
  const page = await openPage(p.url("page"));
  const [view] = await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  assert.equal([...view.title].length, 300);
  assert.ok(view.title.endsWith("😀"), "truncation counts code points and never splits a surrogate pair");

  await page.evaluate(() => {
    history.pushState({}, "", "long?q=" + "a".repeat(3000));
    const props = { keep: "v".repeat(300), ["k".repeat(100)]: 1, num: 1.5, yes: true };
    Object.assign(props, { nan: NaN, inf: Infinity, obj: { a: 1 }, arr: [1], nul: null, undef: undefined, big: 10n });
    props[""] = "an empty key";
    for (let i = 0; i < 20; i++) props["p" + i] = i;
    pathlight("n".repeat(100), props);
  });
  const [event] = await waitForEvents("the custom event", p.site, (e) => e.kind === "event");
  const long = ofKind(p.site, "pageview")[1];
  assert.equal(long.url.length, 2048);
  assert.ok(p.url("long?q=" + "a".repeat(3000)).startsWith(long.url));
  assert.equal(event.url, long.url);
  assert.equal(event.name, "n".repeat(64));
  const keys = Object.keys(event.props);
  assert.equal(keys.length, 16);
  assert.deepEqual(keys.slice(0, 4), ["keep", "k".repeat(64), "num", "yes"]);
  assert.equal(event.props.keep, "v".repeat(256));
  assert.equal(event.props.num, 1.5);
  assert.equal(event.props.yes, true);
  for (const dropped of ["nan", "inf", "obj", "arr", "nul", "undef", "big", ""]) assert.ok(!(dropped in event.props), dropped);
  for (const r of posts(p.site)) assert.ok(r.body.events.length <= 25);
});

test("events are batched: ten queued events flush at once, and no request carries more than 25", async () => {
  const p = definePage("batch");
  const page = await openPage(p.url("page"));
  await waitForEvents("the pageview", p.site, (e) => e.kind === "pageview");
  await page.evaluate(() => {
    for (let i = 0; i < 37; i++) pathlight("e" + i, { i });
  });
  await waitForEvents("all 37 events", p.site, (e) => e.kind === "event", 37);
  assert.deepEqual(
    ofKind(p.site, "event")
      .map((e) => e.props.i)
      .sort((a, b) => a - b),
    Array.from({ length: 37 }, (_, i) => i),
    "none lost, none duplicated",
  );
  for (const r of posts(p.site)) {
    const order = r.body.events.map((e) => e.props?.i ?? -1);
    assert.deepEqual(order, [...order].sort((a, b) => a - b), "in order within a request");
  }
  const sizes = posts(p.site).map((r) => r.body.events.length);
  assert.ok(sizes.every((n) => n >= 1 && n <= 25), `batch sizes ${sizes}`);
  // 37 events in one go: three full batches of ten without waiting for the timer, then the rest (plus
  // the pageview's own batch). Separate requests may arrive in any order, so compare sorted.
  assert.deepEqual(sizes.sort((a, b) => a - b), [1, 7, 10, 10, 10]);
});

// The fetch fallback, driven by Playwright's fake clock so backoff timers run on demand. The page's
// fetch is wrapped only to count calls and completions; the requests themselves are real.
async function runRetries(key, statuses, pageOptions = {}) {
  respond.set(`${key}.test`, (nth) => statuses[Math.min(nth, statuses.length - 1)]);
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "sendBeacon", { value: () => false });
    const realFetch = window.fetch;
    window.fetchLog = { calls: 0, settled: 0, keepalive: [] };
    window.fetch = function (url, init) {
      fetchLog.calls++;
      fetchLog.keepalive.push(init?.keepalive);
      const result = realFetch.apply(this, arguments);
      result.then(
        () => fetchLog.settled++,
        () => fetchLog.settled++,
      );
      return result;
    };
  });
  const p = definePage(key, pageOptions);
  const page = await context.newPage();
  await page.clock.install();
  await page.goto(p.url("page"));
  await page.clock.runFor(1500); // the batching timer
  // Alternate between letting requests complete and fast-forwarding past any backoff timer, until a
  // fast-forward schedules nothing new. Completion handlers run before the next task, so by the time
  // page.evaluate sees a request settled, any retry timer it schedules already exists.
  for (let round = 0; round < 10; round++) {
    await waitFor("fetches to settle", () => page.evaluate(() => fetchLog.calls > 0 && fetchLog.settled === fetchLog.calls));
    const before = await page.evaluate(() => fetchLog.calls);
    await page.clock.runFor(60_000);
    if ((await page.evaluate(() => fetchLog.calls)) === before) break;
  }
  const log = await page.evaluate(() => fetchLog);
  return { site: p.site, log, page };
}

test("fetch fallback retries 503 and 429 with backoff, then delivers", async () => {
  const { site, log } = await runRetries("retry-ok", [503, 429, 202]);
  assert.deepEqual(posts(site).map((r) => r.status), [503, 429, 202]);
  assert.equal(log.calls, 3);
  assert.deepEqual(log.keepalive, [true, false, false]);
  const bodies = new Set(posts(site).map((r) => r.raw));
  assert.equal(bodies.size, 1, "a retry resends the same batch");
});

test("a retried request carries the same event ids, so the worker stores its events once", async () => {
  const { site } = await runRetries("retry-ids", [503, 503, 202], {
    head: `<script>
      window.pathlight = window.pathlight || function () { (window.pathlight.q = window.pathlight.q || []).push(arguments) };
      pathlight("signup");
    </script>`,
  });
  const attempts = posts(site);
  assert.deepEqual(attempts.map((r) => r.status), [503, 503, 202]);
  const [first, ...retries] = attempts.map((r) => r.body.events.map((e) => e.id));
  assert.deepEqual(
    attempts[0].body.events.map((e) => e.name ?? e.kind),
    ["pageview", "signup"],
  );
  for (const id of first) assert.match(id, EVENT_ID);
  assert.notEqual(first[0], first[1], "each event has its own id");
  assert.deepEqual(retries, [first, first]);
});

test("fetch fallback gives up after two retries", async () => {
  const { site, log } = await runRetries("retry-cap", [503]);
  assert.deepEqual(posts(site).map((r) => r.status), [503, 503, 503]);
  assert.equal(log.calls, 3);
});

test("fetch fallback never retries other 4xx answers", async () => {
  const { site, log } = await runRetries("retry-400", [400]);
  assert.deepEqual(posts(site).map((r) => r.status), [400]);
  assert.equal(log.calls, 1);
});

test("fetch fallback retries network errors", async () => {
  // A refused connection: a port that was free a moment ago.
  const closed = http.createServer();
  const port = await listen(closed);
  await new Promise((r) => closed.close(r));
  const { log } = await runRetries("retry-net", [202], { attrs: { api: `http://127.0.0.1:${port}/track` } });
  assert.equal(log.calls, 3);
});
