// The analytics dashboard's only script (GET /dashboard/assets/dashboard.js): reads the view from the URL
// query, asks the stats API (/api/v1/stats/...) for it, and draws the numbers, the chart (uPlot) and the
// breakdown tables. Bundled with esbuild into dist/dashboard.js (node ingest-gateway/assets/build.mjs), which
// the gateway embeds; no CDN is ever involved.
//
// Referrers, page paths, event names and every other value come from visitors: they are only ever written
// with textContent or as text nodes, never as markup. The page's Content-Security-Policy has no
// 'unsafe-inline' for scripts or styles; uPlot styles its elements through the CSSOM, which the policy allows.
//
// The whole view lives in the query string (site, period or from/to, the filters, the chosen tab of each
// panel), so a view can be linked, and back/forward walk through the filters.
//
// The page keeps itself current without a reload: every REFRESH_MS (half a second) it asks for the headline
// numbers again with If-None-Match (the API tags every answer, GET answers 304 when unchanged), and only when
// they changed does it ask for the chart and the tables again, each conditionally, redrawing what changed. "Last 30
// minutes" is the realtime view: the numbers, a per-minute chart and the tables over the last 30 minutes.
import uPlot from "uplot";
import { dimensions } from "../../../analytics-model/contracts/dimensions.json";
import { PANELS } from "./dashboard-layout.js";
import "uplot/dist/uPlot.min.css";
import "./dashboard.css";

/** The reporting model's dimensions (analytics-model/contracts/dimensions.json, generated from the Rust
 * registry): the filters with their labels, and what each breakdown counts. */
const DIMENSIONS = Object.fromEntries(dimensions.map((d) => [d.name, d]));
const FILTERS = Object.fromEntries(dimensions.filter((d) => d.filterable).map((d) => [d.name, d.label]));
/** Filters that select visits by any page view, which visit breakdowns (entry, exit pages) cannot take. */
const PAGEVIEW_FILTERS = dimensions.filter((d) => d.on_visits === "any_pageview").map((d) => d.name);

const PERIODS = ["realtime", "day", "7d", "30d", "custom"];
/** How often the page asks whether its headline numbers changed (a 304 when not): an event is drawn within about
 * two seconds of being sent (BENCHMARKS.md, "Live numbers"). A refresh that finds changes also asks for the chart
 * and the tables, and the next one starts only after it, so a busy site slows the cadence instead of piling up. */
const REFRESH_MS = 500;
const REALTIME_MINUTES = 30;
const ROWS_PER_TABLE = 10;
const DAY_MS = 86_400_000;

const numbers = new Intl.NumberFormat("en-US");
const regionNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "region" }) : null;

// ---------------------------------------------------------------- the view, from and to the URL

const isDate = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`));
const utcDate = (ms) => new Date(ms).toISOString().slice(0, 10);

function readView(search) {
  const query = new URLSearchParams(search);
  const period = PERIODS.includes(query.get("period")) ? query.get("period") : "7d";
  const view = {
    site: (query.get("site") || "").trim(),
    period,
    from: isDate(query.get("from") || "") ? query.get("from") : "",
    to: isDate(query.get("to") || "") ? query.get("to") : "",
    filters: {},
    tabs: {},
  };
  for (const name of Object.keys(FILTERS)) {
    const value = query.get(name);
    if (value) view.filters[name] = value;
  }
  for (const panel of PANELS) {
    const tab = query.get(`tab_${panel.id}`);
    view.tabs[panel.id] = panel.tabs.some(([property]) => property === tab) ? tab : panel.tabs[0][0];
  }
  return view;
}

function viewQuery(view) {
  const query = new URLSearchParams();
  if (view.site) query.set("site", view.site);
  query.set("period", view.period);
  if (view.period === "custom") {
    query.set("from", view.from);
    query.set("to", view.to);
  }
  for (const [name, value] of Object.entries(view.filters)) query.set(name, value);
  for (const panel of PANELS) {
    if (view.tabs[panel.id] !== panel.tabs[0][0]) query.set(`tab_${panel.id}`, view.tabs[panel.id]);
  }
  return query.toString();
}

/** The API's `from` and `to` (both UTC dates, `to` included; unix seconds for the realtime view, `to`
 * excluded) and the chart's interval. */
function range(view, now = Date.now()) {
  if (view.period === "realtime") {
    const to = (Math.floor(now / 60_000) + 1) * 60;
    return { from: to - REALTIME_MINUTES * 60, to, interval: "minute" };
  }
  const today = utcDate(now);
  let from = today;
  let to = today;
  if (view.period === "7d") from = utcDate(now - 6 * DAY_MS);
  if (view.period === "30d") from = utcDate(now - 29 * DAY_MS);
  if (view.period === "custom" && view.from && view.to) [from, to] = [view.from, view.to];
  return { from, to, interval: from === to ? "hour" : "day" };
}

// ---------------------------------------------------------------- formatting

const count = (n) => numbers.format(n);
const percent = (n) => `${Number(n).toFixed(1)} %`;

/** `12 s`, `4 min 05 s`, `1 h 02 min`, as on the replay pages. */
function duration(seconds) {
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${s} s`;
}

