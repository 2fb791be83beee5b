// Event-to-row freshness under a steady load: sends RATE events a second for SECONDS, each with its own
// marker (pathname /fresh/N of a session id of this run), either as /track requests to the worker or as
// produce requests to the gateway, and polls ClickHouse every 50 ms for the markers that became rows. An
// event's freshness is the time from just before its request was sent to the first poll that saw its row, so
// the figures are up to one poll interval (plus a query) late. The load goes on for TAIL_S (3) seconds after
// the measured events, unmeasured, so the last of them see the same steady load as the first (when traffic
// stops, ClickHouse 18.16 ends its read only after about 2 s of silence). Prints p50, p99 and max in ms.
//   node scripts/bench/freshness.mjs worker|gateway TARGET_URL CLICKHOUSE_URL DATABASE RATE SECONDS
//
// With OBSERVE=api it polls the stats API instead of the table (STATS_URL, the gateway's origin, and
// STATS_AUTHORIZATION, an Authorization header value): today's page breakdown without filters, as the
// dashboard's "Today" asks it (whole days: the daily rows where they answer), so an event's figure is
// request sent -> counted in the API.
import { storedEvent } from './bodies.mjs';

const [mode, target, clickhouse, database, rate = '20', seconds = '15'] = process.argv.slice(2);
const observe = process.env.OBSERVE ?? 'clickhouse';
if (!['clickhouse', 'api'].includes(observe)) throw new Error(`OBSERVE must be clickhouse or api, got ${observe}`);
if (!['worker', 'gateway'].includes(mode)) throw new Error(`mode must be worker or gateway, got ${mode}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const total = Math.round(Number(rate) * Number(seconds));
const tail = Math.round(Number(rate) * Number(process.env.TAIL_S ?? 3));
// 16 characters of [A-Za-z0-9], the worker's session id format; unique per run, so the poll sees only ours.
const sid = `F${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`.slice(0, 16).padEnd(16, '0');
// The markers' pathnames: /0/RUN/N, RUN counting down with time, so that in a breakdown ordered by visitors and
// then by value this run's pages (one visitor each) come before every earlier run's and other one-visitor pages.
const runTag = String(1e13 - Date.now()).padStart(13, '0');
const pathOf = (n) => `/0/${runTag}/${n}`;
const markerOf = (path) => Number(path.match(new RegExp(`^/0/${runTag}/(\\d+)$`))?.[1] ?? NaN);
const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

function request(n) {
  if (mode === 'worker') {
    const event = { kind: 'pageview', url: `http://localhost${pathOf(n)}`, referrer: '', title: 'Fresh', screen_width: 1280,
      language: 'en-US', id: `${sid}e${String(n).padStart(8, '0')}` };
    return fetch(`${target}/track`, { method: 'POST', body: JSON.stringify({ site: 'demo', sid, events: [event] }),
      headers: { 'content-type': 'text/plain', origin: 'http://localhost', 'user-agent': userAgent } });
  }
  const t = Math.floor(Date.now() / 1000);
  const value = { ...storedEvent(n, t), event_id: `${sid}-${n}`, session_id: sid, pathname: pathOf(n),
    url: `https://bench.example${pathOf(n)}` };
  return fetch(`${target}/topics/page_visits`, { method: 'POST', body: JSON.stringify({ records: [{ key: sid, value }] }),
    headers: { 'content-type': 'application/vnd.kafka.json.v2+json' } });
}

const sentAt = new Map();
const seenAt = new Map();
let refused = 0;
const sends = [];
const start = now();
const sender = (async () => {
  for (let n = 0; n < total + tail; n++) {
    const due = start + (n * 1000) / Number(rate);
    if (due > now()) await sleep(due - now());
    sentAt.set(n, now());
    sends.push(request(n).then(async (res) => { if (!res.ok) { refused++; console.error(`event ${n}: ${res.status} ${await res.text()}`); } },
      (error) => { refused++; console.error(`event ${n}: ${error.message}`); }));
  }
  await Promise.all(sends);
})();

// The session id is this script's own 16 alphanumerics (ClickHouse 18.16 cannot bind query parameters).
const query = `SELECT pathname FROM ${database}.page_visits WHERE session_id = '${sid}' FORMAT TabSeparated`;
// How long to wait for the last marker after the load (DEADLINE_S, 60 s; longer to measure a lagging design).
const deadline = start + Number(seconds) * 1000 + Number(process.env.DEADLINE_S ?? 60) * 1000;
let sending = true;
sender.then(() => { sending = false; });
const measuredSeen = () => [...seenAt.keys()].filter((n) => n < total).length;
const site = mode === 'worker' ? 'demo' : storedEvent(0).site;
const today = new Date().toISOString().slice(0, 10);
const breakdown = `${process.env.STATS_URL}/api/v1/stats/breakdown?` +
  new URLSearchParams({ site, property: 'page', from: today, to: today, limit: '1000' });
/** The markers' pathnames the observed surface holds now. */
async function observed() {
  if (observe === 'clickhouse') {
    const res = await fetch(`${clickhouse}/`, { method: 'POST', body: query });
    if (!res.ok) throw new Error(`ClickHouse answered ${res.status}: ${await res.text()}`);
    return (await res.text()).split('\n');
  }
  const res = await fetch(breakdown, { headers: { authorization: process.env.STATS_AUTHORIZATION ?? '' } });
  if (!res.ok) throw new Error(`the stats API answered ${res.status}: ${await res.text()}`);
  return (await res.json()).results.filter((row) => row.pageviews > 0).map((row) => row.value);
}
let polls = 0;
while (sending || measuredSeen() < total - refused) {
  if (now() > deadline) break;
  const lines = await observed();
  polls += 1;
  const t = now();
  for (const line of lines) {
    const n = markerOf(line);
    if (Number.isInteger(n) && !seenAt.has(n)) seenAt.set(n, t);
  }
  await sleep(50);
}
await sender;
const times = [...seenAt].filter(([n]) => n < total).map(([n, t]) => t - sentAt.get(n)).sort((a, b) => a - b);
const pct = (p) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]) : NaN);
console.log(`mode=${mode} observe=${observe} polls=${polls} rate=${rate} seconds=${seconds} events=${total} refused=${refused} seen=${measuredSeen()} ` +
  `p50_ms=${pct(50)} p99_ms=${pct(99)} max_ms=${Math.round(times.at(-1) ?? NaN)}`);
if (measuredSeen() < total - refused) process.exitCode = 1;
