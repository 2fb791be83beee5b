// One seeded set of events, every surface that shows its numbers, one independent reference: the stats API
// (aggregate, time series, breakdowns; read from the hourly and visit rollups, the raw events and, after a
// rollup run, the daily rows), `ingest-gateway stats` and `ingest-gateway query visits-by-country` (the
// command line and the named query), the SQL of every panel of Grafana's "Web analytics" dashboard expanded
// as the plugin expands it, and the dashboard page in Chromium must all give the numbers this file computes
// itself from the seeded events, by the definitions of the README (visitors among page views, visits by
// their first event, bounces, durations), for several ranges and filters.
//
// The events span three days and their edges (visits across midnight, days before and after the range),
// four countries, four device profiles, several pages, referrers and campaigns, custom events and the
// engagement events sent on leaving a page; a tenth of them are delivered twice, in an insert of their own,
// as a Kafka re-read would. (Bots never reach storage: the edge drops them, tests/worker checks that.)
//
// Needs the local stack's ClickHouse and broker and a built gateway, as tests/browser-dashboard does.
// Run: node --test tests/browser-dashboard/equivalence.test.mjs
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, poll } from "../support/browser.mjs";
import { CLICKHOUSE, clickhouse, insertRows, startGateway } from "../support/gateway.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const GATEWAY_BIN = process.env.GATEWAY_BIN || join(ROOT, "target/debug/ingest-gateway");
const DEADLINE_MS = 30_000;

const RUN = randomBytes(6).toString("hex");
const DATABASE = `pathlight_equivalence_${RUN}`;
const SITE = `same-${RUN}.example`;
const USER = "analyst";
const PASSWORD = randomBytes(12).toString("hex");
const DAY_S = 86_400;
const D1 = Date.UTC(2026, 2, 2) / 1000; // 2026-03-02, the first day of the range
const DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"];

// ---------------------------------------------------------------- seeded events

/** A small deterministic generator (mulberry32): every run seeds the same events, unless EQUIVALENCE_SEED
 * names another seed, or `random` for a new one each run (printed, so a failing stream can be replayed). */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = process.env.EQUIVALENCE_SEED === "random"
  ? randomInt(2 ** 31)
  : Number(process.env.EQUIVALENCE_SEED || 20260302);
console.log(`# equivalence seed ${SEED} (EQUIVALENCE_SEED=${SEED} replays it)`);
const random = generator(SEED);
const pick = (list) => list[Math.floor(random() * list.length)];

const PLACES = [
  { country: "DE", region: "Berlin", city: "Berlin" },
  { country: "DE", region: "Hamburg", city: "Hamburg" },
  { country: "FR", region: "Île-de-France", city: "Paris" },
  { country: "US", region: "California", city: "San Francisco" },
  { country: "BR", region: "São Paulo", city: "São Paulo" },
];
const DEVICES = [
  { browser: "Chrome", os: "Windows 10", device: "pc", screen_width: 1920 },
  { browser: "Chrome", os: "Android", device: "smartphone", screen_width: 412 },
  { browser: "Safari", os: "iPad", device: "smartphone", screen_width: 820 },
  { browser: "Firefox", os: "Linux", device: "pc", screen_width: 1280 },
];
const ARRIVALS = [
  {},
  { referrer_host: "google.com", referrer: "https://google.com/" },
  { referrer_host: "news.ycombinator.com", referrer: "https://news.ycombinator.com/" },
  { utm_source: "newsletter", utm_medium: "email", utm_campaign: "march" },
];
const PAGES = ["/", "/pricing", "/docs", "/blog/launch", "/p/1"];

let serial = 0;
/** An event of `person`, whose visitor id is theirs for the UTC day of `ms`: the edge derives it with a salt
 * that rotates at midnight, so a visit across midnight has two visitor ids. */
function event(session, person, ms, pathname, kind, traits, extra = {}) {
  serial += 1;
  const visitor = `${person}-${new Date(ms).toISOString().slice(0, 10)}`;
  return {
    event_id: `${RUN}-${String(serial).padStart(5, "0")}`,
    schema_version: 1,
    kind,
    site: SITE,
    session_id: session,
    visitor_id: visitor,
    timestamp: Math.floor(ms / 1000),
    timestamp_ms: ms,
    url: `https://${SITE}${pathname}`,
    hostname: SITE,
    pathname,
    props: "{}",
    ...traits,
    ...extra,
  };
}