// ---------------------------------------------------------------- DOM helpers (text only, never markup)

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === undefined) continue;
    element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined).map(String));
  return element;
}

/** `el` whose children may be nodes as well as text. */
function node(tag, attributes, ...children) {
  const element = el(tag, attributes);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- the API

class ApiError extends Error {}

/** The last answer of each URL with its ETag, so that asking again costs a 304 when nothing changed. Emptied
 * by every full load, and by a refresh once it holds 200 (the realtime view's URLs change every minute). */
const answers = new Map();

/** The answer of a stats route, and whether it is new (false: the API said 304, the kept one is returned). */
async function ask(route, params) {
  const url = `/api/v1/stats/${route}?${new URLSearchParams(params)}`;
  const kept = answers.get(url);
  const headers = { Accept: "application/json" };
  if (kept) headers["If-None-Match"] = kept.tag;
  const response = await fetch(url, { headers, credentials: "same-origin", cache: "no-store" });
  if (response.status === 304 && kept) return { body: kept.body, fresh: false };
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(body?.message || `the stats API answered HTTP ${response.status}`);
  }
  const tag = response.headers.get("ETag");
  if (tag) answers.set(url, { tag, body });
  return { body, fresh: true };
}

/** The headline numbers and current visitors, drawn if `drawable()` still holds and, for a `quiet` refresh,
 * only if either changed. Whether the numbers changed. */
async function loadHeadline(question, drawable, quiet) {
  const [aggregate, current] = await Promise.all([ask("aggregate", question), ask("realtime", { site: view.site })]);
  if (drawable() && (!quiet || aggregate.fresh || current.fresh)) renderMetrics(aggregate.body.results, current.body);
  return aggregate.fresh;
}

/** The chart, drawn as `loadHeadline` draws. */
async function loadChart(question, interval, drawable, quiet) {
  const series = await ask("timeseries", { ...question, interval });
  if (drawable() && (!quiet || series.fresh)) renderChart(series.body.results, interval);
}

const questionOf = (view) => {
  const { from, to } = range(view);
  return { site: view.site, from, to, ...view.filters };
};

// ---------------------------------------------------------------- rendering

let view = readView(location.search);
// Every load counts up `generation` (the page's data-generation, which the browser test waits on). A load of
// everything also sets `fullLoad`, and each panel counts its own loads: an answer is drawn only if nothing
// newer asked for the same part, so a tab clicked during a full load does not leave other panels waiting.
let generation = 0;
let fullLoad = 0;
const panelLoads = {};
let chart = null;

