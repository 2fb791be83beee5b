// The analytics dashboard in a real Chromium: the gateway serves /dashboard (the bundled script with uPlot),
// which reads the stats API, which reads ClickHouse 18.16. Page views of a site unique to the run are seeded
// into page_visits (the rollups' views fill from that insert), so every number on the page is known.
//
// Needs the local stack's ClickHouse and broker (scripts/stack.sh up; CLICKHOUSE_HTTP_PORT and BROKER_PORT
// from scripts/env.sh) and a built gateway (cargo build -p ingest-gateway; GATEWAY_BIN to use another).
// Each run migrates a fresh database and starts its own `ingest-gateway serve` on a free port, as
// tests/browser-replay does. Screenshots go to $PATHLIGHT_LOGS/browser-dashboard/.
//
// Run: node --test tests/browser-dashboard/
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, pngColours, poll } from "../support/browser.mjs";
import { insertRows, startGateway } from "../support/gateway.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SHOTS = join(process.env.PATHLIGHT_LOGS || join(ROOT, ".stack", "logs"), "browser-dashboard");
// The machine may be busy compiling; deadlines are generous, and only ever reached when a test fails.
const DEADLINE_MS = 30_000;

const RUN = randomBytes(6).toString("hex");
const DATABASE = `pathlight_dashboard_browser_${RUN}`;
const SITE = `dash-${RUN}.example`;
const USER = "analyst";
const PASSWORD = randomBytes(12).toString("hex");
const DAY = "2026-01-15";
const T0 = Date.UTC(2026, 0, 15) / 1000; // midnight of DAY, unix seconds
// A visitor-chosen path that would run script if it were ever written as markup.
const HOSTILE_PATH = `/search/<img src=x onerror="window.__injected=1">`;
const VISITORS_RGB = [47, 111, 219]; // the chart's visitors line (#2f6fdb in dashboard.js)

let gateway;
let origin;
let browser;

// ---------------------------------------------------------------- seeded events

const GERMANY = { country: "DE", region: "Berlin", city: "Berlin", browser: "Chrome", os: "Linux", device: "pc", screen_width: 1920 };
const FRANCE = { country: "FR", region: "Île-de-France", city: "Paris", browser: "Firefox", os: "Android", device: "smartphone", screen_width: 400 };
const GERMANY_MAC = { ...GERMANY, city: "Hamburg", region: "Hamburg", browser: "Safari", os: "Mac OS X", screen_width: 1440 };
const USA = { country: "US", region: "California", city: "San Francisco", browser: "Chrome", os: "Windows 10", device: "pc", screen_width: 1280 };

let serial = 0;
function event(session, visitor, at, pathname, kind, who, extra = {}) {
  serial += 1;
  return {
    event_id: `${RUN}-${String(serial).padStart(4, "0")}`,
    schema_version: 1,
    kind,
    site: SITE,
    session_id: session,
    visitor_id: visitor,
    timestamp: Math.floor(at),
    timestamp_ms: Math.round(at * 1000),
    url: `https://${SITE}${pathname}`,
    hostname: SITE,
    pathname,
    props: "{}",
    ...who,
    ...extra,
  };
}

// Five visits by four visitors on DAY:
//   S1 v1 DE  / (from google.com, newsletter) -> /pricing, signs up, leaves at 120 s   2 views
//   S2 v2 FR  /                                                              bounce   1 view
//   S3 v3 DE  /docs -> HOSTILE_PATH, 300 s                                             2 views
//   S4 v4 US  /                                                              bounce   1 view
//   S5 v1 DE  /docs (a second tab of v1)                                     bounce   1 view
// visitors 4, visits 5, page views 7, 1.40 views per visit, bounce 3/5, duration (120 + 300) / 5 = 84 s.
const seeds = [
  event("S1", "v1", T0 + 9 * 3600, "/", "pageview", GERMANY, { referrer_host: "google.com", referrer: "https://google.com/", utm_source: "newsletter" }),
  event("S1", "v1", T0 + 9 * 3600 + 60, "/pricing", "pageview", GERMANY),
  event("S1", "v1", T0 + 9 * 3600 + 90, "/pricing", "event", GERMANY, { event_name: "signup" }),
  event("S1", "v1", T0 + 9 * 3600 + 120, "/pricing", "engagement", GERMANY),
  event("S2", "v2", T0 + 10 * 3600, "/", "pageview", FRANCE),
  event("S3", "v3", T0 + 11 * 3600, "/docs", "pageview", GERMANY_MAC),
  event("S3", "v3", T0 + 11 * 3600 + 300, HOSTILE_PATH, "pageview", GERMANY_MAC),
  event("S4", "v4", T0 + 14 * 3600, "/", "pageview", USA),
  event("S5", "v1", T0 + 15 * 3600, "/docs", "pageview", GERMANY),
];