/** A visit: 1 to 4 page views some seconds apart, maybe a custom event, usually the engagement on leaving. */
function visit(number, visitor, startMs) {
  const session = `S${number}`;
  const traits = { ...pick(PLACES), ...pick(DEVICES) };
  const arrival = pick(ARRIVALS);
  const views = 1 + Math.floor(random() * 4) * (random() < 0.6 ? 1 : 0);
  const events = [];
  let at = startMs;
  let page = pick(PAGES);
  for (let view = 0; view < views; view += 1) {
    events.push(event(session, visitor, at, page, "pageview", traits, view === 0 ? arrival : {}));
    if (random() < 0.25) events.push(event(session, visitor, at + 5_000, page, "event", traits, { event_name: pick(["signup", "download"]) }));
    at += 10_000 + Math.floor(random() * 190_000);
    page = pick(PAGES);
  }
  if (random() < 0.7) events.push(event(session, visitor, at, events.at(-1).pathname, "engagement", traits, { engaged_ms: 4_000 }));
  return events;
}

const FILTER_SETS = [
  {},
  { country: "DE" },
  { page: "/pricing" },
  { country: "US", browser: "Chrome" },
  { screen_class: "mobile" },
  { source: "google.com" },
  { utm_campaign: "march", device: "pc" },
];
const SCREEN_BREAKPOINTS = [[576, "mobile"], [992, "tablet"], [1440, "laptop"]];
const screenClass = (width) =>
  !width ? "" : (SCREEN_BREAKPOINTS.find(([below]) => width < below)?.[1] ?? "desktop");

/** A one-page visit whose every event passes `filters`, so that any seed has events each filter set selects. */
function coveringVisit(number, filters, startMs) {
  const session = `S${number}`;
  const place = PLACES.find((p) => !filters.country || p.country === filters.country);
  const device = DEVICES.find((d) => (!filters.browser || d.browser === filters.browser)
    && (!filters.device || d.device === filters.device)
    && (!filters.screen_class || screenClass(d.screen_width) === filters.screen_class));
  const arrival = ARRIVALS.find((a) => (!filters.source || a.referrer_host === filters.source)
    && (!filters.utm_campaign || a.utm_campaign === filters.utm_campaign));
  assert.ok(place && device && arrival, `the seed's traits cover ${JSON.stringify(filters)}`);
  const traits = { ...place, ...device };
  const page = filters.page ?? "/";
  return [
    event(session, `cover${number}`, startMs, page, "pageview", traits, arrival),
    event(session, `cover${number}`, startMs + 30_000, page, "engagement", traits, { engaged_ms: 4_000 }),
  ];
}

function seed() {
  const events = [];
  let number = 0;
  // The day before the range, the three days of the range, the day after.
  for (let day = -1; day <= 3; day += 1) {
    const visitors = day === -1 || day === 3 ? 3 : 14;
    for (let v = 0; v < visitors; v += 1) {
      const visitor = `p${v}`; // the same people come back on other days, under other visitor ids

      const visits = 1 + (random() < 0.3 ? 1 : 0);
      for (let k = 0; k < visits; k += 1) {
        const start = (D1 + day * DAY_S) * 1000 + Math.floor(random() * (DAY_S - 1_200)) * 1000;
        events.push(...visit((number += 1), visitor, start));
      }
    }
  }
  // One visit per filter set of the tests, on the second day, and a one-page visit early on the first day (the
  // late events extend one).
  FILTER_SETS.forEach((filters, index) => {
    events.push(...coveringVisit((number += 1), filters, (D1 + DAY_S + 3_600 * (index + 1)) * 1000));
  });
  events.push(...coveringVisit((number += 1), {}, (D1 + 3 * 3_600) * 1000));
  // Visits across midnight: into the first day of the range, between two of its days, out of its end.
  for (const midnight of [D1, D1 + DAY_S, D1 + 3 * DAY_S]) {
    const start = (midnight - 90) * 1000;
    const traits = { ...PLACES[0], ...DEVICES[1] };
    const session = `S${(number += 1)}`;
    events.push(event(session, `night${midnight}`, start, "/", "pageview", traits));
    events.push(event(session, `night${midnight}`, start + 120_000, "/pricing", "pageview", traits));
    events.push(event(session, `night${midnight}`, start + 150_000, "/pricing", "engagement", traits));
  }
  return events;
}