function setState(state) {
  document.body.dataset.state = state;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function renderControls() {
  const { from, to } = range(view);
  $("site").value = view.site;
  $("period").value = view.period;
  $("from").value = view.period === "custom" ? view.from : from;
  $("to").value = view.period === "custom" ? view.to : to;
  for (const id of ["from", "to"]) {
    $(id).closest("label").hidden = view.period !== "custom";
  }
  if (view.period === "realtime") {
    const time = (seconds) => new Date(seconds * 1000).toISOString().slice(11, 16);
    $("range").textContent = `last ${REALTIME_MINUTES} minutes, ${time(from)} to ${time(to)} (UTC)`;
    $("from").value = "";
    $("to").value = "";
  } else {
    $("range").textContent = from === to ? `${from} (UTC)` : `${from} to ${to} (UTC)`;
  }
}

function renderFilters() {
  const list = $("filters");
  list.replaceChildren(
    ...Object.entries(view.filters).map(([name, value]) => {
      const remove = el("button", { type: "button", class: "chip-remove", "aria-label": `Remove filter ${FILTERS[name]} ${value}` }, "×");
      remove.addEventListener("click", () => {
        const filters = { ...view.filters };
        delete filters[name];
        navigate({ ...view, filters });
      });
      return node("li", { class: "chip", "data-filter": name }, el("span", { class: "chip-name" }, FILTERS[name]), " ",
        el("span", { class: "chip-value" }, value), remove);
    }),
  );
  list.hidden = list.childElementCount === 0;
}

function renderMetrics(results, current) {
  const values = {
    visitors: count(results.visitors),
    visits: count(results.visits),
    pageviews: count(results.pageviews),
    views_per_visit: Number(results.views_per_visit).toFixed(2),
    bounce_rate: percent(results.bounce_rate),
    visit_duration: duration(results.visit_duration),
    current: count(current.visitors),
  };
  for (const [name, text] of Object.entries(values)) $(`stat-${name}`).textContent = text;
}

function clearMetrics() {
  for (const element of document.querySelectorAll(".stat dd")) element.textContent = "–";
}

function chartSize() {
  const box = $("chart");
  return { width: Math.max(box.clientWidth, 200), height: box.clientWidth < 500 ? 200 : 260 };
}

function renderChart(buckets, interval) {
  chart?.destroy();
  chart = null;
  const box = $("chart");
  box.replaceChildren();
  const data = [
    buckets.map((bucket) => bucket.time),
    buckets.map((bucket) => bucket.visitors),
    buckets.map((bucket) => bucket.pageviews),
  ];
  chart = new uPlot(
    {
      ...chartSize(),
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_, min, max) => [0, Math.max(max, 1)] } },
      axes: [{ splits: bucketTicks, values: (_, ticks) => ticks.map((tick) => axisTime(tick, interval)) }, { values: (_, ticks) => ticks.map((tick) => (Number.isInteger(tick) ? count(tick) : "")) }],
      series: [
        { value: interval === "day" ? "{YYYY}-{MM}-{DD}" : "{YYYY}-{MM}-{DD} {HH}:{mm}" },
        { label: "Visitors", stroke: "#2f6fdb", width: 2, fill: "rgba(47, 111, 219, 0.12)", points: { show: buckets.length < 40 } },
        { label: "Page views", stroke: "#0f9d7a", width: 2, points: { show: buckets.length < 40 } },
      ],
    },
    data,
    box,
  );
}

/** Ticks on bucket starts only (never between two days), as many as fit at about 70 px apart. */
function bucketTicks(plot) {
  const times = plot.data[0];
  const fit = Math.max(2, Math.floor(plot.bbox.width / devicePixelRatio / 70));
  const step = Math.ceil(times.length / fit);
  return times.filter((_, i) => i % step === 0);
}

/** `09:00` for hours and minutes, `01-15` for days: UTC, unambiguous in any locale. */
function axisTime(seconds, interval) {
  const iso = new Date(seconds * 1000).toISOString();
  return interval === "day" ? iso.slice(5, 10) : iso.slice(11, 16);
}