// ---------------------------------------------------------------- harness

const insert = (rows) => insertRows(DATABASE, "page_visits", rows);

before(async () => {
  gateway = await startGateway(DATABASE, { STATS_USERNAME: USER, STATS_PASSWORD: PASSWORD }, DEADLINE_MS);
  origin = gateway.origin;
  await insert(seeds);
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await gateway?.stop(); // its database stays, retired, until the stack is purged (tests/support/gateway.mjs)
});

const dayView = (extra = "") => `${origin}/dashboard?site=${SITE}&period=custom&from=${DAY}&to=${DAY}${extra}`;

/** A page of a context that answers the Basic challenge, as a person would; collects script and CSP errors. */
async function signedInPage(t, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD }, viewport });
  t.after(() => context.close());
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  return { page, problems };
}

/** Waits until the page has finished loading a view newer than `after` (its generation counter), and that
 * view loaded without error. */
async function settled(page, after = 0) {
  await page.waitForFunction(
    (previous) => Number(document.body.dataset.generation || 0) > previous && document.body.dataset.state !== "loading",
    after,
    { timeout: DEADLINE_MS },
  );
  const state = await page.evaluate(() => ({ state: document.body.dataset.state, error: document.getElementById("error").textContent }));
  assert.equal(state.state, "ready", `the view loaded (${state.error})`);
  return Number(await page.evaluate(() => document.body.dataset.generation));
}

const headline = (page) =>
  page.$$eval(".stat dd", (dds) => Object.fromEntries(dds.map((dd) => [dd.id.replace("stat-", ""), dd.textContent])));

/** The rows of the table the panel shows now: [value, ...cells]. */
const tableRows = (page, panel) =>
  page.$$eval(`#panel-${panel} table.breakdown tbody tr`, (trs) =>
    trs.map((tr) => [tr.dataset.value, ...[...tr.querySelectorAll("td.num")].map((td) => td.textContent)]));

// ---------------------------------------------------------------- tests

test("without credentials the page and its assets answer 401 with the stats challenge and show no data",
  async () => {
    for (const path of ["/dashboard", `/dashboard?site=${SITE}`, "/dashboard/assets/dashboard.js",
      "/dashboard/assets/dashboard.css", `/api/v1/stats/aggregate?site=${SITE}&from=${DAY}&to=${DAY}`]) {
      const response = await fetch(`${origin}${path}`);
      assert.equal(response.status, 401, path);
      assert.match(response.headers.get("www-authenticate"), /^Basic realm="Pathlight stats"/, path);
      assert.equal((await response.json()).error, "missing_credentials", path);
    }
    for (const httpCredentials of [undefined, { username: USER, password: "guess" }]) {
      const context = await browser.newContext({ httpCredentials });
      try {
        const page = await context.newPage();
        const outcome = await page.goto(dayView()).then((r) => r.status(), (e) => e.message);
        // Headless Chromium cancels the prompt, which fails the navigation rather than showing the 401 body.
        assert.ok(outcome === 401 || /ERR_INVALID_AUTH_CREDENTIALS/.test(outcome), String(outcome));
        await page.waitForLoadState("load").catch(() => {});
        const text = await poll("the refused page to settle", () => page.content(), DEADLINE_MS);
        assert.doesNotMatch(text, /Unique visitors|google\.com/);
      } finally {
        await context.close();
      }
    }
  });