const EVENTS = seed();
const REDELIVERED = EVENTS.filter((_, i) => i % 10 === 3);

/** Events that arrive after the days were rolled up: a new visit on the second day, a page view and its
 * engagement that extend a one-page visit of the first day (its bounce, exit page and duration change), and
 * a redelivery of a third-day event. */
function lateEvents() {
  const late = visit(9_001, "late", (D1 + DAY_S + DAY_S / 2) * 1000);
  const bounce = visits().find((v) => v.first.timestamp < D1 + DAY_S / 2 && v.first.timestamp >= D1
    && v.pageviews.length === 1 && v.custom === 0);
  assert.ok(bounce, "a one-page visit in the first half of the first day");
  const { session_id: session, visitor_id: visitor, timestamp_ms: ms } = bounce.last;
  const traits = Object.fromEntries(["country", "region", "city", "browser", "os", "device", "screen_width"]
    .map((name) => [name, bounce.first[name]]));
  const person = visitor.replace(/-\d{4}-\d{2}-\d{2}$/, "");
  late.push(event(session, person, ms + 60_000, "/late", "pageview", traits));
  late.push(event(session, person, ms + 90_000, "/late", "engagement", traits));
  return { late, redelivered: [EVENTS.find((e) => e.timestamp >= D1 + 2 * DAY_S && e.kind === "pageview")] };
}

// ---------------------------------------------------------------- the reference

/** An event's value of an API dimension (what a filter or a breakdown reads). */
function valueOf(e, name) {
  switch (name) {
    case "page": return e.pathname;
    case "source": return e.referrer_host ?? "";
    case "screen_class": return screenClass(e.screen_width);
    case "event": return e.event_name ?? "";
    default: return e[name] ?? "";
  }
}

const byTime = (a, b) => a.timestamp_ms - b.timestamp_ms || (a.event_id < b.event_id ? -1 : 1);

/** Every visit (session) of the stored events: its events in order, first and last, page views, custom events. */
function visits() {
  const sessions = new Map();
  for (const e of EVENTS) sessions.set(e.session_id, [...(sessions.get(e.session_id) ?? []), e]);
  return [...sessions.values()].map((events) => {
    events.sort(byTime);
    return {
      events,
      first: events[0],
      last: events.at(-1),
      pageviews: events.filter((e) => e.kind === "pageview"),
      custom: events.filter((e) => e.kind === "event").length,
    };
  });
}

/** Whether an event passes equality filters on its own values. */
const eventPasses = (e, filters) => Object.entries(filters).every(([name, value]) => valueOf(e, name) === value);

/** Whether a visit passes the filters: `page` if any page view of it was of that page; the others by the
 * visit's first event. */
const visitPasses = (v, filters) =>
  Object.entries(filters).every(([name, value]) =>
    name === "page" ? v.pageviews.some((e) => e.pathname === value) : valueOf(v.first, name) === value);

const round = (value, decimals) => Math.round(value * 10 ** decimals) / 10 ** decimals;
const ratio = (a, b) => (b === 0 ? 0 : a / b);