function breakdownColumns(property) {
  if (DIMENSIONS[property].counts === "visits") {
    return [["visits", "Visits", count], ["bounce_rate", "Bounce", percent], ["visit_duration", "Duration", duration]];
  }
  if (DIMENSIONS[property].counts === "custom_events") {
    return [["visitors", "Visitors", count], ["events", "Events", count], ["conversion_rate", "Conversion", percent]];
  }
  return [["visitors", "Visitors", count], ["pageviews", "Views", count]];
}

/** What a row's value reads as: empty values are "none" (direct traffic, unknown place). */
function valueLabel(property, value) {
  if (value === "") return property === "source" ? "Direct / none" : "(none)";
  return value;
}

function breakdownTable(property, rows) {
  const columns = breakdownColumns(property);
  const filterable = property in FILTERS;
  const biggest = Math.max(1, ...rows.map((row) => row[columns[0][0]] ?? 0));
  const head = node("thead", {}, node("tr", {}, el("th", { scope: "col" }, "Value"),
    ...columns.map(([, title]) => el("th", { scope: "col", class: "num" }, title))));
  const body = node("tbody", {}, ...rows.map((row) => {
    const label = valueLabel(property, row.value);
    let cell;
    if (filterable && row.value !== "" && view.filters[property] !== row.value) {
      cell = el("button", { type: "button", class: "row-filter", title: `Filter by ${FILTERS[property]} ${row.value}` }, label);
      cell.addEventListener("click", () => navigate({ ...view, filters: { ...view.filters, [property]: row.value } }));
    } else {
      cell = el("span", { class: row.value === "" ? "none" : "", title: row.value || undefined }, label);
    }
    const valueCell = node("td", { class: "value" }, cell);
    if (property === "country" && row.value && regionNames) {
      let name = "";
      try {
        name = regionNames.of(row.value);
      } catch {
        // not a region code: show the value alone
      }
      if (name && name !== row.value) valueCell.append(el("span", { class: "muted" }, ` ${name}`));
    }
    const bar = el("span", { class: "bar" });
    bar.style.width = `${(100 * (row[columns[0][0]] ?? 0)) / biggest}%`;
    valueCell.prepend(bar);
    return node("tr", { "data-value": row.value }, valueCell,
      ...columns.map(([key, , format]) => el("td", { class: "num", "data-column": key }, row[key] === undefined ? "" : format(row[key]))));
  }));
  return node("table", { class: "breakdown", "data-property": property }, head, body);
}

function renderPanelFrame(panel) {
  const section = $(`panel-${panel.id}`);
  const tabs = section.querySelector(".tabs");
  tabs.replaceChildren(...panel.tabs.map(([property, title]) => {
    const selected = view.tabs[panel.id] === property;
    const button = el("button", { type: "button", role: "tab", "aria-selected": String(selected), "data-property": property }, title);
    button.addEventListener("click", () => {
      if (view.tabs[panel.id] === property) return;
      navigate({ ...view, tabs: { ...view.tabs, [panel.id]: property } }, { only: panel });
    });
    return button;
  }));
}

/** Loads and draws one panel's table; `quiet` (a refresh) keeps what is shown until a changed answer arrives. */
async function loadPanel(panel, { quiet = false } = {}) {
  const mine = (panelLoads[panel.id] = (panelLoads[panel.id] || 0) + 1);
  const section = $(`panel-${panel.id}`);
  const content = section.querySelector(".content");
  if (!quiet) renderPanelFrame(panel);
  const property = view.tabs[panel.id];
  section.dataset.property = property;
  const blocking = PAGEVIEW_FILTERS.filter((name) => view.filters[name]);
  if (DIMENSIONS[property].counts === "visits" && blocking.length) {
    const names = blocking.map((name) => FILTERS[name].toLowerCase()).join(", ");
    content.replaceChildren(el("p", { class: "note" }, `${panel.tabs.find(([p]) => p === property)[1]} are not available with a ${names} filter.`));
    return;
  }
  if (!quiet) content.replaceChildren(el("p", { class: "note" }, "Loading…"));
  try {
    const { body: answer, fresh } = await ask("breakdown", { ...questionOf(view), property, limit: ROWS_PER_TABLE });
    if (mine !== panelLoads[panel.id] || (quiet && !fresh)) return;
    content.replaceChildren(answer.results.length
      ? breakdownTable(property, answer.results)
      : el("p", { class: "note" }, "No data for this view."));
  } catch (error) {
    if (mine !== panelLoads[panel.id] || quiet) throw error;
    content.replaceChildren(el("p", { class: "note error" }, `Could not load: ${error.message}`));
    throw error;
  }
}