test("the dashboard shows the seeded day's exact numbers, its chart and its breakdowns", async (t) => {
  // A page view seconds ago, for "current visitors" (the last 5 minutes); it is not on DAY.
  await insert([event("S9", "v9", Date.now() / 1000 - 5, "/now", "pageview", USA)]);
  const { page, problems } = await signedInPage(t);
  const response = await page.goto(dayView());
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"], /^default-src 'none'; script-src 'self';/);
  await settled(page);

  assert.deepEqual(await headline(page), {
    visitors: "4",
    visits: "5",
    pageviews: "7",
    views_per_visit: "1.40",
    bounce_rate: "60.0 %",
    visit_duration: "1 min 24 s",
    current: "1",
  });
  assert.equal(await page.locator("#range").textContent(), `${DAY} (UTC)`);
  assert.equal(await page.locator("#site").inputValue(), SITE);

  // The chart: uPlot's canvas, one point per hour of the day, the visitors series as its legend says.
  assert.equal(await page.locator("#chart canvas").count(), 1);
  const legend = await page.$$eval("#chart .u-legend .u-label", (labels) => labels.map((l) => l.textContent));
  assert.deepEqual(legend.slice(1), ["Visitors", "Page views"]);

  assert.deepEqual(await tableRows(page, "locations"), [["DE", "2", "5"], ["FR", "1", "1"], ["US", "1", "1"]]);
  assert.deepEqual(await tableRows(page, "pages"), [
    ["/", "3", "3"], ["/docs", "2", "2"], ["/pricing", "1", "1"], [HOSTILE_PATH, "1", "1"],
  ]);
  // The hostile path is text on the page, not an element.
  assert.equal(await page.locator(`#panel-pages button.row-filter`, { hasText: HOSTILE_PATH }).count(), 1);
  assert.equal(await page.evaluate(() => window.__injected ?? null), null);
  assert.equal(await page.locator("#panel-pages img").count(), 0);
  assert.deepEqual(await tableRows(page, "sources"), [["", "4", "6"], ["google.com", "1", "1"]]);
  assert.equal(await page.locator('#panel-sources tr[data-value=""] td.value').textContent(), "Direct / none");
  assert.deepEqual(await tableRows(page, "events"), [["signup", "1", "1", "25.0 %"]]);

  // Another tab of a panel: entry pages, counted in visits, with bounce rate and duration.
  let generation = Number(await page.evaluate(() => document.body.dataset.generation));
  await page.locator('#panel-pages button[role="tab"][data-property="entry_page"]').click();
  generation = await settled(page, generation);
  assert.deepEqual(await tableRows(page, "pages"), [
    ["/", "3", "66.7 %", "40 s"], ["/docs", "2", "50.0 %", "2 min 30 s"],
  ]);
  assert.match(page.url(), /[?&]tab_pages=entry_page(&|$)/);
  assert.deepEqual(problems, [], "no script error and nothing refused by the Content-Security-Policy");
});

test("clicking a country filters every number, shows a removable chip and keeps the view in the URL",
  async (t) => {
    const { page, problems } = await signedInPage(t);
    await page.goto(dayView());
    let generation = await settled(page);

    await page.locator("#panel-locations button.row-filter", { hasText: /^DE$/ }).click();
    generation = await settled(page, generation);
    const germany = {
      visitors: "2",
      visits: "3",
      pageviews: "5",
      views_per_visit: "1.67",
      bounce_rate: "33.3 %",
      visit_duration: "2 min 20 s",
      current: "1",
    };
    assert.deepEqual(await headline(page), germany);
    assert.deepEqual(await tableRows(page, "locations"), [["DE", "2", "5"]]);
    assert.deepEqual(await tableRows(page, "devices"), [["Chrome", "1", "3"], ["Safari", "1", "2"]]);
    assert.deepEqual(await page.$$eval("#filters .chip", (chips) => chips.map((c) => [c.dataset.filter, c.querySelector(".chip-value").textContent])),
      [["country", "DE"]]);
    assert.match(page.url(), /[?&]country=DE(&|$)/);

    // The URL alone brings the same view back.
    const linked = page.url();
    await page.goto("about:blank");
    await page.goto(linked);
    generation = await settled(page);
    assert.deepEqual(await headline(page), germany);

    // A second filter narrows further; removing the first keeps the second.
    await page.locator("#panel-devices button.row-filter", { hasText: /^Safari$/ }).click();
    generation = await settled(page, generation);
    assert.deepEqual([(await headline(page)).visitors, (await headline(page)).pageviews], ["1", "2"]);
    await page.getByRole("button", { name: "Remove filter Country DE" }).click();
    generation = await settled(page, generation);
    assert.deepEqual(await page.$$eval("#filters .chip", (chips) => chips.map((c) => c.dataset.filter)), ["browser"]);
    assert.doesNotMatch(page.url(), /country=/);
    assert.equal((await headline(page)).visitors, "1");

    // Back in history is the view with both filters again.
    await page.goBack();
    generation = await settled(page, generation);
    assert.deepEqual(await page.$$eval("#filters .chip", (chips) => chips.map((c) => c.dataset.filter)), ["country", "browser"]);
    assert.deepEqual(problems, []);
  });

test("a page filter hides entry and exit pages, which the API cannot combine with it", async (t) => {
  const { page, problems } = await signedInPage(t);
  await page.goto(dayView("&tab_pages=exit_page"));
  let generation = await settled(page);
  assert.deepEqual(await tableRows(page, "pages"), [
    ["/", "2", "100.0 %", "0 s"], ["/docs", "1", "100.0 %", "0 s"], ["/pricing", "1", "0.0 %", "2 min 00 s"],
    [HOSTILE_PATH, "1", "0.0 %", "5 min 00 s"],
  ]);
  await page.goto(dayView("&page=%2Fdocs&tab_pages=exit_page"));
  generation = await settled(page);
  assert.match(await page.locator("#panel-pages .note").textContent(), /not available with a page filter/);
  assert.deepEqual([(await headline(page)).visitors, (await headline(page)).pageviews], ["2", "2"]);
  assert.deepEqual(problems, []);
});

