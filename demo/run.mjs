// The demo's visitors: serves the demo site, walks headless Chromium through it as visitors from several
// countries, and waits until ClickHouse holds every accepted page view. scripts/demo.sh then prints the
// visits-by-country table.
import { startSiteServer } from './serve.mjs';
import { launchBrowser, visit, pollRows, sqlString } from './browser.mjs';

const env = process.env;
const workerOrigin = `http://127.0.0.1:${env.WORKER_PORT ?? 18787}`;
const clickhouseUrl = `http://127.0.0.1:${env.CLICKHOUSE_HTTP_PORT ?? 18123}`;
const database = env.CLICKHOUSE_DATABASE ?? 'pathlight';

const VISITORS = [
  { country: 'US', paths: ['/', '/menu.html', '/pricing.html'] },
  { country: 'DE', paths: ['/', '/about.html'] },
  { country: 'US', paths: ['/pricing.html'] },
  { country: 'JP', paths: ['/', '/menu.html'] },
  { country: 'BR', paths: ['/'] },
];

const { server, port } = await startSiteServer({ port: Number(env.DEMO_SITE_PORT ?? 18080), workerOrigin });
const siteOrigin = `http://localhost:${port}`;
const browser = await launchBrowser();
try {
  const sids = [];
  let accepted = 0;
  for (const visitor of VISITORS) {
    const result = await visit(browser, { siteOrigin, workerOrigin, ...visitor });
    console.log(`visitor from ${visitor.country}: ${visitor.paths.join(' -> ')} (session ${result.sid})`);
    sids.push(result.sid);
    accepted += result.pageviews;
  }
  const sql = `SELECT count() AS n FROM ${database}.page_visits FINAL
    WHERE kind = 'pageview' AND session_id IN (${sids.map(sqlString).join(',')})`;
  const rows = await pollRows(clickhouseUrl, sql, (r) => Number(r[0]?.n) >= accepted);
  const stored = Number(rows[0]?.n ?? 0);
  console.log(`${accepted} page views accepted by the worker, ${stored} stored in ClickHouse`);
  if (stored !== accepted) process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