/** The report's numbers for [from, to) and filters, from the seeded events alone. */
function reference(from, to, filters) {
  const inRange = EVENTS.filter((e) => e.timestamp >= from && e.timestamp < to && eventPasses(e, filters));
  const views = inRange.filter((e) => e.kind === "pageview");
  const counted = visits().filter((v) => v.pageviews.length > 0 && v.first.timestamp_ms >= from * 1000
    && v.first.timestamp_ms < to * 1000 && visitPasses(v, filters));
  const bounces = counted.filter((v) => v.pageviews.length === 1 && v.custom === 0).length;
  const durationMs = counted.reduce((sum, v) => sum + v.last.timestamp_ms - v.first.timestamp_ms, 0);
  return {
    visitors: new Set(views.map((e) => e.visitor_id)).size,
    visits: counted.length,
    pageviews: views.length,
    views_per_visit: round(ratio(views.length, counted.length), 2),
    bounce_rate: round(100 * ratio(bounces, counted.length), 1),
    visit_duration: counted.length === 0 ? 0 : Math.floor((durationMs + counted.length * 500) / (counted.length * 1000)),
    custom_events: inRange.filter((e) => e.kind === "event").length,
    // for the surfaces that show them
    bounces,
    duration_ms: durationMs,
    visitList: counted,
    eventList: inRange,
  };
}

/** A breakdown by an event dimension: per value, visitors and page views (custom events for `event`). */
function eventBreakdown(from, to, filters, name) {
  const { eventList, visitors } = reference(from, to, filters);
  const rows = new Map();
  for (const e of eventList) {
    if (e.kind !== "pageview" && e.kind !== "event") continue; // engagement events are in no breakdown
    if (name === "event" && e.kind !== "event") continue;
    const value = valueOf(e, name);
    const row = rows.get(value) ?? { value, viewers: new Set(), converters: new Set(), pageviews: 0, events: 0 };
    if (e.kind === "pageview") {
      row.viewers.add(e.visitor_id);
      row.pageviews += 1;
    } else {
      row.converters.add(e.visitor_id);
      row.events += 1;
    }
    rows.set(value, row);
  }
  const all = [...rows.values()].map((r) => name === "event"
    ? { value: r.value, visitors: r.converters.size, events: r.events, conversion_rate: round(100 * ratio(r.converters.size, visitors), 1) }
    : { value: r.value, visitors: r.viewers.size, pageviews: r.pageviews, events: r.events });
  return all.sort((a, b) => b.visitors - a.visitors || b.events - a.events || (a.value < b.value ? -1 : 1))
    .map(({ events, ...row }) => (name === "event" ? { ...row, events } : row));
}

/** A breakdown by a visit dimension (entry or exit page): per value, visits, bounce rate, duration. */
function visitBreakdown(from, to, filters, name) {
  const rows = new Map();
  for (const v of reference(from, to, filters).visitList) {
    const value = (name === "entry_page" ? v.first : v.last).pathname;
    const row = rows.get(value) ?? { value, visits: 0, bounces: 0, ms: 0 };
    row.visits += 1;
    row.bounces += v.pageviews.length === 1 && v.custom === 0 ? 1 : 0;
    row.ms += v.last.timestamp_ms - v.first.timestamp_ms;
    rows.set(value, row);
  }
  return [...rows.values()]
    .sort((a, b) => b.visits - a.visits || (a.value < b.value ? -1 : 1))
    .map((r) => ({ value: r.value, visits: r.visits, bounce_rate: round(100 * ratio(r.bounces, r.visits), 1),
      visit_duration: Math.floor((r.ms + r.visits * 500) / (r.visits * 1000)) }));
}

// ---------------------------------------------------------------- the questions

const WHOLE = { name: "three whole days", from: D1, to: D1 + 3 * DAY_S };
const PART = { name: "noon to noon", from: D1 + DAY_S / 2, to: D1 + 2 * DAY_S + DAY_S / 2 };
const ONE = { name: "one day", from: D1 + DAY_S, to: D1 + 2 * DAY_S };
const RANGES = [WHOLE, PART, ONE];
const METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "custom_events"];
const pickMetrics = (numbers) => Object.fromEntries(METRICS.map((name) => [name, numbers[name]]));
const describe = (range, filters) => `${range.name}, filters ${JSON.stringify(filters)}`;

// ---------------------------------------------------------------- harness

let gateway;
let browser;
const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