test("on a phone-sized screen the page fits the width, and both layouts' screenshots are drawn", async (t) => {
  for (const [name, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
    const { page, problems } = await signedInPage(t, viewport);
    await page.goto(dayView());
    await settled(page);
    const widths = await page.evaluate(() => {
      const client = document.documentElement.clientWidth;
      const wider = [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > client);
      return { scroll: document.documentElement.scrollWidth, client, wider: wider.slice(0, 5).map((e) => e.outerHTML.slice(0, 120)) };
    });
    assert.ok(widths.scroll <= widths.client, `${name}: no sideways scrolling (${JSON.stringify(widths)})`);
    const chartWidth = await page.locator("#chart canvas").evaluate((canvas) => canvas.getBoundingClientRect().width);
    assert.ok(chartWidth > 0.7 * Math.min(viewport.width, 1200) - 80, `${name}: the chart spans the page (${chartWidth} px)`);
    const png = await page.screenshot({ fullPage: true });
    const file = join(SHOTS, `dashboard-${name}.png`);
    writeFileSync(file, png);
    t.diagnostic(`screenshot: ${file}`);
    const blank = await (async () => {
      const empty = await browser.newPage({ viewport });
      try {
        return await empty.screenshot();
      } finally {
        await empty.close();
      }
    })();
    const colours = await pngColours(browser, png, [VISITORS_RGB]);
    const blankColours = await pngColours(browser, blank);
    assert.equal(blankColours.distinct, 1, "a blank page is one colour");
    assert.ok(colours.distinct > 50, `${name}: the page is drawn (${colours.distinct} colours)`);
    assert.deepEqual(colours.found, [true], `${name}: the visitors line is on screen`);
    assert.deepEqual(problems, []);
  }
});

test("the page counts new events by itself, asking again with If-None-Match, and the realtime view shows the last 30 minutes",
  async (t) => {
    const live = `live-${RUN}.example`;
    const liveEvent = (session, pathname, secondsAgo) =>
      event(session, `lv-${session}`, Date.now() / 1000 - secondsAgo, pathname, "pageview", USA, { site: live, hostname: live });
    await insert([liveEvent("L1", "/first", 120)]);
    const { page, problems } = await signedInPage(t);
    const statuses = [];
    page.on("response", (response) => {
      if (response.url().includes("/api/v1/stats/aggregate")) statuses.push(response.status());
    });
    await page.goto(`${origin}/dashboard?site=${live}&period=realtime`);
    const generation = await settled(page);
    assert.match(await page.locator("#range").textContent(), /^last 30 minutes, \d\d:\d\d to \d\d:\d\d \(UTC\)$/);
    assert.equal(await page.locator("#period").inputValue(), "realtime");
    assert.deepEqual([(await headline(page)).pageviews, (await headline(page)).current], ["1", "1"]);
    assert.deepEqual(await tableRows(page, "pages"), [["/first", "1", "1"]]);
    await page.evaluate(() => {
      window.__sameDocument = true;
    });

    // Unchanged numbers are asked for again and answered 304.
    await poll("an aggregate answered 304", async () => statuses.includes(304), DEADLINE_MS);

    // Two new page views are drawn without a reload: numbers, tables and the per-minute chart.
    await insert([liveEvent("L2", "/second", 30), liveEvent("L2", "/first", 20)]);
    await page.waitForFunction(() => document.getElementById("stat-pageviews").textContent === "3", null, { timeout: DEADLINE_MS });
    await page.waitForFunction(
      () => document.querySelectorAll("#panel-pages table.breakdown tbody tr").length === 2,
      null,
      { timeout: DEADLINE_MS },
    );
    assert.deepEqual(await tableRows(page, "pages"), [["/first", "2", "2"], ["/second", "1", "1"]]);
    assert.equal(await page.locator("#chart canvas").count(), 1);
    assert.deepEqual([(await headline(page)).visitors, (await headline(page)).current], ["2", "2"]);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
    assert.equal(Number(await page.evaluate(() => document.body.dataset.generation)), generation, "no new view was loaded");
    assert.ok(Number(await page.evaluate(() => document.body.dataset.refreshes)) > 0);
    assert.deepEqual(problems, []);
  });
