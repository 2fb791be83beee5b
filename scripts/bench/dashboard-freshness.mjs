// Event-to-dashboard freshness under a steady load: opens the dashboard's "Today" view of site `demo` in
// headless Chromium, sends RATE page views a second for SECONDS as /track requests to the worker, and records
// every change of the page views the page shows (a MutationObserver, no reload). Event n counts as shown at
// the first change after which the page shows at least baseline + n + 1 page views: a count, not an identity,
// so the site must receive no other traffic meanwhile. Prints p50, p99 and max in ms, request sent -> drawn.
//   node scripts/bench/dashboard-freshness.mjs WORKER_URL GATEWAY_URL USER PASSWORD RATE SECONDS
import { launchChromium } from '../../tests/support/browser.mjs';

const [worker, gateway, user, password, rate = '10', seconds = '20'] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const total = Math.round(Number(rate) * Number(seconds));
const sid = `D${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`.slice(0, 16).padEnd(16, '0');
const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const shown = (text) => Number(String(text).replace(/[^0-9]/g, ''));

const browser = await launchChromium();
try {
  const context = await browser.newContext({ httpCredentials: { username: user, password } });
  const page = await context.newPage();
  await page.goto(`${gateway}/dashboard?site=demo&period=day`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60_000 });
  const baseline = shown(await page.locator('#stat-pageviews').textContent());
  await page.evaluate(() => {
    window.__changes = [];
    const target = document.getElementById('stat-pageviews');
    new MutationObserver(() => window.__changes.push([Date.now(), target.textContent])).observe(target,
      { childList: true, characterData: true, subtree: true });
  });

  const sentAt = [];
  let refused = 0;
  const sends = [];
  const start = Date.now();
  for (let n = 0; n < total; n++) {
    const due = start + (n * 1000) / Number(rate);
    if (due > Date.now()) await sleep(due - Date.now());
    sentAt.push(Date.now());
    const event = { kind: 'pageview', url: `http://localhost/drawn/${n}`, referrer: '', title: 'Drawn', screen_width: 1280,
      language: 'en-US', id: `${sid}e${String(n).padStart(8, '0')}` };
    sends.push(fetch(`${worker}/track`, { method: 'POST', body: JSON.stringify({ site: 'demo', sid, events: [event] }),
      headers: { 'content-type': 'text/plain', origin: 'http://localhost', 'user-agent': userAgent } })
      .then((res) => { if (!res.ok) refused++; }, () => { refused++; }));
  }
  await Promise.all(sends);
  const want = baseline + total - refused;
  await page.waitForFunction((count) => Number(document.getElementById('stat-pageviews').textContent.replace(/[^0-9]/g, '')) >= count,
    want, { timeout: 60_000 }).catch(() => {});
  const changes = (await page.evaluate(() => window.__changes)).map(([t, text]) => [t, shown(text)]);
  const times = [];
  for (let n = 0; n < total - refused; n++) {
    const seen = changes.find(([, count]) => count >= baseline + n + 1);
    if (seen) times.push(seen[0] - sentAt[n]);
  }
  times.sort((a, b) => a - b);
  const pct = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] : NaN);
  console.log(`rate=${rate} seconds=${seconds} events=${total} refused=${refused} shown=${times.length} redraws=${changes.length} ` +
    `p50_ms=${pct(50)} p99_ms=${pct(99)} max_ms=${times.at(-1) ?? NaN}`);
  if (times.length < total - refused) process.exitCode = 1;
} finally {
  await browser.close();
}