before(async () => {
  // A settle time of 0: the daily rows a run writes right after the seed answer at once (sql/019).
  gateway = await startGateway(DATABASE, { STATS_USERNAME: USER, STATS_PASSWORD: PASSWORD, STATS_ROLLUP_INTERVAL_S: "0",
    STATS_ROLLUP_SETTLE_S: "0" }, DEADLINE_MS);
  await insertRows(DATABASE, "page_visits", EVENTS);
  // A redelivery is an insert of its own, as a Kafka re-read would be: a separate part until a merge.
  await insertRows(DATABASE, "page_visits", REDELIVERED);
  const stored = await clickhouse(`SELECT count() FROM ${DATABASE}.page_visits WHERE site = '${SITE}'`);
  assert.equal(Number(stored), EVENTS.length + REDELIVERED.length, "both copies of the redelivered events are stored");
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

async function api(route, params) {
  const query = new URLSearchParams({ site: SITE, ...params });
  const response = await fetch(`${gateway.origin}/api/v1/stats/${route}?${query}`, { headers: { authorization } });
  const body = await response.json();
  assert.equal(response.status, 200, `${route}?${query}: ${JSON.stringify(body)}`);
  return body;
}

/** `ingest-gateway ARGS...` on the test's database; its printed table as objects by header. */
function cli(...args) {
  const done = spawnSync(GATEWAY_BIN, args, {
    env: { PATH: process.env.PATH, CLICKHOUSE_URL: CLICKHOUSE, CLICKHOUSE_DATABASE: DATABASE, STATS_ROLLUP_SETTLE_S: "0" },
    encoding: "utf8",
  });
  assert.equal(done.status, 0, `ingest-gateway ${args.join(" ")}:\n${done.stdout}${done.stderr}`);
  const [header, ...lines] = done.stdout.trimEnd().split("\n").map((line) => line.trim().split(/\s{2,}/));
  return lines.map((cells) => Object.fromEntries(header.map((name, i) => [name, cells[i]])));
}

const filterArgs = (filters) => Object.entries(filters).flatMap(([name, value]) => ["--filter", `${name}=${value}`]);
const cliNumber = (text) => Number(String(text).replace(/%$/, ""));

// ---------------------------------------------------------------- the surfaces

test("the seed is what the tests need: visits on every day, across midnight, redelivered events", () => {
  assert.ok(reference(WHOLE.from, WHOLE.to, {}).visits > 20);
  assert.ok(visits().some((v) => v.first.timestamp < D1 + DAY_S && v.last.timestamp >= D1 + DAY_S), "a visit across midnight");
  assert.ok(reference(WHOLE.from, WHOLE.to, {}).custom_events > 0);
  assert.ok(reference(WHOLE.from, WHOLE.to, {}).bounces > 0);
  for (const filters of FILTER_SETS) assert.ok(reference(WHOLE.from, WHOLE.to, filters).pageviews > 0, JSON.stringify(filters));
  assert.ok(REDELIVERED.length > 10);
});

/** Rolls up the seeded days and checks that the rows it wrote are current (the daily rows answer). */
async function rollUp() {
  cli("rollup", "--from", DAYS[0], "--to", DAYS[2]);
  assert.equal(await staleDays(), 0, "the daily rows of every seeded day are current");
  const days = await clickhouse(`SELECT count(DISTINCT day) FROM ${DATABASE}.stats_daily_runs`);
  assert.equal(Number(days), DAYS.length);
}

/** Days whose daily rows were written before events of them arrived: those days are read from the rollups. */
async function staleDays() {
  return Number(await clickhouse(`SELECT count() FROM (SELECT day, max(version) AS version FROM ${DATABASE}.stats_daily_runs
    GROUP BY day) ANY INNER JOIN (SELECT day, maxMerge(arrived) AS arrived FROM ${DATABASE}.stats_arrivals
    WHERE site = '${SITE}' GROUP BY day) USING day WHERE intDiv(version, 1000) < toUInt32(arrived)`));
}

/** The API's aggregate, daily series and breakdowns against the reference of the events stored so far. */
async function apiEqualsReference() {
    for (const range of RANGES) {
      for (const filters of FILTER_SETS) {
        const params = { from: range.from, to: range.to, ...filters };
        const want = reference(range.from, range.to, filters);
        const { results } = await api("aggregate", params);
        assert.deepEqual(results, pickMetrics(want), `aggregate, ${describe(range, filters)}`);
      }
    }
    for (const filters of FILTER_SETS) {
      const { results } = await api("timeseries", { from: WHOLE.from, to: WHOLE.to, interval: "day", ...filters });
      const want = [0, 1, 2].map((d) => ({ time: D1 + d * DAY_S, ...pickMetrics(reference(D1 + d * DAY_S, D1 + (d + 1) * DAY_S, filters)) }));
      assert.deepEqual(results, want, `daily series, filters ${JSON.stringify(filters)}`);
    }
    for (const range of [WHOLE, PART]) {
      for (const filters of [{}, { country: "DE" }, { page: "/pricing" }]) {
        for (const property of ["country", "page", "screen_class", "source", "event"]) {
          const { results } = await api("breakdown", { from: range.from, to: range.to, property, limit: 1000, ...filters });
          assert.deepEqual(results, eventBreakdown(range.from, range.to, filters, property),
            `breakdown by ${property}, ${describe(range, filters)}`);
        }
        if (filters.page) continue; // refused with a 400: entry and exit pages come from the visit rollup
        for (const property of ["entry_page", "exit_page"]) {
          const { results } = await api("breakdown", { from: range.from, to: range.to, property, limit: 1000, ...filters });
          assert.deepEqual(results, visitBreakdown(range.from, range.to, filters, property),
            `breakdown by ${property}, ${describe(range, filters)}`);
        }
      }
    }
}

test("the API's aggregate, time series and breakdowns equal the reference, from the rollups and raw events", async () => {
  await apiEqualsReference();
});

test("the API's aggregate, time series and breakdowns equal the reference, after a rollup run wrote the daily rows",
  async () => {
    await rollUp();
    await apiEqualsReference();
  });

test("late and redelivered events count at once, and the same after the next rollup run", async () => {
  const { late, redelivered } = lateEvents();
  // Arrivals are recorded in whole seconds of the server's clock: insert once it is past the last run's.
  const ran = await clickhouse(`SELECT intDiv(max(version), 1000) FROM ${DATABASE}.stats_daily_runs`);
  await poll("the server's clock passes the last run", async () =>
    Number(await clickhouse("SELECT toUInt32(now())")) > Number(ran), DEADLINE_MS);
  EVENTS.push(...late);
  await insertRows(DATABASE, "page_visits", late);
  await insertRows(DATABASE, "page_visits", redelivered);
  assert.equal(await staleDays(), 3, "the three days that received events are read from the rollups");
  await apiEqualsReference();
  await rollUp();
  await apiEqualsReference();
});

test("the command line and the named query equal the reference", () => {
  for (const range of RANGES) {
    for (const filters of FILTER_SETS) {
      const [row] = cli("stats", "aggregate", "--site", SITE, "--from", String(range.from), "--to", String(range.to),
        ...filterArgs(filters));
      const want = reference(range.from, range.to, filters);
      const got = {
        visitors: cliNumber(row.visitors), visits: cliNumber(row.visits), pageviews: cliNumber(row.pageviews),
        views_per_visit: cliNumber(row.views_per_visit), bounce_rate: cliNumber(row.bounce_rate),
        visit_duration: cliNumber(row.visit_duration_s), custom_events: cliNumber(row.custom_events),
      };
      assert.deepEqual(got, pickMetrics(want), `stats aggregate, ${describe(range, filters)}`);
    }
    // The headline query: visits by country, with visits, page views and visitors as the model counts them.
    const rows = cli("query", "visits-by-country", "--site", SITE, "--from", String(range.from), "--to", String(range.to));
    const countries = [...new Set(reference(range.from, range.to, {}).eventList.map((e) => e.country))];
    const want = countries.map((country) => {
      const r = reference(range.from, range.to, { country });
      return { country, visits: r.visits, pageviews: r.pageviews, visitors: r.visitors };
    }).filter((r) => r.visits > 0 || r.pageviews > 0)
      .sort((a, b) => b.visits - a.visits || b.pageviews - a.pageviews || (a.country < b.country ? -1 : 1));
    const got = rows.map((r) => ({ country: r.country, visits: cliNumber(r.visits), pageviews: cliNumber(r.pageviews), visitors: cliNumber(r.visitors) }));
    assert.deepEqual(got, want, `visits-by-country, ${range.name}`);
  }
  // Without a range: from the beginning of time (1970-01-01, whose day before must not wrap) to now.
  const all = cli("query", "visits-by-country", "--site", SITE);
  const now = Math.floor(Date.now() / 1000);
  const visitsOf = (country) => reference(0, now, { country }).visits;
  assert.deepEqual(all.map((r) => [r.country, cliNumber(r.visits)]), all.map((r) => [r.country, visitsOf(r.country)]),
    "visits-by-country since the beginning");
  assert.ok(all.length > 1 && all.every((r) => cliNumber(r.visits) > 0), JSON.stringify(all));
});

// ---------------------------------------------------------------- the dashboard, as a person sees it

const count = (n) => new Intl.NumberFormat("en-US").format(n);
function duration(seconds) {
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${s} s`;
}

test("the dashboard page shows the reference's numbers for whole days, with and without filters", async (t) => {
  const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD } });
  t.after(() => context.close());
  const page = await context.newPage();
  for (const filters of [{}, { country: "DE" }, { page: "/pricing" }, { country: "US", browser: "Chrome" }]) {
    const query = new URLSearchParams({ site: SITE, period: "custom", from: DAYS[0], to: DAYS[2], ...filters });
    await page.goto(`${gateway.origin}/dashboard?${query}`);
    await page.waitForFunction(() => document.body.dataset.state === "ready" || document.body.dataset.state === "error",
      null, { timeout: DEADLINE_MS });
    assert.equal(await page.evaluate(() => document.body.dataset.state), "ready", await page.locator("#error").textContent());
    const shown = await page.$$eval(".stat dd", (dds) => Object.fromEntries(dds.map((dd) => [dd.id.replace("stat-", ""), dd.textContent])));
    const want = reference(WHOLE.from, WHOLE.to, filters);
    assert.deepEqual(
      { visitors: shown.visitors, visits: shown.visits, pageviews: shown.pageviews, views_per_visit: shown.views_per_visit,
        bounce_rate: shown.bounce_rate, visit_duration: shown.visit_duration },
      { visitors: count(want.visitors), visits: count(want.visits), pageviews: count(want.pageviews),
        views_per_visit: want.views_per_visit.toFixed(2), bounce_rate: `${want.bounce_rate.toFixed(1)} %`,
        visit_duration: duration(want.visit_duration) },
      `dashboard, filters ${JSON.stringify(filters)}`,
    );
    const countries = await page.$$eval("#panel-locations table.breakdown tbody tr", (trs) =>
      trs.map((tr) => [tr.dataset.value, ...[...tr.querySelectorAll("td.num")].map((td) => td.textContent)]));
    const wantCountries = eventBreakdown(WHOLE.from, WHOLE.to, filters, "country").slice(0, 10)
      .map((r) => [r.value, count(r.visitors), count(r.pageviews)]);
    assert.deepEqual(countries, wantCountries, `dashboard countries, filters ${JSON.stringify(filters)}`);
  }
});

// ---------------------------------------------------------------- Grafana's panels

/** The "Web analytics" dashboard's panels by id, their SQL expanded as Grafana and its ClickHouse plugin
 * expand it for the range, the bucket size and the variables (tests/grafana/expand_dashboard.py). */
function grafanaPanels(range, variables, intervalS = DAY_S) {
  const expanded = spawnSync("python3", [join(ROOT, "tests/grafana/expand_dashboard.py"), "--from", String(range.from),
    "--to", String(range.to), "--interval-s", String(intervalS), "--variables", JSON.stringify(variables)], {
    input: readFileSync(join(ROOT, "grafana/dashboards/web-analytics.json")), encoding: "utf8",
  });
  assert.equal(expanded.status, 0, `tests/grafana/expand_dashboard.py:\n${expanded.stderr}`);
  return new Map(JSON.parse(expanded.stdout).map((panel) => [panel.id, panel]));
}

/** A panel's rows from the test's database, numbers as numbers (18.16 quotes 64-bit integers in JSON). */
async function panelRows(panel) {
  const response = await fetch(`${CLICKHOUSE}/?database=${DATABASE}&default_format=JSON`,
    { method: "POST", body: panel.sql, headers: { connection: "close" } }); // see tests/support/gateway.mjs
  const text = await response.text();
  assert.ok(response.ok, `panel "${panel.title}": ${text}`);
  return JSON.parse(text).data.map((row) =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v])));
}

/** The reference grouped by several dimensions at once: visitors and page views per combination. */
function grouped(from, to, filters, names) {
  const groups = new Map();
  for (const e of reference(from, to, filters).eventList) {
    if (e.kind !== "pageview" && e.kind !== "event") continue;
    const values = names.map((name) => valueOf(e, name));
    const key = JSON.stringify(values);
    const group = groups.get(key) ?? { values, viewers: new Set(), pageviews: 0 };
    if (e.kind === "pageview") {
      group.viewers.add(e.visitor_id);
      group.pageviews += 1;
    }
    groups.set(key, group);
  }
  return [...groups.values()];
}

const byValues = (a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);

test("every Web analytics panel of Grafana equals the reference", async () => {
  // The panels group by columns; these are the API names of the dimensions each one shows.
  const breakdowns = { 4: ["page"], 6: ["country"], 7: ["browser"], 8: ["device"], 9: ["country"], 11: ["os"],
    5: ["source", "utm_source", "utm_medium", "utm_campaign"], 10: ["country", "region", "city"] };
  for (const range of [WHOLE, PART]) {
    for (const filters of [{}, { country: "DE" }, { page: "/pricing" }, { screen_class: "mobile" }]) {
      const where = describe(range, filters);
      const panels = grafanaPanels(range, { site: SITE, ...filters });
      const want = reference(range.from, range.to, filters);
      assert.deepEqual(await panelRows(panels.get(1)),
        [{ visitors: want.visitors, pageviews: want.pageviews, custom_events: want.custom_events }], `top numbers, ${where}`);
      assert.deepEqual(await panelRows(panels.get(13)), [{ visits: want.visits, bounce_rate: want.bounce_rate,
        visit_duration: want.visit_duration, views_per_visit: want.views_per_visit }], `visit numbers, ${where}`);
      for (const [id, names] of Object.entries(breakdowns)) {
        const panel = panels.get(Number(id));
        const rows = await panelRows(panel);
        // Columns are named by the API's dimension names; some panels show page views, all show visitors.
        const views = rows.some((row) => "pageviews" in row);
        const got = rows.map((row) => [...names.map((name) => row[name]), row.visitors, views ? row.pageviews : null]);
        const expected = grouped(range.from, range.to, filters, names)
          .map((g) => [...g.values, g.viewers.size, views ? g.pageviews : null]);
        assert.ok(got.length > 0, `panel "${panel.title}" has rows, ${where}`);
        assert.deepEqual(got.sort(byValues), expected.sort(byValues), `panel "${panel.title}", ${where}`);
      }
      const events = (await panelRows(panels.get(12))).map((r) => [r.event, r.custom_events, r.converted_visitors, r.conversion_rate]);
      const wantEvents = eventBreakdown(range.from, range.to, filters, "event").map((r) => [r.value, r.events, r.visitors, r.conversion_rate]);
      assert.deepEqual(events.sort(byValues), wantEvents.sort(byValues), `panel "Custom events", ${where}`);
    }
  }
  // Visitors and page views over time, in day buckets of the three days.
  for (const filters of [{}, { country: "DE" }]) {
    const panels = grafanaPanels(WHOLE, { site: SITE, ...filters }, DAY_S);
    const got = (await panelRows(panels.get(3))).map((r) => [r.time, r.visitors, r.pageviews]);
    const want = [0, 1, 2].map((d) => {
      const day = reference(D1 + d * DAY_S, D1 + (d + 1) * DAY_S, filters);
      return [`${DAYS[d]} 00:00:00`, day.visitors, day.pageviews];
    }).filter(([, visitors, pageviews]) => visitors || pageviews);
    assert.deepEqual(got, want, `visitors and page views over time, filters ${JSON.stringify(filters)}`);
  }
});
