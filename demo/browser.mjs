// Drives real headless Chromium through the demo site as visitors from chosen countries.
// Shared by the demo (scripts/demo.sh) and the end-to-end test, so both exercise the same path.
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

const toolsDir = process.env.PATHLIGHT_TOOLS ?? join(homedir(), '.cache', 'pathlight-tools');
const { chromium } = createRequire(join(toolsDir, 'node', 'package.json'))('playwright-core');

// Headless Chromium announces itself as "HeadlessChrome", which the worker rightly drops as automation.
// Demo visitors present an ordinary desktop Chrome user agent instead.
export const DESKTOP_CHROME_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

// Header read only by scripts/dev-worker.mjs: it turns it into the request's `cf` object, standing in for
// Cloudflare's geolocation. The worker itself never sees it.
export const DEV_GEO_HEADER = 'x-pathlight-dev-geo';

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ], // playwright gives every launch a fresh, empty profile directory of its own

  });
}

/** A browser context for one visitor whose requests to the worker carry the given country. */
export async function visitorContext(browser, { workerOrigin, country, userAgent = DESKTOP_CHROME_UA }) {
  const context = await browser.newContext({ userAgent });
  await context.route(`${workerOrigin}/track`, (route) =>
    route.continue({ headers: { ...route.request().headers(), [DEV_GEO_HEADER]: country } }));
  return context;
}

/**
 * One visitor: a fresh browser context (so a fresh per-tab session), the given country, and a walk through
 * `paths` on the demo site. Each step resolves only once the worker accepted (202) the request carrying that
 * page's page view, so the caller knows exactly what was sent. Returns the session id read back from the page.
 */
export async function visit(browser, { siteOrigin, workerOrigin, country, paths, userAgent }) {
  const context = await visitorContext(browser, { workerOrigin, country, userAgent });
  const page = await context.newPage();
  try {
    for (const path of paths) {
      const url = `${siteOrigin}${path}`;
      const tracked = page.waitForResponse((r) => r.url() === `${workerOrigin}/track` && carriesPageview(r.request(), url),
        { timeout: 15_000 });
      await page.goto(url);
      const response = await tracked;
      if (response.status() !== 202) {
        throw new Error(`worker answered ${response.status()} for ${url}: ${await response.text()}`);
      }
    }
    const sid = await page.evaluate(() => sessionStorage.getItem('pathlight_sid'));
    return { sid, pageviews: paths.length };
  } finally {
    await context.close();
  }
}

function carriesPageview(request, url) {
  try {
    return request.method() === 'POST' && JSON.parse(request.postData() ?? '{}').events
      .some((e) => e.kind === 'pageview' && e.url === url);
  } catch {
    return false;
  }
}

/** Runs a ClickHouse query over HTTP and returns the parsed JSON rows. */
export async function clickhouseRows(clickhouseUrl, sql) {
  const response = await fetch(`${clickhouseUrl}/?default_format=JSON`, { method: 'POST', body: sql });
  const text = await response.text();
  if (!response.ok) throw new Error(`ClickHouse answered ${response.status}: ${text}`);
  return JSON.parse(text).data;
}

/** Polls until `check(rows)` is true or the deadline passes; returns the last rows either way. */
export async function pollRows(clickhouseUrl, sql, check, { deadlineMs = 60_000, intervalMs = 250 } = {}) {
  const until = Date.now() + deadlineMs;
  let rows = [];
  while (Date.now() < until) {
    rows = await clickhouseRows(clickhouseUrl, sql);
    if (check(rows)) return rows;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return rows;
}

export const sqlString = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