async function load({ only } = {}) {
  const mine = ++generation;
  if (!only) {
    fullLoad = mine;
    answers.clear();
  }
  renderControls();
  renderFilters();
  showError("");
  if (!view.site) {
    clearMetrics();
    chart?.destroy();
    chart = null;
    for (const panel of PANELS) {
      renderPanelFrame(panel);
      $(`panel-${panel.id}`).querySelector(".content").replaceChildren();
    }
    $("hint").hidden = false;
    setState("idle");
    document.body.dataset.generation = String(mine);
    return;
  }
  $("hint").hidden = true;
  setState("loading");
  const question = questionOf(view);
  const { interval } = range(view);
  const drawable = () => mine === fullLoad;
  const work = only
    ? [loadPanel(only)]
    : [
      loadHeadline(question, drawable, false),
      loadChart(question, interval, drawable, false),
      ...PANELS.map((panel) => loadPanel(panel)),
    ];
  const outcomes = await Promise.allSettled(work);
  if (mine !== generation) return;
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) {
    showError(`Some of the stats could not be loaded: ${failed.reason.message}`);
    setState("error");
  } else {
    setState("ready");
  }
  document.body.dataset.generation = String(mine);
}

// ---------------------------------------------------------------- keeping the view current

let refreshes = 0;

/** Asks again for the view's numbers; redraws only what changed. Counts `data-refreshes` when done. */
async function refresh() {
  const started = generation;
  if (!view.site || document.body.dataset.state !== "ready") return;
  if (answers.size > 200) answers.clear(); // the realtime view's URLs change every minute
  const question = questionOf(view);
  const { interval } = range(view);
  const drawable = () => started === generation;
  if ((await loadHeadline(question, drawable, true)) && drawable()) {
    await loadChart(question, interval, drawable, true);
    if (drawable()) await Promise.allSettled(PANELS.map((panel) => loadPanel(panel, { quiet: true })));
  }
  if (started === generation) document.body.dataset.refreshes = String((refreshes += 1));
}

function keepCurrent() {
  setTimeout(async () => {
    if (!document.hidden) {
      await refresh().catch((error) => console.warn(`the stats could not be refreshed: ${error.message}`));
    }
    keepCurrent();
  }, REFRESH_MS);
}

function navigate(next, options) {
  view = next;
  const query = viewQuery(view);
  history.pushState(null, "", query ? `?${query}` : location.pathname);
  load(options);
}

function readControls() {
  const period = $("period").value;
  const next = { ...view, site: $("site").value.trim(), period };
  if (period === "custom") {
    next.from = $("from").value;
    next.to = $("to").value;
    if (!isDate(next.from) || !isDate(next.to) || next.from > next.to) {
      showError("Choose a start date on or before the end date.");
      return null;
    }
  }
  return next;
}

$("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  const next = readControls();
  if (next) navigate(next);
});
$("period").addEventListener("change", () => {
  const custom = $("period").value === "custom";
  for (const id of ["from", "to"]) $(id).closest("label").hidden = !custom;
  if (!custom) {
    const next = readControls();
    if (next) navigate(next);
  }
});
window.addEventListener("popstate", () => {
  view = readView(location.search);
  load();
});
new ResizeObserver(() => chart?.setSize(chartSize())).observe($("chart"));

for (const panel of PANELS) {
  $("panels").append(node("section", { class: "panel", id: `panel-${panel.id}` },
    el("div", { class: "tabs", role: "tablist" }), el("div", { class: "content" })));
}
load();
keepCurrent();
